package detect

import (
	"os"
	"testing"
)

// TestRuleErrors runs the data-driven tests of rules that fail at run time
// (testdata/errors): errors counted per rule, failing and recovering
// rules, attribute values and counts capped.
func TestRuleErrors(t *testing.T) {
	rep, err := RunTests(os.DirFS("testdata/errors/tests"), os.DirFS("testdata/errors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) == 0 {
		t.Fatal("no tests ran")
	}
	for _, r := range rep.Results {
		if r.Failure != "" {
			t.Errorf("%s %q: %s", r.Where, r.Name, r.Failure)
		}
	}
}
