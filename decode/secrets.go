package decode

import (
	"bytes"
)

// Secret scanning runs over every tool call and result, multi-MB base64,
// hex, prose and logs included, so it must cost about what reading the
// body costs. Each pattern is matched by hand where one of its anchors — a
// byte every match holds at a known place — occurs, checking only the
// bytes around it. Anchors are found with bytes.IndexByte (vector
// instructions), which costs little between occurrences and a few dozen
// nanoseconds at each, so findSecrets searches each pattern's rarest
// anchor in a sample of the body, once for all patterns that chose the
// same byte. (A regular expression run over a whole body whenever a
// two-byte marker such as "IA" occurred in it took 42 % of a run's CPU on
// traffic with large results.)
//
// Each pattern is written beside its matcher as the regular expression it
// implements, with Go's semantics: \b is an ASCII word boundary, the match
// is the leftmost one, and its end is what leftmost-first matching (greedy
// quantifiers) gives. Those expressions are the oracle of the differential
// test and fuzz target in secrets_test.go.

// secretPattern is one kind of credential that must not travel in tool
// arguments or results. Only its kind leaves the decoder
// (Event.SecretKinds), never the matched text.
type secretPattern struct {
	kind string
	// anchors locate the point at works from: an anchor byte at b[i]
	// puts it at i+shift. Every match has one such point, and the matches
	// of successive points start in increasing order.
	anchors []anchor
	// at returns the leftmost match that starts at or after from and has
	// its point at ref, or -1, -1. ref may lie outside b; bytes before
	// from still count as context for \b.
	at func(b []byte, ref, from int) (start, end int)
}

type anchor struct {
	c     byte
	shift int
}

var secretPatterns = [...]secretPattern{
	// The point is "PRIVATE KEY-----".
	{"private_key", []anchor{{'-', -11}, {'V', -3}}, privateKeyAt},
	// \b(?:AKIA|ASIA)[0-9A-Z]{16}\b
	{"aws_access_key", []anchor{{'I', -2}}, func(b []byte, s, from int) (int, int) {
		if s < from || !hasAt(b, s+2, "IA") || b[s] != 'A' || b[s+1] != 'K' && b[s+1] != 'S' || !wordStart(b, s) {
			return -1, -1
		}
		return ended(s, fixedRun(b, s+4, 16, &upperDigit, true))
	}},
	// The point is the first '_'.
	{"github_token", []anchor{{'_', 0}}, githubTokenAt},
	// \bxox[abprs]-[A-Za-z0-9-]{10,}
	{"slack_token", []anchor{{'-', -4}, {'x', 0}}, func(b []byte, s, from int) (int, int) {
		if s < from || !hasAt(b, s, "xox") || !hasAt(b, s+4, "-") || !isAny(b[s+3], "abprs") || !wordStart(b, s) {
			return -1, -1
		}
		return ended(s, minRun(b, s+5, 10, &alnumDash))
	}},
	// \bAIza[0-9A-Za-z_\-]{35}
	{"google_api_key", []anchor{{'I', -1}}, func(b []byte, s, from int) (int, int) {
		if s < from || !hasAt(b, s, "AIza") || !wordStart(b, s) {
			return -1, -1
		}
		return ended(s, fixedRun(b, s+4, 35, &wordDash, false))
	}},
	// \b[sr]k_live_[0-9A-Za-z]{20,}
	{"stripe_key", []anchor{{'_', -2}}, func(b []byte, s, from int) (int, int) {
		if s < from || !hasAt(b, s+1, "k_live_") || b[s] != 's' && b[s] != 'r' || !wordStart(b, s) {
			return -1, -1
		}
		return ended(s, minRun(b, s+8, 20, &alnum))
	}},
	// The point is the ".eyJ" of the payload.
	{"jwt", []anchor{{'.', 0}, {'J', -3}}, jwtAt},
}

// findSecrets returns the kinds of credentials in b, in pattern order.
func findSecrets(b []byte) []string {
	var chosen [len(secretPatterns)]anchor
	for p := range secretPatterns {
		chosen[p] = secretPatterns[p].rarestAnchor(b)
	}
	var found, searched uint64 // a bit per pattern
	for p := range secretPatterns {
		if searched&(1<<p) != 0 {
			continue
		}
		var pending uint64 // the patterns that chose the same byte
		for q := p; q < len(secretPatterns); q++ {
			if chosen[q].c == chosen[p].c {
				pending |= 1 << q
			}
		}
		searched |= pending
		for i := 0; pending != 0 && i < len(b); i++ {
			j := bytes.IndexByte(b[i:], chosen[p].c)
			if j < 0 {
				break
			}
			i += j
			for q := p; q < len(secretPatterns); q++ {
				if pending&(1<<q) != 0 {
					if start, _ := secretPatterns[q].at(b, i+chosen[q].shift, 0); start >= 0 {
						found |= 1 << q
						pending &^= 1 << q
					}
				}
			}
		}
	}
	var kinds []string
	for p := range secretPatterns {
		if found&(1<<p) != 0 {
			kinds = append(kinds, secretPatterns[p].kind)
		}
	}
	return kinds
}

// anchorSample is how much of a body rarestAnchor looks at; smaller bodies
// are searched for the first anchor.
const anchorSample = 4 << 10

// rarestAnchor returns the anchor that occurs least often in the middle
// anchorSample bytes of b.
func (p *secretPattern) rarestAnchor(b []byte) anchor {
	best := p.anchors[0]
	if len(p.anchors) == 1 || len(b) < 2*anchorSample {
		return best
	}
	sample := b[len(b)/2:][:anchorSample]
	fewest := bytes.Count(sample, []byte{best.c})
	for _, a := range p.anchors[1:] {
		if n := bytes.Count(sample, []byte{a.c}); n < fewest {
			best, fewest = a, n
		}
	}
	return best
}

