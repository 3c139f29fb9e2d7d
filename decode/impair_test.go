package decode

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/impair"
)

// impairSeeds is how many variants of each capture and mix the property
// test replays. CI runs a few; a long run passes -impair.seeds 1000.
var impairSeeds = flag.Int("impair.seeds", 3, "variants per capture and impairment mix in TestImpairedCaptures")

// impairMixes are the impairments of the property test, by name.
var impairMixes = []struct {
	name string
	mix  impair.Mix
}{
	{"reorder", impair.Reorder},
	{"duplicates", impair.Duplicates},
	{"resegment", impair.Resegment},
	{"field", impair.Field},
	{"lossy", impair.Lossy},
}

// TestImpairedCaptures replays every checked-in capture as span ports and
// lossy taps deliver it. Variants that only reorder, duplicate or
// resegment packets of a capture without loss must give exactly the
// message events of the original (same event_ids, same content but time).
// Where the capture itself lost bytes (its clean replay has gaps), what
// can be recovered around the hole may depend on what arrived first, so
// those variants, and the lossy ones, must only not crash, keep event ids
// unique and the decoder within its caps.
func TestImpairedCaptures(t *testing.T) {
	paths, err := impair.Captures("../testdata/decode", "../testdata/capture", "../testdata")
	if err != nil {
		t.Fatal(err)
	}
	failures := map[string]int{}
	byCapture := map[string]int{}
	variants := 0
	for _, path := range paths {
		pkts, err := impair.ReadFile(path)
		if err != nil && len(pkts) == 0 {
			t.Fatal(err)
		}
		name := filepath.Base(path)
		want, _, gaps, perr := decodeVariant(pkts)
		if perr != "" {
			t.Fatalf("%s: clean replay: %s", name, perr)
		}
		if dup := duplicateID(want); dup != "" {
			t.Errorf("%s: event id %s given to two messages", name, dup)
		}
		for _, m := range impairMixes {
			for seed := range uint64(*impairSeeds) {
				variants++
				got, st, _, perr := decodeVariant(impair.Apply(pkts, m.mix, seed))
				var problem string
				switch {
				case perr != "":
					problem = perr
				case duplicateID(got) != "":
					problem = "event id given to two messages: " + duplicateID(got)
				case st.SessionsOpen > int64(DefaultMaxSessions):
					problem = fmt.Sprintf("%d sessions open, cap %d", st.SessionsOpen, DefaultMaxSessions)
				case m.mix.Lossless() && gaps == 0:
					problem = diffMessages(want, got)
				}
				if problem != "" {
					failures[m.name]++
					byCapture[name+" "+m.name]++
					if failures[m.name] <= 3 {
						t.Errorf("%s, %s variant seed %d: %s", name, m.name, seed, problem)
					}
				}
			}
		}
	}
	t.Logf("%d captures, %d variants, failures by mix: %v, by capture: %v", len(paths), variants, failures, byCapture)
}

// decodeVariant runs packets through capture and decode as the sensor
// does and returns the message events and the bytes capture lost to gaps;
// a panic is returned as text.
func decodeVariant(pkts []capture.Packet) (msgs []*event.Event, st Stats, gaps uint64, panicked string) {
	defer func() {
		if v := recover(); v != nil {
			panicked = fmt.Sprintf("panic: %v\n%s", v, panicFrames(debug.Stack()))
		}
	}()
	var evs []*event.Event
	d, err := New(Config{TokenKey: []byte("test key"), Sensor: "test", Source: "pcap"}, func(e *event.Event) {
		if e.Kind == event.KindMessage {
			evs = append(evs, e)
		}
	})
	if err != nil {
		return nil, st, 0, err.Error()
	}
	eng, err := capture.NewEngine(capture.Config{Tick: d.Tick}, d)
	if err != nil {
		return nil, st, 0, err.Error()
	}
	if err := eng.Run(context.Background(), impair.NewSource(pkts)); err != nil {
		return nil, st, 0, err.Error()
	}
	eng.Finish()
	d.Finish(time.Time{})
	return evs, d.Stats(), eng.Stats().GapBytes, ""
}

// messageFacts is what must not change of a message event when its
// packets were reordered: everything but time.
func messageFacts(e *event.Event) string {
	return fmt.Sprintf("%s %s %s %s id=%s tool=%s status=%d session=%s server=%s (%s %s) client=%s trunc=%v",
		e.EventID, e.Direction, e.MsgType, e.Method, e.JSONRPCID, e.ToolName, e.HTTPStatus, e.SessionID, e.ServerKey, e.ServerName, e.ProtocolVersion, e.ClientName, e.Truncated)
}

// diffMessages describes how got's message events differ from want's, or
// returns "".
func diffMessages(want, got []*event.Event) string {
	w, g := factSet(want), factSet(got)
	var missing, extra []string
	for _, f := range w {
		if _, ok := slices.BinarySearch(g, f); !ok {
			missing = append(missing, f)
		}
	}
	for _, f := range g {
		if _, ok := slices.BinarySearch(w, f); !ok {
			extra = append(extra, f)
		}
	}
	if len(missing)+len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d message events differ\n  missing: %s\n  extra:   %s",
		len(missing)+len(extra), len(want), firstFew(missing), firstFew(extra))
}

func factSet(evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = messageFacts(e)
	}
	slices.Sort(out)
	return out
}

func firstFew(s []string) string {
	if len(s) > 3 {
		s = append(s[:3:3], fmt.Sprintf("… %d more", len(s)-3))
	}
	return strings.Join(s, "\n           ")
}

// panicFrames keeps the frames of a panic's stack that show where it
// happened: the first few after the runtime's own.
func panicFrames(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") && i+9 < len(lines) {
			return strings.Join(lines[i+2:i+10], "\n")
		}
	}
	return string(stack)
}

// duplicateID returns an event id that two events share, or "".
func duplicateID(evs []*event.Event) string {
	seen := make(map[string]bool, len(evs))
	for _, e := range evs {
		if seen[e.EventID] {
			return e.EventID
		}
		seen[e.EventID] = true
	}
	return ""
}
