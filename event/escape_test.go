package event

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPrintable(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://mcp.corp.example:8080/mcp", "http://mcp.corp.example:8080/mcp"},
		{"héllo wörld ✓", "héllo wörld ✓"},
		{"evil\x1b[2J\x1b[H.example", `evil\x1b[2J\x1b[H.example`},
		{"line\r\nforged: alert cleared", `line\r\nforged: alert cleared`},
		{"tab\there", `tab\there`},
		{"nul\x00del\x7f", `nul\x00del\x7f`},
		{"c1 csi \u009b31m", `c1 csi \u009b31m`},
		{"rlo \u202egnp.exe", `rlo \u202egnp.exe`},
		{"sep\u2028x", `sep\u2028x`},
		{"bad utf8 \xff\xfe", `bad utf8 \xff\xfe`},
		{`a\x1b literal`, `a\\x1b literal`},
		{"", ""},
	} {
		got := Printable(c.in)
		if got != c.want {
			t.Errorf("Printable(%q) = %q, want %q", c.in, got, c.want)
		}
		if hasRawControl(got) {
			t.Errorf("Printable(%q) = %q still holds a control character", c.in, got)
		}
	}
	if got := PrintableList([]string{"a\n", "b"}, ","); got != `a\n,b` {
		t.Errorf("PrintableList: %q", got)
	}
}

// hasRawControl reports whether s holds a character Printable must escape.
func hasRawControl(s string) bool {
	for _, r := range s {
		if Unprintable(r) {
			return true
		}
	}
	return !utf8.ValidString(s)
}

func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"plain", "\x1b[31m", "a\r\nb", "\u009b\u202e", "\xff", `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Printable(s)
		if hasRawControl(got) {
			t.Fatalf("Printable(%q) = %q", s, got)
		}
		if !strings.ContainsAny(s, "\\") && !hasRawControl(s) && got != s {
			t.Fatalf("Printable changed clean text %q to %q", s, got)
		}
	})
}

func BenchmarkPrintableClean(b *testing.B) {
	s := "http://files.corp.example:8080/mcp"
	b.ReportAllocs()
	for b.Loop() {
		if Printable(s) != s {
			b.Fatal("changed")
		}
	}
}
