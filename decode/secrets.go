package decode

import (
	"bytes"
	"regexp"
)

// secretPattern is one kind of credential that must not travel in tool
// arguments or results. marker is a literal every match contains, so the
// regular expression runs only on the rare bodies that have it; its first
// byte should be rare in text too, since the search skips from one
// occurrence of that byte to the next (hence ".eyJ", not "eyJ").
type secretPattern struct {
	kind   string
	marker []byte
	re     *regexp.Regexp
}

// secretPatterns are matched in flight; only their kinds leave the
// decoder (Event.SecretKinds), never the matched text.
var secretPatterns = []secretPattern{
	{"private_key", []byte("PRIVATE KEY-----"), regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----`)},
	{"aws_access_key", []byte("IA"), regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"github_token", []byte("gh"), regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,})\b`)},
	{"slack_token", []byte("xox"), regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}`)},
	{"google_api_key", []byte("AIza"), regexp.MustCompile(`\bAIza[0-9A-Za-z_\-]{35}`)},
	{"stripe_key", []byte("_live_"), regexp.MustCompile(`\b[sr]k_live_[0-9A-Za-z]{20,}`)},
	{"jwt", []byte(".eyJ"), regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)},
}

// findSecrets returns the kinds of credentials in b, in pattern order.
func findSecrets(b []byte) []string {
	var kinds []string
	for _, p := range secretPatterns {
		if bytes.Contains(b, p.marker) && p.re.Match(b) {
			kinds = append(kinds, p.kind)
		}
	}
	return kinds
}
