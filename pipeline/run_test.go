package pipeline

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// demoCapture records the demo conversations of the real Go SDK into a
// fresh pcap and returns its path and what the SDK logged.
func demoCapture(t *testing.T) (string, []scenario.LoggedMessage) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := scenario.Run(ctx, scenario.Demo)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "demo.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Recorder.WriteTo(f, tcprec.Pcap); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var logged []scenario.LoggedMessage
	for _, l := range res.Logs {
		msgs, err := l.Messages()
		if err != nil {
			t.Fatal(err)
		}
		logged = append(logged, msgs...)
	}
	return path, logged
}

func writeAllowlist(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "allow.yaml")
	if err := os.WriteFile(path, []byte("servers:\n  - http://files.corp.example:8080/mcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// testConfig is a run of pcap with JSONL outputs in a temp dir.
func testConfig(t *testing.T, pcap string) Config {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Sensor = "test-sensor"
	cfg.Pcaps = []string{pcap}
	cfg.AllowlistPath = writeAllowlist(t)
	cfg.EventsOut = filepath.Join(dir, "events.jsonl")
	cfg.AlertsOut = filepath.Join(dir, "alerts.jsonl")
	cfg.TokenKeyFile = filepath.Join(dir, "token.key")
	cfg.DeadLetterDir = filepath.Join(dir, "dead-letters")
	return cfg
}

func readEvents(t *testing.T, path string) []*event.Event {
	t.Helper()
	var out []*event.Event
	readLines(t, path, func(line []byte) error {
		ev, err := event.DecodeEvent(line)
		out = append(out, ev)
		return err
	})
	return out
}

func readAlerts(t *testing.T, path string) []*event.Alert {
	t.Helper()
	var out []*event.Alert
	readLines(t, path, func(line []byte) error {
		a, err := event.DecodeAlert(line)
		out = append(out, a)
		return err
	})
	return out
}

func readLines(t *testing.T, path string, parse func([]byte) error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if err := parse(sc.Bytes()); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// messageKey is what must agree between the SDK's log and a message event.
func messageKey(dir, method, id, tool string, isError bool) string {
	return fmt.Sprintf("%s %s id=%s tool=%s error=%v", dir, method, id, tool, isError)
}

func TestRunMatchesSDKLogOneForOne(t *testing.T) {
	pcap, logged := demoCapture(t)
	cfg := testConfig(t, pcap)
	summary, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, m := range logged {
		want = append(want, messageKey(m.Direction, m.Method, m.ID, m.ToolName, m.IsError))
	}
	for _, ev := range readEvents(t, cfg.EventsOut) {
		if ev.Kind == event.KindMessage {
			got = append(got, messageKey(ev.Direction, ev.Method, ev.JSONRPCID, ev.ToolName, ev.MsgType == event.MsgError))
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Errorf("message events differ from the SDK log\nSDK log:\n%s\nevents:\n%s", lines(want), lines(got))
	}

	alerts := readAlerts(t, cfg.AlertsOut)
	var unexpected []string
	for _, a := range alerts {
		if a.Category == "unexpected_server" {
			unexpected = append(unexpected, a.ServerKey)
		}
	}
	if !slices.Equal(unexpected, []string{"http://10.0.0.9:3000/mcp"}) {
		t.Errorf("unexpected-server alerts for %v, want exactly the shadow-db server", unexpected)
	}
	if len(summary.Servers) != 2 || summary.Sessions != 2 {
		t.Errorf("summary: %d servers, %d sessions; want 2 and 2: %+v", len(summary.Servers), summary.Sessions, summary)
	}
	for _, s := range summary.Servers {
		if s.Name == "" || len(s.ProtocolVersions) != 1 {
			t.Errorf("server %s: name %q, protocol versions %v", s.ServerKey, s.Name, s.ProtocolVersions)
		}
	}
}

func lines(ss []string) string {
	var out string
	for _, s := range ss {
		out += "  " + s + "\n"
	}
	return out
}

// TestRunIsDeterministic replays the demo twice, with one capture shard and
// with two.
func TestRunIsDeterministic(t *testing.T) {
	pcap, _ := demoCapture(t)
	ids := func(shards int) (evs, alerts []string) {
		cfg := testConfig(t, pcap)
		cfg.CaptureShards = shards
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		for _, ev := range readEvents(t, cfg.EventsOut) {
			evs = append(evs, ev.EventID)
		}
		for _, a := range readAlerts(t, cfg.AlertsOut) {
			alerts = append(alerts, a.AlertID)
		}
		slices.Sort(evs)
		slices.Sort(alerts)
		return evs, alerts
	}
	for _, shards := range []int{1, 2} {
		evs1, alerts1 := ids(shards)
		evs2, alerts2 := ids(shards)
		if len(evs1) == 0 || !slices.Equal(evs1, evs2) {
			t.Errorf("%d shards: event ids differ between two runs of the same pcap (%d vs %d)", shards, len(evs1), len(evs2))
		}
		if len(alerts1) == 0 || !slices.Equal(alerts1, alerts2) {
			t.Errorf("%d shards: alert ids differ between two runs of the same pcap (%v vs %v)", shards, alerts1, alerts2)
		}
	}
}
