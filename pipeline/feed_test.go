package pipeline

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/sink/alertfeed"
)

// TestRunFeedsAlertsToWebhookAndSyslog checks that every alert of a run
// reaches a real HTTP receiver (verifying the signature) and a real UDP
// syslog listener, the same alerts as the JSONL output.
func TestRunFeedsAlertsToWebhookAndSyslog(t *testing.T) {
	const secret = "s3cret"
	var mu sync.Mutex
	var hooked []string
	badSignatures := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if alertfeed.VerifyHTTP(secret, r, body, time.Now(), 0) != nil {
			badSignatures++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var a event.Alert
		if err := json.Unmarshal(body, &a); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		hooked = append(hooked, a.AlertID)
	}))
	defer hook.Close()

	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	var logged []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, _, err := udp.ReadFrom(buf)
			if err != nil {
				return
			}
			line := string(buf[:n])
			// RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG
			if !strings.HasPrefix(line, "<") || !strings.Contains(line, ">1 ") {
				t.Errorf("not RFC 5424: %q", line)
				continue
			}
			var a event.Alert
			if err := json.Unmarshal([]byte(line[strings.Index(line, "{"):]), &a); err != nil {
				t.Errorf("syslog message body: %v", err)
				continue
			}
			mu.Lock()
			logged = append(logged, a.AlertID)
			mu.Unlock()
		}
	}()

	pcap, _ := demoCapture(t)
	cfg := testConfig(t, pcap)
	cfg.Webhook = alertfeed.WebhookConfig{URL: hook.URL, Secret: secret}
	cfg.Syslog = alertfeed.SyslogConfig{Network: "udp", Addr: udp.LocalAddr().String()}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, a := range readAlerts(t, cfg.AlertsOut) {
		want = append(want, a.AlertID)
	}
	udp.Close()
	<-done
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(want)
	slices.Sort(hooked)
	slices.Sort(logged)
	if len(want) == 0 || !slices.Equal(hooked, want) || badSignatures > 0 {
		t.Errorf("webhook got %v (%d bad signatures), JSONL has %v", hooked, badSignatures, want)
	}
	// UDP on loopback does not drop a handful of datagrams.
	if !slices.Equal(logged, want) {
		t.Errorf("syslog got %v, JSONL has %v", logged, want)
	}
}
