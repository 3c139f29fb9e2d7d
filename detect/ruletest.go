package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mcpwatch/mcpwatch/event"
)

// A rule test file holds data-driven tests in the manner of PromQL's
// promqltest files: a rule, some events, the alerts expected.
//
//	tests:
//	  - name: a server not on the allowlist alerts once
//	    rules: [unexpected-server]
//	    allowlist: {servers: [http://files.corp.example:8080/mcp]}
//	    defaults: {kind: message, client_address: 10.0.0.7}
//	    events:
//	      - {ts: 2026-05-04T10:00:00Z, server_key: http://evil.example:9000/mcp}
//	      - {after: 5s, server_key: http://evil.example:9000/mcp, repeat: 3, every: 1s}
//	    alerts:
//	      - {rule_id: unexpected-server, server_key: http://evil.example:9000/mcp}
//
// events_file: names a JSONL file of events, read before events:.
// Events are event JSON objects written as YAML; defaults are merged into
// each. schema and event_id are filled in when absent. ts may be omitted
// (one second after the previous event), or replaced by `after: DURATION`
// (that long after the previous event); `repeat: N` with `every: DURATION`
// (default 1s) stands for N such events. Each expected alert lists the alert
// fields that must match, by schema name; the alerts raised must match the
// list one for one, in order. `alerts: []` expects none.
//
// Run-time errors are part of a rule's behaviour too:
//
//   - name: a missing audience is an error, counted, not an alert
//     rules: [first-audience]
//     config: {fail_after: 3}
//     events: [{kind: auth, repeat: 3}]
//     alerts: []
//     errors: {first-audience: 3}
//     failing: [first-audience]
//
// errors: gives the run-time errors expected per rule (rules not named
// expect none); failing: the rules failing after the last event (none
// when absent). config: sets the engine's limits for the test:
// max_attribute_bytes, max_attributes, fail_after, fail_window, fail_ratio.
type testFile struct {
	Tests []yaml.Node `yaml:"tests"`
}

type ruleTest struct {
	Name      string         `yaml:"name"`
	Rules     []string       `yaml:"rules"`
	Allowlist yaml.Node      `yaml:"allowlist"`
	Defaults  map[string]any `yaml:"defaults"`
	// EventsFile is a JSONL file of events (as mcpwatch writes them with
	// --events-out), relative to the test directory; its events come
	// before those of Events.
	EventsFile string           `yaml:"events_file"`
	Events     []map[string]any `yaml:"events"`
	Alerts     []map[string]any `yaml:"alerts"`
	Config     testConfig       `yaml:"config"`
	Errors     map[string]int   `yaml:"errors"`
	Failing    []string         `yaml:"failing"`
}

// testConfig is the part of Config a rule test may set.
type testConfig struct {
	MaxAttributeBytes int     `yaml:"max_attribute_bytes"`
	MaxAttributes     int     `yaml:"max_attributes"`
	FailAfter         int     `yaml:"fail_after"`
	FailWindow        int     `yaml:"fail_window"`
	FailRatio         float64 `yaml:"fail_ratio"`
}

// testEpoch is the ts of a test's first event when it gives none.
var testEpoch = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

// Report is the outcome of RunTests.
type Report struct {
	Results []TestResult
}

// TestResult is the outcome of one rule test.
type TestResult struct {
	Where string // file:line
	Name  string
	Rules []string
	// Positive tests expect at least one alert; negative tests expect none.
	Positive bool
	// Failure says what went wrong; empty when the test passed.
	Failure string
}

// Failed returns the tests that failed.
func (r *Report) Failed() []TestResult {
	var out []TestResult
	for _, t := range r.Results {
		if t.Failure != "" {
			out = append(out, t)
		}
	}
	return out
}

// Untested returns the ids of rules that lack a passing positive or a
// passing negative test, with what is missing.
func (r *Report) Untested(rules []*Rule) []string {
	type cover struct{ pos, neg bool }
	covered := map[string]*cover{}
	for _, t := range r.Results {
		if t.Failure != "" {
			continue
		}
		for _, id := range t.Rules {
			if covered[id] == nil {
				covered[id] = &cover{}
			}
			if t.Positive {
				covered[id].pos = true
			} else {
				covered[id].neg = true
			}
		}
	}
	var out []string
	for _, rule := range rules {
		c := covered[rule.ID]
		switch {
		case c == nil:
			out = append(out, rule.ID+": no test")
		case !c.pos:
			out = append(out, rule.ID+": no positive test")
		case !c.neg:
			out = append(out, rule.ID+": no negative test")
		}
	}
	return out
}

