package decode

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
)

var update = flag.Bool("update", false, "rewrite the golden event files under testdata/decode")

// captureDir holds the captures `go run ./internal/gentestdata/decode`
// records from real SDK conversations.
const captureDir = "../testdata/decode"

// collect returns a decoder whose events are appended to the returned slice.
func collect(t testing.TB, cfg Config) (*Decoder, *[]*event.Event) {
	t.Helper()
	var evs []*event.Event
	if cfg.TokenKey == nil {
		cfg.TokenKey = []byte("test key")
	}
	cfg.Sensor, cfg.Source = "test", "pcap"
	d, err := New(cfg, func(e *event.Event) { evs = append(evs, e) })
	if err != nil {
		t.Fatal(err)
	}
	return d, &evs
}

// decodePcap runs a pcap through capture.Engine and a Decoder, as the
// sensor does.
func decodePcap(t testing.TB, path string, cfg Config) ([]*event.Event, Stats) {
	t.Helper()
	d, evs := collect(t, cfg)
	runPcap(t, path, d, d)
	return *evs, d.Stats()
}

// runPcap plays a pcap through capture.Engine into h, which hands on to d,
// and finishes d at the end of the capture.
func runPcap(t testing.TB, path string, d *Decoder, h capture.Handler) {
	t.Helper()
	src, err := capture.OpenPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	eng, err := capture.NewEngine(capture.Config{Tick: d.Tick}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Run(context.Background(), src); err != nil {
		t.Fatalf("capture %s: %v", path, err)
	}
	eng.Finish()
	d.Finish(time.Time{})
}

// decodeCapture decodes testdata/decode/NAME.pcap and reads what the SDK
// logged of it.
func decodeCapture(t *testing.T, name string) ([]*event.Event, []scenario.LoggedMessage, Stats) {
	t.Helper()
	evs, st := decodePcap(t, filepath.Join(captureDir, name+".pcap"), Config{})
	return evs, readSDKLog(t, filepath.Join(captureDir, name+".sdk.jsonl")), st
}

func readSDKLog(t testing.TB, path string) []scenario.LoggedMessage {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []scenario.LoggedMessage
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var m scenario.LoggedMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, m)
	}
	return out
}

// wireKey is what conformance compares of one message: what the SDK logged
// and what the decoder saw must agree on it, one for one.
func wireKey(dir, method, id, tool string, isErr bool) string {
	return fmt.Sprintf("%s %s id=%s tool=%s error=%v", dir, method, id, tool, isErr)
}

// messageKeys lists the wire keys of the message events, sorted.
func messageKeys(evs []*event.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == event.KindMessage {
			out = append(out, wireKey(e.Direction, e.Method, e.JSONRPCID, e.ToolName, e.MsgType == event.MsgError))
		}
	}
	slices.Sort(out)
	return out
}

// assertMatchesSDK checks that the message events are, one for one, the
// messages the SDK logged.
func assertMatchesSDK(t *testing.T, evs []*event.Event, logged []scenario.LoggedMessage) {
	t.Helper()
	// The SDK may log a response before the request it answers (HTTP+SSE
	// answers on the stream before the POST returns), so responses take
	// their method from the request with their id, wherever it was logged.
	requests := map[string]scenario.LoggedMessage{}
	for _, m := range logged {
		var probe struct {
			Method string `json:"method"`
		}
		if m.ID != "" && json.Unmarshal(m.Raw, &probe) == nil && probe.Method != "" {
			requests[m.Direction+"|"+m.ID] = m
		}
	}
	var want []string
	for _, m := range logged {
		if m.Method == "" && m.ID != "" {
			req := requests[oppositeDir(m.Direction)+"|"+m.ID]
			m.Method, m.ToolName = req.Method, req.ToolName
		}
		want = append(want, wireKey(m.Direction, m.Method, m.ID, m.ToolName, m.IsError))
	}
	slices.Sort(want)
	if got := messageKeys(evs); !slices.Equal(got, want) {
		t.Errorf("message events differ from the SDK log\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

func byKind(evs []*event.Event, k event.Kind) []*event.Event {
	var out []*event.Event
	for _, e := range evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// assertGolden compares the events, one JSON line each, with
// testdata/decode/NAME.events.golden (rewritten with -update).
func assertGolden(t *testing.T, name string, evs []*event.Event) {
	t.Helper()
	// capture ends the connections still open at the end of input in no
	// particular order; what must not change is the set of events.
	evs = slices.Clone(evs)
	slices.SortStableFunc(evs, func(a, b *event.Event) int {
		return cmp.Or(a.TS.Compare(b.TS), cmp.Compare(a.EventID, b.EventID))
	})
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range evs {
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(captureDir, name+".events.golden")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./decode -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		got, wantLines := strings.Split(buf.String(), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(got), len(wantLines)) {
			g, w := line(got, i), line(wantLines, i)
			if g != w {
				t.Fatalf("%s: event %d differs from the golden file\n got: %s\nwant: %s", name, i, g, w)
			}
		}
	}
}

func line(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "<none>"
}
