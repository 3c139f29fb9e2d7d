package detect

import (
	"strings"
	"testing"
	"testing/fstest"
)

const runnerRules = `rules:
  - id: big
    name: Big response
    description: A big response.
    severity: low
    category: bulk_transfer
    type: match
    condition: kind == "message" && bytes >= 1000
    summary: "{bytes} bytes"
`

// TestRunTestsCatchesFailures runs rule tests that must fail, each for its
// own reason, next to one that must pass.
func TestRunTestsCatchesFailures(t *testing.T) {
	tests := `tests:
  - name: passes
    rules: [big]
    events: [{kind: message, bytes: 2000}, {kind: message, bytes: 10}]
    alerts: [{rule_id: big, summary: 2000 bytes}]
  - name: wrong field value
    rules: [big]
    events: [{kind: message, bytes: 2000}]
    alerts: [{rule_id: big, summary: 3000 bytes}]
  - name: missing alert
    rules: [big]
    events: [{kind: message, bytes: 10}]
    alerts: [{rule_id: big}]
  - name: unexpected alert
    rules: [big]
    events: [{kind: message, bytes: 2000}]
    alerts: []
  - name: misspelt event field
    rules: [big]
    events: [{kind: message, byte: 2000}]
    alerts: []
  - name: unknown rule
    rules: [huge]
    events: [{kind: message}]
    alerts: []
`
	rep, err := RunTests(fstest.MapFS{"t.yaml": {Data: []byte(tests)}}, fstest.MapFS{"r.yaml": {Data: []byte(runnerRules)}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"passes":               "",
		"wrong field value":    "summary = 2000 bytes, want 3000 bytes",
		"missing alert":        "missing alert 1",
		"unexpected alert":     "unexpected alert 1",
		"misspelt event field": `unknown field "byte"`,
		"unknown rule":         `unknown rule "huge"`,
	}
	if len(rep.Results) != len(want) {
		t.Fatalf("%d results, want %d", len(rep.Results), len(want))
	}
	for _, r := range rep.Results {
		w := want[r.Name]
		if (w == "") != (r.Failure == "") || !strings.Contains(r.Failure, w) {
			t.Errorf("%s (%s): failure %q, want %q", r.Name, r.Where, r.Failure, w)
		}
	}
	if got := len(rep.Failed()); got != 5 {
		t.Errorf("Failed() = %d, want 5", got)
	}
}

func TestUntested(t *testing.T) {
	rules := mustLoad(t, strings.TrimPrefix(runnerRules, "rules:\n"))
	onlyPositive := `tests:
  - name: positive
    rules: [big]
    events: [{kind: message, bytes: 2000}]
    alerts: [{rule_id: big}]
`
	rep, err := RunTests(fstest.MapFS{"t.yaml": {Data: []byte(onlyPositive)}}, fstest.MapFS{"r.yaml": {Data: []byte(runnerRules)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Untested(rules); len(got) != 1 || got[0] != "big: no negative test" {
		t.Errorf("Untested = %v", got)
	}
}

func TestRunTestsEventsFile(t *testing.T) {
	tests := `tests:
  - name: events from JSONL, then from YAML
    rules: [big]
    events_file: big.jsonl
    events: [{kind: message, ts: 2026-05-04T10:00:05Z, bytes: 3000}]
    alerts: [{rule_id: big, summary: 2000 bytes}, {rule_id: big, summary: 3000 bytes}]
`
	jsonl := `{"schema":1,"event_id":"e1","kind":"message","ts":"2026-05-04T10:00:00Z","bytes":2000}
{"schema":1,"event_id":"e2","kind":"message","ts":"2026-05-04T10:00:01Z","bytes":20}
`
	rep, err := RunTests(fstest.MapFS{"t.yaml": {Data: []byte(tests)}, "big.jsonl": {Data: []byte(jsonl)}}, fstest.MapFS{"r.yaml": {Data: []byte(runnerRules)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || rep.Results[0].Failure != "" {
		t.Errorf("results = %+v", rep.Results)
	}
}
