package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// The HAR of a real go-sdk conversation, read by tap, finds what the
// packet path finds in the capture of the same conversation.
func TestTapHARMatchesPacketPath(t *testing.T) {
	logtap := func(name string) string { return filepath.Join("..", "..", "testdata", "logtap", name) }
	fromPcap := mcpwatch(t, nil, "run", "--pcap", logtap("demo.pcap"), "--alerts-out", "")
	fromHAR := mcpwatch(t, nil, "tap", "--format", "har", logtap("demo.har"), "--alerts-out", "")
	viaRun := mcpwatch(t, nil, "run", "--tap", "har:"+logtap("demo.har"), "--alerts-out", "")
	for _, r := range []result{fromPcap, fromHAR, viaRun} {
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
	}
	// HAR has no client addresses: the clients column is left out.
	clients := regexp.MustCompile(`clients \d+`)
	servers := func(summary string) string {
		_, after, _ := strings.Cut(summary, "MCP servers")
		return clients.ReplaceAllString(after, "")
	}
	if servers(fromHAR.stderr) != servers(fromPcap.stderr) || servers(viaRun.stderr) != servers(fromPcap.stderr) {
		t.Errorf("servers and alerts differ:\npcap:%s\nhar:%s\nrun --tap:%s", servers(fromPcap.stderr), servers(fromHAR.stderr), servers(viaRun.stderr))
	}
	if !strings.Contains(fromHAR.stderr, "log records:") || !strings.Contains(fromHAR.stderr, "files 1.4.0") {
		t.Errorf("tap summary lacks log records or the server:\n%s", fromHAR.stderr)
	}
}

// Envoy's default tap output — no headers_received_time, no
// downstream_connection — is read to the end: every event has a time (the
// file's modification time), the summary says what was filled in, exit 0.
// (Before, the first event stopped the run: "publish event: … missing ts".)
func TestTapEnvoyDefaultOutput(t *testing.T) {
	src := filepath.Join("..", "..", "testdata", "logtap", "demo.envoy-default.json")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "taps.json")
	os.WriteFile(p, data, 0o644)
	mtime := time.Date(2026, 7, 28, 9, 30, 0, 0, time.UTC)
	os.Chtimes(p, mtime, mtime)
	r := mcpwatch(t, nil, "tap", "--format", "envoy-tap", p, "--events-out", "-", "--alerts-out", "")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	evs := decodeEvents(t, r.stdout)
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	for _, e := range evs {
		if !e.TS.Equal(mtime) {
			t.Fatalf("%s event at %s, want the file's modification time %s", e.Kind, e.TS, mtime)
		}
	}
	for _, want := range []string{"files 1.4.0", "shadow-db 0.3.1", "log fields filled in: time from the file's modification time 16, server from the authority 8"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stderr)
		}
	}
}

// One corrupt record in the middle of a log read to its end: the records
// before and after it are delivered, the summary names it with file:line,
// and the exit status is 3 (documented in tap --help and logtap/doc.go).
func TestTapCorruptRecordExit3(t *testing.T) {
	src := filepath.Join("..", "..", "testdata", "logtap", "demo.envoy-default.json")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// Records start at column 0: tear the ninth (the first of shadow-db's
	// conversation) in half, as a writer killed mid-record leaves it.
	starts := regexp.MustCompile(`(?m)^\{`).FindAllIndex(data, -1)
	if len(starts) != 16 {
		t.Fatalf("%d records in the sample, want 16", len(starts))
	}
	ninth, tenth := starts[8][0], starts[9][0]
	torn := append(append(append([]byte{}, data[:ninth]...), data[ninth:ninth+(tenth-ninth)/2]...), '\n')
	torn = append(torn, data[tenth:]...)
	line := 1 + strings.Count(string(data[:ninth]), "\n")
	p := filepath.Join(t.TempDir(), "taps.json")
	os.WriteFile(p, torn, 0o644)

	r := mcpwatch(t, nil, "tap", "--format", "envoy-tap", p, "--events-out", "-", "--alerts-out", "")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3:\n%s", r.code, r.stderr)
	}
	servers := map[string]int{}
	for _, e := range decodeEvents(t, r.stdout) {
		if e.Kind == event.KindMessage {
			servers[e.ServerKey]++
		}
	}
	// Before the torn record: all of files' conversation; after it:
	// shadow-db's from its second exchange on.
	if servers["http://files.corp.example:8080/mcp"] == 0 || servers["http://10.0.0.9:3000/mcp"] == 0 {
		t.Errorf("message events per server %v: want both sides of the bad record", servers)
	}
	for _, want := range []string{"log records: 16  skipped as bad: 1", fmt.Sprintf("taps.json:%d:", line), "1 log records skipped as bad"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

func decodeEvents(t *testing.T, out string) []*event.Event {
	t.Helper()
	var evs []*event.Event
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		e, err := event.DecodeEvent([]byte(line))
		if err != nil {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		evs = append(evs, e)
	}
	return evs
}
