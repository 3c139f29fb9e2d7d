package detect

import (
	"strings"
	"testing"
	"testing/fstest"
)

const validRule = `rules:
  - id: tool-call
    name: Tool call
    description: A tool was called.
    severity: low
    category: test
    type: match
    condition: kind == "message" && method == "tools/call"
`

func TestLoadRules(t *testing.T) {
	rules, err := LoadRules(fstest.MapFS{
		"a.yaml":          {Data: []byte(validRule)},
		"tests/skip.yaml": {Data: []byte("not: rules")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 || rules[0].ID != "tool-call" || rules[0].Source != "a.yaml:2" {
		t.Errorf("rules = %+v", rules)
	}
}

// A pack loaded on top of another adds rules, replaces those of the same
// id in their place, and turns others off; a disable of an unknown id is an
// error naming the file.
func TestLoadRulePacks(t *testing.T) {
	base := fstest.MapFS{"a.yaml": {Data: []byte(validRule + strings.ReplaceAll(strings.TrimPrefix(validRule, "rules:\n"), "tool-call", "second") +
		strings.ReplaceAll(strings.TrimPrefix(validRule, "rules:\n"), "tool-call", "third"))}}
	site := fstest.MapFS{
		"site.yaml": {Data: []byte(strings.ReplaceAll(strings.Replace(validRule, "severity: low", "severity: high", 1), "tool-call", "second") +
			strings.ReplaceAll(strings.TrimPrefix(validRule, "rules:\n"), "tool-call", "site-only") + "disable: [third]\n")},
	}
	rules, err := LoadRules(base, site)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, r.ID+":"+r.Severity)
	}
	if want := "tool-call:low second:high site-only:low"; strings.Join(got, " ") != want {
		t.Errorf("rules %v, want %s", got, want)
	}
	bad := fstest.MapFS{"off.yaml": {Data: []byte("disable: [nope]\n")}}
	if errs := Lint(base, bad); len(errs) != 1 || !strings.Contains(errs[0].Error(), `off.yaml: disable "nope"`) {
		t.Errorf("unknown disable: %v", errs)
	}
}

// TestLoadRulesErrors checks that each kind of broken rule is reported with
// its file and the line of the offending key.
func TestLoadRulesErrors(t *testing.T) {
	for _, tc := range []struct {
		name, replace, with, want string
	}{
		{"unknown field in condition", `method == "tools/call"`, `methd == "tools/call"`, `r.yaml:8: rule "tool-call": condition: unknown name methd`},
		{"type error", `method == "tools/call"`, `bytes == "big"`, `r.yaml:8: rule "tool-call": condition: invalid operation`},
		{"not a bool", `kind == "message" && method == "tools/call"`, `method`, `r.yaml:8: rule "tool-call": condition: expected bool`},
		{"wall clock", `method == "tools/call"`, `ts > now()`, `r.yaml:8: rule "tool-call": condition:`},
		{"bad severity", "severity: low", "severity: urgent", `r.yaml:5: rule "tool-call": severity "urgent"`},
		{"misspelt key", "severity: low", "severty: low", `r.yaml:5: unknown key "severty"`},
		{"key of another type", "type: match", "type: match\n    window: 5m", `r.yaml:8: rule "tool-call": window does not apply to a match rule`},
		{"unknown type", "type: match", "type: sequence", `r.yaml:7: rule "tool-call": type "sequence"`},
		{"bad id", "id: tool-call", "id: Tool_Call", `r.yaml:2: rule "Tool_Call": id must be`},
		{"bad mitre", "category: test", "category: test\n    mitre: [T12]", `r.yaml:7: rule "tool-call": mitre "T12"`},
		{"unknown group field", "type: match", "type: match\n    group_by: [server]", `r.yaml:8: rule "tool-call": unknown event field "server"`},
		{"unknown summary placeholder", "type: match", "type: match\n    summary: \"{nope}\"", `r.yaml:8: rule "tool-call": summary: {nope}`},
		{"threshold without window", "type: match", "type: threshold\n    threshold: 3", `rule "tool-call": a threshold rule needs window`},
		{"sum of a string", "type: match", "type: threshold\n    window: 1m\n    threshold: 3\n    aggregate: sum(method)", `r.yaml:10: rule "tool-call": sum(method): field is not a number`},
		{"new_value without fields", "type: match", "type: new_value", `rule "tool-call": a new_value rule needs fields`},
		{"change value type error", "type: match", "type: change\n    value: manifest_hash + 1", `r.yaml:8: rule "tool-call": value:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(validRule, tc.replace, tc.with, 1)
			if src == validRule {
				t.Fatalf("replacement %q not found", tc.replace)
			}
			_, err := LoadRules(fstest.MapFS{"r.yaml": {Data: []byte(src)}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadRulesRefusesYml(t *testing.T) {
	_, err := LoadRules(fstest.MapFS{"a.yaml": {Data: []byte(validRule)}, "b.yml": {Data: []byte(validRule)}})
	if err == nil || !strings.Contains(err.Error(), "b.yml: rule files are named *.yaml") {
		t.Errorf("error %v", err)
	}
}

func TestLintReportsEveryProblem(t *testing.T) {
	broken := strings.Replace(validRule, "severity: low", "severity: urgent", 1)
	dup := validRule
	errs := Lint(fstest.MapFS{
		"a.yaml": {Data: []byte(broken)},
		"b.yaml": {Data: []byte(dup)},
		"c.yaml": {Data: []byte(dup)},
		"d.yaml": {Data: []byte("rules: [")},
	})
	want := []string{`a.yaml:5: rule "tool-call": severity`, `c.yaml:2: rule "tool-call": duplicate id, first defined at b.yaml:2`, "d.yaml:"}
	if len(errs) != len(want) {
		t.Fatalf("Lint = %v, want %d errors", errs, len(want))
	}
	for i, w := range want {
		if !strings.Contains(errs[i].Error(), w) {
			t.Errorf("error %d = %v, want it to contain %q", i, errs[i], w)
		}
	}
}
