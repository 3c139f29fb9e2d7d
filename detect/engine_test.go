package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
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

const indexesRule = `
  - id: indexes
    name: Index
    description: Reads the first audience.
    severity: low
    category: test
    type: match
    condition: token_aud[0] == "x"
`

func TestEvalErrorsCounted(t *testing.T) {
	e := newTestEngine(t, Config{Logger: slog.New(slog.DiscardHandler)}, nil, indexesRule)
	e.Process(authFailure(1, 0, "10.0.0.7", "")) // no token_aud: index out of range
	st := e.Stats()
	if r := st.Rules["indexes"]; st.Events != 1 || r.EvalErrors != 1 || r.Evaluations != 1 || !strings.Contains(r.LastError, "condition: index out of range") {
		t.Errorf("stats = %+v", st)
	}
}

// TestEvalErrorsLoggedRateLimited: the first errors of a rule are logged
// with its id and the error, then one line a minute with the count of
// those not logged; failing is logged once, as an error.
func TestEvalErrorsLoggedRateLimited(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	e := newTestEngine(t, Config{Logger: log, FailAfter: 5}, nil, indexesRule)
	clock := t0
	e.now = func() time.Time { return clock }
	for i := range 10 {
		e.Process(authFailure(i, 0, "10.0.0.7", ""))
	}
	clock = clock.Add(time.Minute)
	e.Process(authFailure(10, 0, "10.0.0.7", ""))
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	var errs, failing []map[string]any
	for _, m := range lines {
		switch m["msg"] {
		case "rule evaluation failed":
			errs = append(errs, m)
		case "rule failing: its alerts are missing while it is":
			failing = append(failing, m)
		}
	}
	if len(errs) != errorLogBurst+1 || errs[errorLogBurst]["not_logged_since_last"] != float64(10-errorLogBurst) {
		t.Errorf("error lines %v", errs)
	}
	for _, m := range errs {
		if m["rule_id"] != "indexes" || !strings.Contains(m["error"].(string), "index out of range") {
			t.Errorf("error line %v", m)
		}
	}
	if len(failing) != 1 || failing[0]["level"] != "ERROR" || failing[0]["rule_id"] != "indexes" || failing[0]["why"] != "5 consecutive evaluations failed" {
		t.Errorf("failing lines %v", failing)
	}
	if r := e.Stats().Rules["indexes"]; r.Failing != 1 || r.FailingPeriods != 1 || r.EvalErrors != 11 {
		t.Errorf("stats %+v", r)
	}
}

func TestConfigRejectsBadFailureSettings(t *testing.T) {
	for _, cfg := range []Config{{FailRatio: 1.5}, {FailAfter: -1}, {MaxAttributeBytes: 10}, {MaxAttributes: -1}} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", cfg)
		}
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
