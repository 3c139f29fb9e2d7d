package rules_test

import (
	"io/fs"
	"testing"

	"github.com/mcpwatch/mcpwatch/detect"
	"github.com/mcpwatch/mcpwatch/rules"
)

// TestPack runs the rule tests shipped with the default pack and checks that
// every rule has a passing positive and negative test.
func TestPack(t *testing.T) {
	tests, err := fs.Sub(rules.Default, rules.TestsDir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := detect.RunTests(tests, rules.Default)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Failure != "" {
			t.Errorf("%s %q: %s", r.Where, r.Name, r.Failure)
		}
	}
	pack, err := detect.LoadRules(rules.Default)
	if err != nil {
		t.Fatal(err)
	}
	for _, missing := range rep.Untested(pack) {
		t.Error(missing)
	}
}

func TestPackLints(t *testing.T) {
	for _, err := range detect.Lint(rules.Default) {
		t.Error(err)
	}
}
