package logtap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every checked-in log is told by its content, not its name; Docker's
// {"log": "…"} lines are access-log lines, not HAR; text is not known.
func TestSniff(t *testing.T) {
	for path, want := range map[string]Format{
		"demo.har":                                         FormatHAR,
		"demo.envoy-buffered.json":                         FormatEnvoyTap,
		"demo.envoy-default.json":                          FormatEnvoyTap,
		"demo.envoy-access.jsonl":                          FormatAccessLog,
		"demo.nginx-access.jsonl":                          FormatAccessLog,
		"demo.envoy-streamed/tap_1000000000000000000.json": FormatEnvoyTap,
	} {
		f, err := os.Open(filepath.Join("..", "..", "testdata", "logtap", path))
		if err != nil {
			t.Fatal(err)
		}
		got, strong, known := Sniff(f)
		f.Close()
		if got != want || !known || strong != (want != FormatAccessLog) {
			t.Errorf("%s: %q strong %v known %v, want %q", path, got, strong, known, want)
		}
	}
	if f, _, known := Sniff(strings.NewReader(`{"log":"GET /mcp 200\n","stream":"stdout"}`)); f != FormatAccessLog || !known {
		t.Errorf("docker log line: %q", f)
	}
	if _, _, known := Sniff(strings.NewReader("192.0.2.1 - - [02/Dec/2026] \"POST /mcp\" 200\n")); known {
		t.Error("a text log line is known")
	}
}
