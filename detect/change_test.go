package detect

import (
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
