package decode

import (
	"bytes"
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner walks JSON text without building a tree, so a 4 MB resources/read
// result costs one pass and no allocation beyond the few strings events
// keep. It tolerates input that stops early (a body cut by a capture gap):
// it reports how far it got through eof instead of failing, and callers keep
// whatever fields they had already read.
type scanner struct {
	b   []byte
	i   int
	eof bool // input ended inside a value
	bad bool // input is not JSON
}

// ok reports whether scanning may go on.
func (s *scanner) ok() bool { return !s.eof && !s.bad }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end of input.
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		s.eof = true
		return 0
	}
	return s.b[s.i]
}

// expect consumes c or marks the input bad.
func (s *scanner) expect(c byte) bool {
	if s.peek() != c {
		if !s.eof {
			s.bad = true
		}
		return false
	}
	s.i++
	return true
}

// rawString returns the bytes between the quotes of the string at the
// cursor, still escaped, and whether it contains escapes. Tool results are
// long strings, so it searches rather than steps: for the closing quote
// (once per string, again only if an escape hid it), then for the next
// escape before it, checking the bytes between for control bytes.
func (s *scanner) rawString() (raw []byte, escaped bool) {
	if !s.expect('"') {
		return nil, false
	}
	start := s.i
	quote := -1 // the first '"' at or after s.i, len(s.b) if none
	for {
		if quote < s.i {
			quote = len(s.b)
			if q := bytes.IndexByte(s.b[s.i:], '"'); q >= 0 {
				quote = s.i + q
			}
		}
		plain := s.b[s.i:quote]
		esc := bytes.IndexByte(plain, '\\')
		if esc >= 0 {
			plain = plain[:esc]
		}
		if c := controlIndex(plain); c >= 0 {
			s.i += c
			s.bad = true
			return nil, false
		}
		switch {
		case esc >= 0:
			escaped = true
			s.i += esc + 2 // the escaped byte may be the quote found
			if s.i >= len(s.b) {
				s.eof = true
				return nil, false
			}
		case quote < len(s.b):
			raw = s.b[start:quote]
			s.i = quote + 1
			return raw, escaped
		default:
			s.i = len(s.b)
			s.eof = true
			return nil, false
		}
	}
}

// controlIndex returns the index of the first byte of b below 0x20, or -1.
// It tests eight bytes at once (the less-than trick of "Bit Twiddling
// Hacks", exact as a yes/no answer) and only then looks for which.
func controlIndex(b []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+16 <= len(b); i += 16 {
		w, v := binary.LittleEndian.Uint64(b[i:]), binary.LittleEndian.Uint64(b[i+8:])
		if ((w-ones*0x20)&^w|(v-ones*0x20)&^v)&highs != 0 {
			break
		}
	}
	for ; i+8 <= len(b); i += 8 {
		if w := binary.LittleEndian.Uint64(b[i:]); (w-ones*0x20)&^w&highs != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if b[i] < 0x20 {
			return i
		}
	}
	return -1
}

// str reads a string value, unescaped, keeping at most limit bytes of it
// (limit ≤ 0: all).
func (s *scanner) str(limit int) string {
	raw, escaped := s.rawString()
	if !s.ok() {
		return ""
	}
	if escaped {
		raw = unescape(raw)
	}
	if limit > 0 && len(raw) > limit {
		raw = raw[:limit]
		for len(raw) > 0 && !utf8.Valid(raw) {
			raw = raw[:len(raw)-1]
		}
	}
	return string(raw)
}

// strEq reads a string value and reports whether it equals want, without
// allocating.
func (s *scanner) strEq(want string) bool {
	raw, escaped := s.rawString()
	if escaped {
		raw = unescape(raw)
	}
	return s.ok() && string(raw) == want
}

// scalar reads a number, true, false or null and returns its text.
func (s *scanner) scalar() []byte {
	s.ws()
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c == '-', c == '+', c == '.', c == 'E':
			s.i++
		default:
			if s.i == start {
				s.bad = true
				return nil
			}
			return s.b[start:s.i]
		}
	}
	s.eof = true
	return nil
}

// skip consumes one value of any type. Nesting is tracked by a counter, not
// recursion, so hostile depth costs nothing.
func (s *scanner) skip() {
	switch s.peek() {
	case 0:
		return
	case '"':
		s.rawString()
		return
	case '{', '[':
	default:
		s.scalar()
		return
	}
	depth := 0
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.i++
				return
			}
		case '"':
			s.rawString()
			if !s.ok() {
				return
			}
			continue
		}
		s.i++
	}
	s.eof = true
}

// object calls field for each member of the object at the cursor; field must
// consume the value. It stops early when the input ends or is bad.
func (s *scanner) object(field func(key []byte)) {
	s.list('{', '}', func() {
		key, escaped := s.rawString()
		if escaped {
			key = unescape(key)
		}
		if s.expect(':') {
			field(key)
		}
	})
}

// members is object for a value that may not be an object: anything else is
// skipped, as MCP fields of the wrong type are.
func (s *scanner) members(field func(key []byte)) {
	if s.peek() != '{' {
		s.skip()
		return
	}
	s.object(field)
}

// array calls elem for each element of the array at the cursor; elem must
// consume the value.
func (s *scanner) array(elem func()) { s.list('[', ']', elem) }

// list reads the comma-separated items of an object or array.
func (s *scanner) list(open, close byte, item func()) {
	if !s.expect(open) {
		return
	}
	if s.peek() == close {
		s.i++
		return
	}
	for s.ok() {
		start := s.i
		item()
		if s.i == start && s.ok() {
			s.bad = true // item consumed nothing
		}
		if !s.ok() {
			return
		}
		switch s.peek() {
		case ',':
			s.i++
		case close:
			s.i++
			return
		case 0:
			return
		default:
			s.bad = true
			return
		}
	}
}

// unescape decodes JSON string escapes; invalid ones are kept as they are,
// since a sensor reports what it saw rather than rejecting it.
func unescape(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 >= len(raw) {
			out = append(out, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n := hexRune(raw[i+1:])
			if n == 0 {
				out = append(out, '\\', 'u')
				continue
			}
			i += n
			if utf16.IsSurrogate(r) {
				if i+2 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					if r2, n2 := hexRune(raw[i+3:]); n2 > 0 {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							r = dec
							i += 2 + n2
						}
					}
				}
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/' and anything else stand for themselves
			out = append(out, raw[i])
		}
	}
	return out
}

// hexRune reads the 4 hex digits of a \u escape; n is 0 if they are not there.
func hexRune(b []byte) (r rune, n int) {
	if len(b) < 4 {
		return 0, 0
	}
	for _, c := range b[:4] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, 0
		}
		r = r<<4 | rune(v)
	}
	return r, 4
}
