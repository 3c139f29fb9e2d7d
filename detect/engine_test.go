package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

const unexpectedRule = `
  - id: unexpected
    name: Unexpected server
    description: Not on the allowlist.
    severity: high
    category: unexpected_server
    type: new_value
    condition: has_allowlist() && !allowlisted()
    fields: [server_key]
`

// TestAlertIDsDeterministic replays the same events through two engines:
// the alerts, ids included, must be identical.
func TestAlertIDsDeterministic(t *testing.T) {
	run := func() []*event.Alert {
		e := newTestEngine(t, Config{}, nil, burstRule)
		var out []*event.Alert
		for i := range 9 {
			client := fmt.Sprintf("10.0.0.%d", i%3)
			out = append(out, e.Process(authFailure(i, time.Duration(i)*time.Second, client, ""))...)
		}
		return out
	}
	a, b := run(), run()
	if len(a) != 3 || len(b) != len(a) {
		t.Fatalf("got %d and %d alerts, want 3 each (one per client)", len(a), len(b))
	}
	seen := map[string]bool{}
	for i := range a {
		if a[i].AlertID != b[i].AlertID {
			t.Errorf("alert %d: ids %s and %s differ between replays", i, a[i].AlertID, b[i].AlertID)
		}
		if seen[a[i].AlertID] {
			t.Errorf("alert %d: id %s reused for different evidence", i, a[i].AlertID)
		}
		seen[a[i].AlertID] = true
		if err := a[i].Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestSetAllowlist(t *testing.T) {
	e := newTestEngine(t, Config{}, nil, unexpectedRule)
	ev := authFailure(1, 0, "10.0.0.7", "")
	if alerts := e.Process(ev); len(alerts) != 0 {
		t.Fatalf("alert without an allowlist: %+v", alerts)
	}
	allow, err := ParseAllowlist("a.yaml", []byte("servers: [10.99.0.0/16]\n"))
	if err != nil {
		t.Fatal(err)
	}
	e.SetAllowlist(allow)
	if alerts := e.Process(authFailure(2, time.Second, "10.0.0.7", "")); len(alerts) != 1 {
		t.Fatalf("got %d alerts after the allowlist was set, want 1", len(alerts))
	}
}

// TestSetAllowlistReplacesVerdicts: the verdicts remembered by server come
// from the allowlist in force, not from the one before.
func TestSetAllowlistReplacesVerdicts(t *testing.T) {
	approving, err := ParseAllowlist("a.yaml", []byte("servers: [10.20.0.0/16]\n"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := ParseAllowlist("b.yaml", []byte("servers: [10.99.0.0/16]\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEngine(t, Config{}, approving, unexpectedRule)
	if alerts := e.Process(authFailure(1, 0, "10.0.0.7", "")); len(alerts) != 0 {
		t.Fatalf("alert for an approved server: %+v", alerts)
	}
	e.SetAllowlist(other)
	if alerts := e.Process(authFailure(2, time.Second, "10.0.0.7", "")); len(alerts) != 1 {
		t.Fatalf("got %d alerts once the server is no longer approved, want 1", len(alerts))
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
	if _, err := NewEngine(Config{MaxGroupsPerRule: -1}, nil, nil); err == nil {
		t.Error("negative MaxGroupsPerRule accepted")
	}
	if _, err := NewEngine(Config{}, []*Rule{{ID: "raw"}}, nil); err == nil {
		t.Error("a rule not from LoadRules accepted")
	}
}

func TestEvalErrorsCounted(t *testing.T) {
	e := newTestEngine(t, Config{}, nil, `
  - id: indexes
    name: Index
    description: Reads the first audience.
    severity: low
    category: test
    type: match
    condition: token_aud[0] == "x"
`)
	e.Process(authFailure(1, 0, "10.0.0.7", "")) // no token_aud: index out of range
	if st := e.Stats(); st.Events != 1 || st.Rules["indexes"].EvalErrors != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// TestEnvironmentFollowsEvents: the environment kept from event to event
// shows each event its own values, whether they repeat the previous event's
// or not.
func TestEnvironmentFollowsEvents(t *testing.T) {
	e := newTestEngine(t, Config{}, nil, `
  - id: read-401
    name: Read refused
    description: A refused read_file call.
    severity: low
    category: test
    type: match
    condition: tool_name == "read_file" && http_status == 401 && len(secret_kinds) == 0
`)
	for i, tc := range []struct {
		tool    string
		status  int
		secrets []string
		alert   bool
	}{
		{"read_file", 401, nil, true},
		{"read_file", 401, nil, true},
		{"read_file", 200, nil, false},
		{"", 401, nil, false},
		{"read_file", 401, []string{"jwt"}, false},
		{"read_file", 401, nil, true},
		{"read_fild", 401, nil, false},
		{"read_file", 401, nil, true},
	} {
		ev := authFailure(i, time.Duration(i)*time.Second, "10.0.0.7", "")
		ev.ToolName, ev.HTTPStatus, ev.SecretKinds = tc.tool, tc.status, tc.secrets
		if got := len(e.Process(ev)) == 1; got != tc.alert {
			t.Errorf("event %d (%+v): alert %v, want %v", i, tc, got, tc.alert)
		}
	}
}
