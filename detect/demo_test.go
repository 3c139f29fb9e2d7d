package detect

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mcpwatch/mcpwatch/rules"
)

// TestDemoCapture runs the default pack over the events mcpwatch decoded
// from testdata/demo.pcap (real go-sdk traffic: an approved files server
// and a shadow-db server that is not on the demo allowlist), saved as
// testdata/demo-events.jsonl.
func TestDemoCapture(t *testing.T) {
	pack, err := LoadRules(rules.Default)
	if err != nil {
		t.Fatal(err)
	}
	allow, err := LoadAllowlist(filepath.Join("..", "testdata", "demo-allowlist.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	events, err := readJSONL(os.DirFS("testdata"), "demo-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		allow *Allowlist
		want  []string
	}{
		{"with the demo allowlist", allow, []string{
			"plaintext-transport http://files.corp.example:8080/mcp",
			"unauthenticated-server http://files.corp.example:8080/mcp",
			"unexpected-server http://10.0.0.9:3000/mcp",
			"plaintext-transport http://10.0.0.9:3000/mcp",
			"unauthenticated-server http://10.0.0.9:3000/mcp",
		}},
		{"without an allowlist", nil, []string{
			"plaintext-transport http://files.corp.example:8080/mcp",
			"unauthenticated-server http://files.corp.example:8080/mcp",
			"plaintext-transport http://10.0.0.9:3000/mcp",
			"unauthenticated-server http://10.0.0.9:3000/mcp",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewEngine(Config{}, pack, tc.allow)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range events {
				for _, a := range e.Process(ev) {
					if err := a.Validate(); err != nil {
						t.Error(err)
					}
					got = append(got, a.RuleID+" "+a.ServerKey)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("alerts:\n%q\nwant:\n%q", got, tc.want)
			}
			if st := e.Stats(); st.Events != uint64(len(events)) {
				t.Errorf("Stats.Events = %d, want %d", st.Events, len(events))
			}
		})
	}
}