// RunTests runs every test file (*.yaml at the top level of fsys) against
// the rules in rulesFS. The error is for what stops the run (rules that do
// not load, an unreadable test file); failing tests are in the Report.
func RunTests(fsys fs.FS, rulesFS fs.FS) (Report, error) {
	var rep Report
	rules, err := LoadRules(rulesFS)
	if err != nil {
		return rep, fmt.Errorf("load rules: %w", err)
	}
	byID := make(map[string]*Rule, len(rules))
	for _, r := range rules {
		byID[r.ID] = r
	}
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return rep, fmt.Errorf("list rule tests: %w", err)
	}
	if len(files) == 0 {
		return rep, fmt.Errorf("no rule test files (*.yaml)")
	}
	for _, name := range files {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return rep, fmt.Errorf("read rule test: %w", err)
		}
		results, err := runTestFile(fsys, name, data, byID)
		if err != nil {
			return rep, err
		}
		rep.Results = append(rep.Results, results...)
	}
	return rep, nil
}

func runTestFile(fsys fs.FS, name string, data []byte, byID map[string]*Rule) ([]TestResult, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty file, want a tests: list", name)
	}
	if err := checkKeys(name, doc.Content[0], testFile{}); err != nil {
		return nil, err
	}
	var f testFile
	if err := doc.Content[0].Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var out []TestResult
	for i := range f.Tests {
		node := &f.Tests[i]
		where := fmt.Sprintf("%s:%d", name, node.Line)
		if err := checkKeys(name, node, ruleTest{}); err != nil {
			return nil, err
		}
		timestampsAsStrings(node)
		var t ruleTest
		if err := node.Decode(&t); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		res := TestResult{Where: where, Name: t.Name, Rules: t.Rules, Positive: len(t.Alerts) > 0}
		if err := t.run(fsys, name, byID); err != nil {
			res.Failure = err.Error()
		}
		out = append(out, res)
	}
	return out, nil
}

func (t *ruleTest) run(fsys fs.FS, file string, byID map[string]*Rule) error {
	if t.Name == "" || len(t.Rules) == 0 || (len(t.Events) == 0 && t.EventsFile == "") || t.Alerts == nil {
		return fmt.Errorf("a test needs name, rules, events or events_file, and alerts (alerts: [] for none)")
	}
	var rules []*Rule
	for _, id := range t.Rules {
		r := byID[id]
		if r == nil {
			return fmt.Errorf("unknown rule %q", id)
		}
		rules = append(rules, r)
	}
	var allow *Allowlist
	if t.Allowlist.Kind != 0 {
		var err error
		if allow, err = allowlistFromNode(file, &t.Allowlist); err != nil {
			return err
		}
	}
	var events []*event.Event
	if t.EventsFile != "" {
		var err error
		if events, err = readJSONL(fsys, t.EventsFile); err != nil {
			return err
		}
	}
	more, err := t.events(file)
	if err != nil {
		return err
	}
	events = append(events, more...)
	tc := t.Config
	// Errors are checked by errors: and failing:, not logged.
	eng, err := NewEngine(Config{MaxAttributeBytes: tc.MaxAttributeBytes, MaxAttributes: tc.MaxAttributes, FailAfter: tc.FailAfter,
		FailWindow: tc.FailWindow, FailRatio: tc.FailRatio, Logger: slog.New(slog.DiscardHandler)}, rules, allow)
	if err != nil {
		return err
	}
	var got []*event.Alert
	for _, ev := range events {
		got = append(got, eng.Process(ev)...)
	}
	if err := matchAlerts(got, t.Alerts); err != nil {
		return err
	}
	return t.matchHealth(eng.Stats())
}

