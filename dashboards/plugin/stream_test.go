package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/testenv"
)

// instance is a datasource made the way Grafana makes it: from the
// settings JSON a provisioning file or the config editor saved.
func instance(t *testing.T, jsonData string) *Datasource {
	t.Helper()
	inst, err := NewInstance(context.Background(), backend.DataSourceInstanceSettings{
		Name: "mcpwatch", JSONData: json.RawMessage(jsonData), DecryptedSecureJSONData: map[string]string{"password": ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	ds := inst.(*Datasource)
	t.Cleanup(ds.Dispose)
	return ds
}

func TestSubscribeStream(t *testing.T) {
	live := instance(t, `{"addr": "127.0.0.1:9000", "natsUrl": "nats://127.0.0.1:4222"}`)
	dark := instance(t, `{"addr": "127.0.0.1:9000"}`)
	cases := []struct {
		ds   *Datasource
		path string
		want backend.SubscribeStreamStatus
	}{
		{live, "alerts", backend.SubscribeStreamStatusOK},
		{live, "alerts/high,critical", backend.SubscribeStreamStatusOK},
		{live, "alerts/urgent", backend.SubscribeStreamStatusNotFound},
		{live, "alerts/", backend.SubscribeStreamStatusNotFound},
		{live, "events", backend.SubscribeStreamStatusNotFound},
		{dark, "alerts", backend.SubscribeStreamStatusPermissionDenied},
	}
	for _, c := range cases {
		res, err := c.ds.SubscribeStream(context.Background(), &backend.SubscribeStreamRequest{Path: c.path})
		if err != nil || res.Status != c.want {
			t.Errorf("SubscribeStream(%q, nats %q) = %v, %v; want %v", c.path, c.ds.settings.NATSURL, res.Status, err, c.want)
		}
	}
	res, err := live.PublishStream(context.Background(), &backend.PublishStreamRequest{Path: "alerts"})
	if err != nil || res.Status != backend.PublishStreamStatusPermissionDenied {
		t.Errorf("PublishStream = %v, %v; want permission denied", res.Status, err)
	}
}

// frames is a StreamPacketSender that hands each frame Grafana would get
// to the test.
type frames chan *data.Frame

func (f frames) Send(p *backend.StreamPacket) error {
	var frame data.Frame
	if err := json.Unmarshal(p.Data, &frame); err != nil {
		return err
	}
	f <- &frame
	return nil
}

// TestRunStream publishes alerts to a real NATS through the bus, as detect
// does, and watches the channel of high and critical alerts: the frames
// carry the alerts of those severities in order, and the low alert
// published between them never arrives.
func TestRunStream(t *testing.T) {
	url := testenv.NATSURL(t)
	ds := instance(t, fmt.Sprintf(`{"addr": "127.0.0.1:9000", "natsUrl": %q}`, url))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := bus.Connect(ctx, bus.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	run := fmt.Sprintf("stream-%d", time.Now().UnixNano())
	publish := func(id, severity string) error {
		a := &event.Alert{Schema: event.SchemaVersion, AlertID: run + "-" + id, TS: time.Now().UTC(), RuleID: "unexpected-server",
			RuleName: "Unexpected MCP server", Severity: severity, Category: "unexpected_server",
			Summary: "MCP server not on the allowlist", ServerKey: "http://10.0.0.9:3000/mcp", ClientAddress: "10.0.1.11"}
		if err := b.PublishAlert(ctx, a); err != nil {
			return err
		}
		return b.Flush(ctx)
	}

	got := make(frames, 64)
	done := make(chan error, 1)
	go func() {
		done <- ds.RunStream(ctx, &backend.RunStreamRequest{Path: "alerts/high,critical"}, backend.NewStreamSender(got))
	}()
	// The stream delivers alerts published after it started: publish
	// probes until one arrives, then the alerts under test.
	next := func() (id, severity string) {
		t.Helper()
		for {
			select {
			case f := <-got:
				id, _ := f.Fields[8].At(0).(string)
				sev, _ := f.Fields[1].At(0).(string)
				if !strings.HasPrefix(id, run+"-") {
					continue // another test's alert on the shared server
				}
				return strings.TrimPrefix(id, run+"-"), sev
			case err := <-done:
				t.Fatalf("RunStream ended: %v", err)
			case <-ctx.Done():
				t.Fatal("no frame")
			}
		}
	}
	ready := make(chan struct{})
	go func() {
		for probe := 1; ; probe++ {
			select {
			case <-ready:
				return
			case <-time.After(100 * time.Millisecond):
				if err := publish(fmt.Sprintf("probe-%d", probe), "high"); err != nil {
					t.Errorf("publish probe: %v", err)
					return
				}
			}
		}
	}()
	id, sev := next()
	close(ready)
	if !strings.HasPrefix(id, "probe-") || sev != "high" {
		t.Fatalf("first frame %s %s, want a high probe", id, sev)
	}
	for _, sev := range []string{"low", "critical"} {
		if err := publish(sev, sev); err != nil {
			t.Fatal(err)
		}
	}
	for {
		id, sev := next()
		if strings.HasPrefix(id, "probe-") {
			continue
		}
		if id != "critical" || sev != "critical" {
			t.Fatalf("frame %s %s, want the critical alert (the low one filtered out)", id, sev)
		}
		break
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunStream after cancel: %v", err)
	}
}
