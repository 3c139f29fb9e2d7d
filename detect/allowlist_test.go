package detect

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
)

const testAllowlist = `
servers:
  - http://files.corp.example:8080/mcp
  - 10.0.0.5:8080
  - 10.1.0.0/16
  - "*.corp.example:443"
  - tools.internal
  - server: https://search.corp.example/mcp
    manifest: 9F2D6C0C5D1E8F3B7A4E2C1D0B9A8F7E6D5C4B3A29180706F5E4D3C2B1A09F8E
    tools: [search_docs]
`

func TestAllowlistAllowed(t *testing.T) {
	a, err := ParseAllowlist("test.yaml", []byte(testAllowlist))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ev   event.Event
		want bool
	}{
		{"server_key, case and trailing slash folded", event.Event{ServerKey: "http://Files.Corp.Example:8080/mcp/"}, true},
		{"server_key with another path", event.Event{ServerKey: "http://files.corp.example:8080/other"}, false},
		{"host:port by address", event.Event{ServerKey: "http://mcp.lab:8080/mcp", ServerAddress: "10.0.0.5", ServerPort: 8080}, true},
		{"host:port, other port", event.Event{ServerKey: "http://10.0.0.5:9090/mcp", ServerAddress: "10.0.0.5", ServerPort: 9090}, false},
		{"CIDR by server address", event.Event{ServerKey: "http://x.lab:3000/mcp", ServerAddress: "10.1.200.3", ServerPort: 3000}, true},
		{"CIDR by IP in server_key", event.Event{ServerKey: "http://10.1.0.9:3000/mcp"}, true},
		{"CIDR, outside", event.Event{ServerKey: "http://10.2.0.9:3000/mcp", ServerAddress: "10.2.0.9", ServerPort: 3000}, false},
		{"glob on host:port with default port", event.Event{ServerKey: "https://wiki.corp.example/mcp"}, true},
		{"glob, wrong port", event.Event{ServerKey: "http://wiki.corp.example:8443/mcp"}, false},
		{"glob does not match the bare domain", event.Event{ServerKey: "https://corp.example/mcp"}, false},
		{"bare host", event.Event{ServerKey: "http://tools.internal:7000/mcp"}, true},
		{"TLS flow by SNI and port of a server_key entry", event.Event{TLSSNI: "files.corp.example", ServerAddress: "203.0.113.1", ServerPort: 8080}, true},
		{"TLS flow by SNI on another port", event.Event{TLSSNI: "files.corp.example", ServerAddress: "203.0.113.1", ServerPort: 9443}, false},
		{"TLS flow by SNI and glob", event.Event{TLSSNI: "wiki.corp.example", ServerAddress: "203.0.113.1", ServerPort: 443}, true},
		{"nothing known", event.Event{ServerKey: "http://evil.example/mcp", ServerAddress: "203.0.113.7", ServerPort: 80}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.Allowed(&tc.ev); got != tc.want {
				t.Errorf("Allowed(%+v) = %v, want %v", tc.ev, got, tc.want)
			}
		})
	}
}

func TestAllowlistNilAllowsNothing(t *testing.T) {
	var a *Allowlist
	if a.Allowed(&event.Event{ServerKey: "http://files.corp.example:8080/mcp"}) {
		t.Error("nil allowlist allowed a server")
	}
	if _, ok := a.Pin("http://files.corp.example:8080/mcp"); ok {
		t.Error("nil allowlist pinned a server")
	}
}

func TestAllowlistPin(t *testing.T) {
	a, err := ParseAllowlist("test.yaml", []byte(testAllowlist))
	if err != nil {
		t.Fatal(err)
	}
	// search.corp.example matches the glob first and the pinned entry later:
	// the pin must win.
	pin, ok := a.Pin("https://search.corp.example/mcp")
	if !ok || pin.Manifest != "9f2d6c0c5d1e8f3b7a4e2c1d0b9a8f7e6d5c4b3a29180706f5e4d3c2b1a09f8e" || strings.Join(pin.Tools, ",") != "search_docs" {
		t.Errorf("Pin(search) = %+v, %v", pin, ok)
	}
	pin, ok = a.Pin("http://files.corp.example:8080/mcp")
	if !ok || pin.Manifest != "" || pin.Tools != nil {
		t.Errorf("Pin(files) = %+v, %v; want an empty pin of an approved server", pin, ok)
	}
	if _, ok := a.Pin("http://evil.example/mcp"); ok {
		t.Error("Pin(evil) matched")
	}
}

func TestAllowlistErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"bad CIDR", "servers:\n  - 10.1.0.0/33\n", "a.yaml:2: bad CIDR"},
		{"bad manifest", "servers:\n  - server: http://a/mcp\n    manifest: abc\n", "a.yaml:2: server \"http://a/mcp\": manifest \"abc\""},
		{"unknown key", "servers:\n  - server: http://a/mcp\n    tool: [x]\n", "a.yaml:3: unknown key \"tool\""},
		{"top-level typo", "server:\n  - http://a/mcp\n", "a.yaml:1: unknown key \"server\""},
		{"bad glob", "servers:\n  - \"[a-\"\n", "a.yaml:2: bad glob"},
		{"empty file", "", "a.yaml: empty file, want a servers: list"},
		{"only a comment", "# approved servers\n", "a.yaml: empty file, want a servers: list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAllowlist("a.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadAllowlistDemo(t *testing.T) {
	a, err := LoadAllowlist(filepath.Join("..", "testdata", "demo-allowlist.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Allowed(&event.Event{ServerKey: "http://files.corp.example:8080/mcp"}) {
		t.Error("demo allowlist does not allow files.corp.example")
	}
	if _, err := LoadAllowlist(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