// matchHealth checks the rules' run-time errors and failing state.
func (t *ruleTest) matchHealth(st Stats) error {
	var problems []string
	var failing []string
	for _, id := range slices.Sorted(maps.Keys(st.Rules)) {
		rs := st.Rules[id]
		if want := uint64(t.Errors[id]); rs.EvalErrors != want {
			problems = append(problems, fmt.Sprintf("rule %s: %d run-time errors, want %d (last: %s)", id, rs.EvalErrors, want, rs.LastError))
		}
		if rs.Failing == 1 {
			failing = append(failing, id)
		}
	}
	for id := range t.Errors {
		if _, ok := st.Rules[id]; !ok {
			problems = append(problems, fmt.Sprintf("errors: rule %s is not in the test", id))
		}
	}
	want := slices.Sorted(slices.Values(t.Failing))
	if !slices.Equal(failing, want) {
		problems = append(problems, fmt.Sprintf("failing rules %v, want %v", failing, want))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// events expands the test's events: defaults, repeat, ts steps, ids.
func (t *ruleTest) events(file string) ([]*event.Event, error) {
	var out []*event.Event
	prev := testEpoch.Add(-time.Second)
	for i, raw := range t.Events {
		fields := map[string]any{"schema": event.SchemaVersion}
		for k, v := range t.Defaults {
			fields[k] = v
		}
		for k, v := range raw {
			fields[k] = v
		}
		repeat, err := takeInt(fields, "repeat", 1)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i+1, err)
		}
		every, err := takeDuration(fields, "every", time.Second)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i+1, err)
		}
		after, err := takeDuration(fields, "after", time.Second)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i+1, err)
		}
		for n := range repeat {
			ev, err := decodeTestEvent(fields)
			if err != nil {
				return nil, fmt.Errorf("event %d: %w", i+1, err)
			}
			switch {
			case n > 0:
				ev.TS = prev.Add(every)
			case ev.TS.IsZero():
				ev.TS = prev.Add(after)
			}
			prev = ev.TS
			if ev.EventID == "" || n > 0 {
				ev.EventID = event.NewID(file, t.Name, fmt.Sprint(i), fmt.Sprint(n))
			}
			if err := ev.Validate(); err != nil {
				return nil, fmt.Errorf("event %d: %w", i+1, err)
			}
			out = append(out, ev)
		}
	}
	return out, nil
}

// timestampsAsStrings keeps dates as written: YAML would turn
// protocol_version: 2025-06-18 into a time, and back into
// "2025-06-18T00:00:00Z" on its way into a string field.
func timestampsAsStrings(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!timestamp" {
		n.Tag = "!!str"
	}
	for _, c := range n.Content {
		timestampsAsStrings(c)
	}
}

// readJSONL reads a file of events, one JSON object a line.
func readJSONL(fsys fs.FS, name string) ([]*event.Event, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("events_file: %w", err)
	}
	var out []*event.Event
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ev, err := event.DecodeEvent(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, i+1, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

func decodeTestEvent(fields map[string]any) (*event.Event, error) {
	data, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // a misspelt field would make a test pass for the wrong reason
	var ev event.Event
	if err := dec.Decode(&ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

func takeInt(m map[string]any, key string, def int) (int, error) {
	v, ok := m[key]
	delete(m, key)
	if !ok {
		return def, nil
	}
	n, ok := v.(int)
	if !ok || n < 1 {
		return 0, fmt.Errorf("%s: want a positive integer, got %v", key, v)
	}
	return n, nil
}

func takeDuration(m map[string]any, key string, def time.Duration) (time.Duration, error) {
	v, ok := m[key]
	delete(m, key)
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(fmt.Sprint(v))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return d, nil
}

// matchAlerts checks the alerts one for one against the expectations,
// comparing only the fields each expectation names.
func matchAlerts(got []*event.Alert, want []map[string]any) error {
	var problems []string
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(want):
			problems = append(problems, fmt.Sprintf("unexpected alert %d: %s", i+1, alertText(got[i])))
		case i >= len(got):
			problems = append(problems, fmt.Sprintf("missing alert %d: %v", i+1, want[i]))
		default:
			if diff := alertDiff(got[i], want[i]); diff != "" {
				problems = append(problems, fmt.Sprintf("alert %d: %s", i+1, diff))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func alertDiff(a *event.Alert, want map[string]any) string {
	var got map[string]any
	data, _ := json.Marshal(a)
	_ = json.Unmarshal(data, &got)
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		w := want[k]
		wj, err := normalizeJSON(w)
		if err != nil {
			return fmt.Sprintf("expected %s: %v", k, err)
		}
		if !reflect.DeepEqual(got[k], wj) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", k, got[k], wj))
		}
	}
	if len(diffs) == 0 {
		return ""
	}
	return strings.Join(diffs, ", ") + " in " + alertText(a)
}

// normalizeJSON gives an expected YAML value the shape decoded JSON has.
func normalizeJSON(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(data, &out)
	return out, err
}

func alertText(a *event.Alert) string {
	data, _ := json.Marshal(a)
	return string(data)
}