// next returns the leftmost match in b that starts at or after from, or
// -1, -1, searching for anchor a; redaction replaces the matches one after
// another.
func (p *secretPattern) next(b []byte, from int, a anchor) (start, end int) {
	for i := from; i < len(b); i++ {
		j := bytes.IndexByte(b[i:], a.c)
		if j < 0 {
			break
		}
		i += j
		if start, end = p.at(b, i+a.shift, from); start >= 0 {
			return start, end
		}
	}
	return -1, -1
}

// ended turns the end of a match starting at s into at's result.
func ended(s, end int) (int, int) {
	if end < 0 {
		return -1, -1
	}
	return s, end
}

// privateKeyAt matches -----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY----- whose
// "PRIVATE KEY-----" is at m, walking back over the words of the key type
// to "-----BEGIN ". A walk stops at the first byte no word of the type can
// hold, and every match ends in one ('-'), so the walks of two points
// never cross.
func privateKeyAt(b []byte, m, from int) (int, int) {
	const begin, name = "-----BEGIN ", "PRIVATE KEY-----"
	if !hasAt(b, m, name) {
		return -1, -1
	}
	for q := m; ; {
		if hasAt(b, q-len(begin), begin) {
			if s := q - len(begin); s >= from {
				return s, m + len(name)
			}
			return -1, -1
		}
		if q < 2 || b[q-1] != ' ' || !upperDigit[b[q-2]] {
			return -1, -1
		}
		for q -= 2; q > 0 && upperDigit[b[q-1]]; q-- {
		}
	}
}

// githubTokenAt matches \b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,})\b
// whose first '_' is at i.
func githubTokenAt(b []byte, i, from int) (int, int) {
	if s := i - len("github"); s >= from && hasAt(b, s, "github_pat_") && wordStart(b, s) {
		// The run of word bytes ends at a word boundary.
		if end := minRun(b, s+len("github_pat_"), 60, &word); end >= 0 {
			return s, end
		}
	}
	if s := i - len("ghp"); s >= from && b[s] == 'g' && b[s+1] == 'h' && isAny(b[s+2], "pousr") && wordStart(b, s) {
		if end := fixedRun(b, i+1, 36, &alnum, true); end >= 0 {
			return s, end
		}
	}
	return -1, -1
}

// jwtAt matches \beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}
// whose ".eyJ" is at i: the payload and signature after it, then the
// leftmost header start in the run of token bytes before it. Token bytes
// hold no '.', so the header's run ends at i and is walked for no other
// point.
func jwtAt(b []byte, i, from int) (int, int) {
	const anchor, minSegment = ".eyJ", 8
	if !hasAt(b, i, anchor) {
		return -1, -1
	}
	payloadEnd := runEnd(b, i+len(anchor), &wordDash)
	if payloadEnd-(i+len(anchor)) < minSegment || !hasAt(b, payloadEnd, ".") {
		return -1, -1
	}
	end := minRun(b, payloadEnd+1, minSegment, &wordDash)
	if end < 0 {
		return -1, -1
	}
	run := i
	for run > from && wordDash[b[run-1]] {
		run--
	}
	for s := run; s+len("eyJ")+minSegment <= i; s++ {
		if b[s] == 'e' && hasAt(b, s, "eyJ") && wordStart(b, s) {
			return s, end
		}
	}
	return -1, -1
}

// byteClass is a set of bytes, indexed by byte.
type byteClass [256]bool

func classOf(ranges ...string) *byteClass {
	var c byteClass
	for _, r := range ranges {
		if len(r) == 3 && r[1] == '-' {
			for x := int(r[0]); x <= int(r[2]); x++ {
				c[x] = true
			}
		} else {
			for i := 0; i < len(r); i++ {
				c[r[i]] = true
			}
		}
	}
	return &c
}

var (
	upperDigit = *classOf("A-Z", "0-9")
	alnum      = *classOf("A-Z", "a-z", "0-9")
	alnumDash  = *classOf("A-Z", "a-z", "0-9", "-")
	word       = *classOf("A-Z", "a-z", "0-9", "_") // \w, what \b tells apart
	wordDash   = *classOf("A-Z", "a-z", "0-9", "_", "-")
)

// hasAt reports whether b holds lit at s.
func hasAt(b []byte, s int, lit string) bool {
	return s >= 0 && s+len(lit) <= len(b) && string(b[s:s+len(lit)]) == lit
}

// wordStart reports \b before b[s], a word byte.
func wordStart(b []byte, s int) bool { return s == 0 || !word[b[s-1]] }

// runEnd returns the end of the run of class bytes at b[i:].
func runEnd(b []byte, i int, class *byteClass) int {
	for i < len(b) && class[b[i]] {
		i++
	}
	return i
}

// minRun matches class{n,} (greedy) at b[i:]: the end of the run, or -1
// when it is shorter than n.
func minRun(b []byte, i, n int, class *byteClass) int {
	if end := runEnd(b, i, class); end-i >= n {
		return end
	}
	return -1
}

// fixedRun matches class{n} at b[i:], followed by \b when wordEnd (the
// run's last byte being a word byte): its end, or -1.
func fixedRun(b []byte, i, n int, class *byteClass, wordEnd bool) int {
	end := i + n
	if end > len(b) {
		return -1
	}
	for _, c := range b[i:end] {
		if !class[c] {
			return -1
		}
	}
	if wordEnd && end < len(b) && word[b[end]] {
		return -1
	}
	return end
}

func isAny(c byte, set string) bool {
	for i := 0; i < len(set); i++ {
		if set[i] == c {
			return true
		}
	}
	return false
}
