package decode

import (
	"bytes"
	"regexp"
)

// secretPattern is one kind of credential that must not travel in tool
// arguments or results. marker is a literal every match contains, so the
// regular expression runs only on the rare bodies that have it; rare is
// the index in marker of a byte rare in text, which the search for the
// marker skips to.
type secretPattern struct {
	kind   string
	marker []byte
	rare   int
	re     *regexp.Regexp
}

// secretPatterns are matched in flight; only their kinds leave the
// decoder (Event.SecretKinds), never the matched text.
var secretPatterns = []secretPattern{
	{"private_key", []byte("PRIVATE KEY-----"), 0, regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----`)},
	{"aws_access_key", []byte("IA"), 0, regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"github_token", []byte("gh"), 0, regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,})\b`)},
	{"slack_token", []byte("xox"), 0, regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}`)},
	{"google_api_key", []byte("AIza"), 0, regexp.MustCompile(`\bAIza[0-9A-Za-z_\-]{35}`)},
	{"stripe_key", []byte("_live_"), 0, regexp.MustCompile(`\b[sr]k_live_[0-9A-Za-z]{20,}`)},
	{"jwt", []byte(".eyJ"), 3, regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)},
}

// findSecrets returns the kinds of credentials in b, in pattern order.
func findSecrets(b []byte) []string {
	var kinds []string
	for _, p := range secretPatterns {
		if p.hasMarker(b) && p.re.Match(b) {
			kinds = append(kinds, p.kind)
		}
	}
	return kinds
}

// hasMarker reports whether b contains the marker, going from one
// occurrence of its rare byte to the next. bytes.Contains goes by the first
// byte instead, and the '.' of ".eyJ" is on nearly every line of text.
func (p *secretPattern) hasMarker(b []byte) bool {
	m, r := p.marker, p.rare
	for i := r; i < len(b); i++ {
		j := bytes.IndexByte(b[i:], m[r])
		if j < 0 {
			return false
		}
		i += j
		if start := i - r; start+len(m) <= len(b) && bytes.Equal(b[start:start+len(m)], m) {
			return true
		}
	}
	return false
}
