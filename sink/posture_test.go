package sink

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/posture"
)

// goldenEvents reads the events decoded from real SDK captures
// (testdata/decode/*.events.golden).
func goldenEvents(t *testing.T, names ...string) []*event.Event {
	t.Helper()
	var out []*event.Event
	for _, name := range names {
		f, err := os.Open(filepath.Join("../testdata/decode", name+".events.golden"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			if !strings.HasPrefix(sc.Text(), "{") {
				continue
			}
			ev, err := event.DecodeEvent(sc.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
		}
		f.Close()
	}
	return out
}

func assessAll(feed func(observe func(*event.Event))) []posture.Scorecard {
	a := posture.NewAssessor(posture.Config{MaxEvidence: 2})
	feed(a.Observe)
	return a.Scorecards()
}

// TestPostureFromClickHouse: the scorecards of events read from a file
// equal those of the same events stored in ClickHouse and read back by
// PostureEvents (grouped by shape), and the saved scorecards read back
// equal them. The events are what real SDK captures decode to: an OAuth
// flow, the legacy transport, a paginated manifest, mcp-go's client,
// server-to-client requests.
func TestPostureFromClickHouse(t *testing.T) {
	c := openTestClickHouse(t)
	ctx := context.Background()
	// Captures whose event ids are distinct (the goldens of one server
	// recorded at several revisions share ids).
	evs := goldenEvents(t, "gosdk-auth", "gosdk-legacy-sse", "gosdk-manifest-paged", "mcpgo-client", "gosdk-server-requests")
	seen := map[string]bool{}
	for _, ev := range evs {
		if seen[ev.EventID] {
			t.Fatalf("event_id %s twice in the input", ev.EventID)
		}
		seen[ev.EventID] = true
	}
	if err := c.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	// Twice, as a redelivery would: posture counts no event twice.
	if err := c.WriteEvents(ctx, evs[:len(evs)/2]); err != nil {
		t.Fatal(err)
	}
	want := assessAll(func(observe func(*event.Event)) {
		for _, ev := range evs {
			observe(ev)
		}
	})
	got := assessAll(func(observe func(*event.Event)) {
		if err := c.PostureEvents(ctx, 2, observe); err != nil {
			t.Fatal(err)
		}
	})
	if len(want) < 4 {
		t.Fatalf("%d scorecards from the captures, want one per server", len(want))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("from ClickHouse:\n%+v\nfrom the events:\n%+v", got, want)
	}

	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	if err := c.SavePosture(ctx, at.Add(-time.Hour), want[:1]); err != nil {
		t.Fatal(err)
	}
	if err := c.SavePosture(ctx, at, want); err != nil {
		t.Fatal(err)
	}
	stored, err := c.Posture(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		// DateTime keeps seconds.
		want[i].FirstSeen, want[i].LastSeen = want[i].FirstSeen.Truncate(time.Second), want[i].LastSeen.Truncate(time.Second)
	}
	if !reflect.DeepEqual(stored, want) {
		t.Errorf("stored:\n%+v\nwant:\n%+v", stored, want)
	}
	one, err := c.Posture(ctx, want[0].ServerKey)
	if err != nil || len(one) != 1 || one[0].ServerKey != want[0].ServerKey {
		t.Errorf("Posture(%s) = %v, %v", want[0].ServerKey, one, err)
	}
}
