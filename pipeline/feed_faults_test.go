package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/sink/alertfeed"
)

// deadLetterIDs reads the alert ids of a dead-letter file.
func deadLetterIDs(t *testing.T, path string) (ids []string, reasons map[string]int) {
	t.Helper()
	reasons = map[string]int{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, reasons
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d alertfeed.DeadLetter
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.Alert.AlertID)
		reasons[d.Reason]++
	}
	return ids, reasons
}

// TestRunWithFailingWebhook runs the demo capture against a real webhook
// receiver that answers 500, answers 400, or hangs. The run ends within
// its feed wait (plus the give-up), every alert is in the JSONL output and
// either delivered or dead-lettered — none lost — and the summary says
// how many were not delivered.
func TestRunWithFailingWebhook(t *testing.T) {
	pcap, _ := demoCapture(t)
	const feedWait = 2 * time.Second
	for _, tc := range []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
		reason  string
		// retried: more requests than alerts
		retried bool
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusInternalServerError) }, "undelivered", true},
		{"400", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad", http.StatusBadRequest) }, "permanent", false},
		// Reads the body, so that the server notices the client hanging up.
		{"hang", func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body); <-r.Context().Done() }, "undelivered", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				tc.handler(w, r)
			}))
			defer srv.Close()
			cfg := testConfig(t, pcap)
			cfg.Webhook = alertfeed.WebhookConfig{URL: srv.URL, Secret: "k", Timeout: time.Minute}
			cfg.FeedWait = feedWait
			start := time.Now()
			sum, err := Run(context.Background(), cfg)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, a := range readAlerts(t, cfg.AlertsOut) {
				want = append(want, a.AlertID)
			}
			dead, reasons := deadLetterIDs(t, filepath.Join(cfg.DeadLetterDir, "alerts-webhook.jsonl"))
			slices.Sort(want)
			slices.Sort(dead)
			if len(want) == 0 || !slices.Equal(dead, want) || reasons[tc.reason] != len(want) {
				t.Errorf("dead letters %v (%v), JSONL has %v", dead, reasons, want)
			}
			if len(sum.Feeds) != 1 {
				t.Fatalf("feeds %+v", sum.Feeds)
			}
			f := sum.Feeds[0]
			if f.Delivered != 0 || f.DeadLettered != int64(len(want)) || f.Lost != 0 || sum.FeedUndelivered() != int64(len(want)) {
				t.Errorf("feed summary %+v", f)
			}
			if n := requests.Load(); tc.retried != (n > int64(len(want))) || n == 0 {
				t.Errorf("%d requests for %d alerts, retried: want %v", n, len(want), tc.retried)
			}
			// Bounded: the feed wait, then at most the give-up drain.
			limit := 5 * time.Second
			if tc.reason == "undelivered" {
				limit = feedWait + feedGiveUpWait
			}
			if took > limit {
				t.Errorf("run took %s, want at most %s", took, limit)
			}
			t.Logf("FIGURES webhook=%s alerts=%d delivered=%d dead_lettered=%d lost=%d requests=%d run=%s",
				tc.name, len(want), f.Delivered, f.DeadLettered, f.Lost, requests.Load(), took.Round(10*time.Millisecond))
		})
	}
}

// TestRunReportsRuleErrors runs the demo capture with a rule that fails on
// every event: the summary lists it as failing with its error, and the
// other rules' alerts are all there.
func TestRunReportsRuleErrors(t *testing.T) {
	pcap, _ := demoCapture(t)
	dir := t.TempDir()
	rule := `rules:
  - id: first-audience
    name: First audience
    description: Indexes token_aud, which most events lack.
    severity: low
    category: test
    type: match
    condition: token_aud[0] == "api"
  - id: any-tool-call
    name: Any tool call
    description: Every tools/call request.
    severity: low
    category: test
    type: match
    condition: kind == "message" && method == "tools/call" && msg_type == "request"
`
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, pcap)
	cfg.RulesDir = dir
	cfg.Detect.FailAfter = 5
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.RuleErrors) != 1 {
		t.Fatalf("rule errors %+v", sum.RuleErrors)
	}
	r := sum.RuleErrors[0]
	if r.RuleID != "first-audience" || !r.Failing || r.Errors == 0 || r.Errors != r.Evaluations || r.LastError == "" {
		t.Errorf("rule errors %+v", r)
	}
	if sum.AlertsByRule["any-tool-call"] == 0 {
		t.Errorf("alerts %v: the healthy rule's are missing", sum.AlertsByRule)
	}
	var out strings.Builder
	sum.Print(&out)
	if !strings.Contains(out.String(), "first-audience") || !strings.Contains(out.String(), "FAILING") {
		t.Errorf("summary does not list the failing rule:\n%s", out.String())
	}
}
