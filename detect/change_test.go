package detect

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

func manifest(n int, at time.Duration, client, hash string) *event.Event {
	ev := authFailure(n, at, client, "")
	ev.Kind, ev.HTTPStatus, ev.Method, ev.MsgType = event.KindManifest, 200, "tools/list", event.MsgResponse
	ev.ManifestHash = hash
	return ev
}

const manifestChangeRule = `
  - id: manifest-changed
    name: Manifest changed
    description: The tool set changed.
    severity: medium
    category: tool_redefinition
    type: change
    condition: kind == "manifest"
    group_by: [server_key]
    value: manifest_hash
`

func TestChangePerKey(t *testing.T) {
	e := newTestEngine(t, Config{}, nil, manifestChangeRule)
	alerts := processAll(e,
		manifest(1, 0, "10.0.0.7", "aaa"),
		manifest(2, time.Minute, "10.0.0.8", "aaa"),
		manifest(3, 2*time.Minute, "10.0.0.7", "bbb"),
		manifest(4, 3*time.Minute, "10.0.0.7", "bbb"),
	)
	if len(alerts) != 1 {
		t.Fatalf("got %d alerts, want 1", len(alerts))
	}
	a := alerts[0]
	if a.Attributes["previous"] != "aaa" || a.Attributes["current"] != "bbb" || len(a.EvidenceEventIDs) != 2 || a.EvidenceEventIDs[0] != "ev-2" {
		t.Errorf("alert = %+v", a)
	}
}

func TestChangeAcross(t *testing.T) {
	e := newTestEngine(t, Config{}, nil, manifestChangeRule+"    across: client_address\n    window: 10m\n")
	// A client that sees a new manifest is not a switch; a manifest older
	// than the window is not compared; two clients at once are.
	alerts := processAll(e,
		manifest(1, 0, "10.0.0.7", "aaa"),
		manifest(2, time.Minute, "10.0.0.7", "bbb"),
		manifest(3, 20*time.Minute, "10.0.0.8", "ccc"),
		manifest(4, 21*time.Minute, "10.0.0.9", "ddd"),
	)
	if len(alerts) != 1 {
		t.Fatalf("got %d alerts, want 1: %+v", len(alerts), alerts)
	}
	a := alerts[0]
	if a.ClientAddress != "10.0.0.9" || a.Attributes["other_client_address"] != "10.0.0.8" || a.Attributes["previous"] != "ccc" || a.Attributes["current"] != "ddd" {
		t.Errorf("alert = %+v", a)
	}
}

// TestChangeRedelivery replays manifests, as JetStream does after a
// consumer restart: the replay is not a change back and forth.
func TestChangeRedelivery(t *testing.T) {
	for _, rule := range []string{manifestChangeRule, manifestChangeRule + "    across: client_address\n    window: 10m\n"} {
		e := newTestEngine(t, Config{}, nil, rule)
		first, second := manifest(1, 0, "10.0.0.7", "aaa"), manifest(2, time.Minute, "10.0.0.8", "bbb")
		if alerts := processAll(e, first, second); len(alerts) != 1 {
			t.Fatalf("got %d alerts, want 1", len(alerts))
		}
		if alerts := processAll(e, first, second); len(alerts) != 0 {
			t.Errorf("replay raised %d alerts: %+v", len(alerts), alerts[0])
		}
	}
}

// An across rule skips its pass over every client when no value differs
// and none can have expired; random sequences (clients coming back, late
// and tied events, gaps past the window, a full group) must alert exactly
// as the pass over every client on every event did.
func TestChangeAcrossMatchesFullPass(t *testing.T) {
	const window = 10 * time.Minute
	clients := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"}
	hashes := []string{"aaa", "bbb", "ccc"}
	rng := rand.New(rand.NewPCG(8, 2026))
	for round := range 200 {
		cfg := Config{MaxEventsPerGroup: 4}
		e := newTestEngine(t, cfg, nil, manifestChangeRule+"    across: client_address\n    window: 10m\n")
		type entry struct {
			hash string
			ts   time.Duration
		}
		entries := map[string]entry{}
		var want, got []string
		at := time.Duration(0)
		for n := range 60 {
			switch rng.IntN(10) {
			case 0: // a gap past the window
				at += window + time.Duration(rng.IntN(5))*time.Minute
			case 1: // a late or tied event
				at -= time.Duration(rng.IntN(3)) * time.Minute
			default:
				at += time.Duration(rng.IntN(4)) * time.Minute
			}
			who := clients[rng.IntN(len(clients))]
			hash := hashes[0]
			if rng.IntN(4) == 0 {
				hash = hashes[rng.IntN(len(hashes))]
			}
			for _, a := range e.Process(manifest(n, at, who, hash)) {
				got = append(got, a.ClientAddress+" "+a.Attributes["other_client_address"]+" "+a.Attributes["previous"]+">"+a.Attributes["current"])
			}
			// The pass over every entry, as the rule was first written.
			if mine, ok := entries[who]; ok && at <= mine.ts {
				continue
			}
			var differing []string
			for other, prev := range entries {
				switch {
				case prev.ts <= at-window:
					delete(entries, other)
				case other != who && prev.hash != hash:
					differing = append(differing, other)
				}
			}
			slices.Sort(differing)
			for _, other := range differing {
				want = append(want, who+" "+other+" "+entries[other].hash+">"+hash)
			}
			if _, ok := entries[who]; !ok && len(entries) >= cfg.MaxEventsPerGroup {
				continue
			}
			entries[who] = entry{hash, at}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d:\n got %q\nwant %q", round, got, want)
		}
	}
}
