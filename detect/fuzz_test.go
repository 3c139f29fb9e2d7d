package detect

import (
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/mcpwatch/mcpwatch/rules"
)

// FuzzParseAllowlist: any input is an allowlist or an error, never a panic.
func FuzzParseAllowlist(f *testing.F) {
	example, err := fs.ReadFile(rules.Default, "examples/allowlist.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("servers: [\"[\", 10.0.0.0/8, \"::1\", \"http://[::1]:80/\", {server: x, tools: [a]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAllowlist("fuzz.yaml", data)
		if err == nil {
			a.Pin("http://files.corp.example:8080/mcp")
		}
	})
}

// FuzzLoadRules: any rule file loads or fails with an error, never a panic.
func FuzzLoadRules(f *testing.F) {
	for _, name := range []string{"auth.yaml", "tools.yaml", "traffic.yaml"} {
		data, err := fs.ReadFile(rules.Default, name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := LoadRules(fstest.MapFS{"r.yaml": {Data: data}})
		if err == nil {
			if _, err := NewEngine(Config{}, rs, nil); err != nil {
				t.Skip(err) // a valid rule the engine refuses is not a parser bug
			}
		}
	})
}
