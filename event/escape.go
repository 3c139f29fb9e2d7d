package event

import (
	"strings"
	"unicode/utf8"
)

// Printable returns s as it may be shown on a terminal or written to a
// line-oriented log: every string in an event or alert came off the wire,
// and a Host header or a server name holding ESC, CR or LF would otherwise
// clear the screen, recolour it or forge lines. Control characters (C0,
// DEL, C1), Unicode line and paragraph separators, bidirectional overrides
// and bytes that are not UTF-8 are written as Go escapes (\n, \x1b,
// \u009b, \u202e); a backslash is doubled so that the escapes cannot be
// forged either. Other text is unchanged and, in the common case, not
// copied. JSON output needs none of this: encoding/json escapes the C0
// range, and a JSON reader decodes the string whole.
func Printable(s string) string {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' || c >= 0x80 {
			break
		}
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			writeEscape(&b, 'x', uint32(s[i]), 2)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			writeEscape(&b, 'x', uint32(r), 2)
		case Unprintable(r):
			writeEscape(&b, 'u', uint32(r), 4)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Unprintable reports the runes Printable escapes: C0 controls and DEL,
// C1 controls (U+009B is a CSI on many terminals), line and paragraph
// separators, and bidirectional controls ("Trojan Source").
func Unprintable(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f,
		r >= 0x80 && r <= 0x9f,
		r == 0x2028, r == 0x2029,
		r == 0x061c, r == 0x200e, r == 0x200f,
		r >= 0x202a && r <= 0x202e,
		r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

func writeEscape(b *strings.Builder, kind byte, v uint32, digits int) {
	const hex = "0123456789abcdef"
	b.WriteByte('\\')
	b.WriteByte(kind)
	for shift := (digits - 1) * 4; shift >= 0; shift -= 4 {
		b.WriteByte(hex[(v>>uint(shift))&0xf])
	}
}

// PrintableList is Printable over each element of a list, joined by sep.
func PrintableList(list []string, sep string) string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = Printable(s)
	}
	return strings.Join(out, sep)
}
