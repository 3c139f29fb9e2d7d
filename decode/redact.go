package decode

import (
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/mcpwatch/mcpwatch/event"
)

// Redaction: the free text and URIs events carry — a JSON-RPC error
// message, a WWW-Authenticate challenge, a resource URI, the path of a
// server_key — are written by servers and clients that sometimes quote the
// credential they were handed. Every credential found in them is replaced
// by a marker, [REDACTED:<kind>], before the event leaves the decoder, and
// the kind joins the event's secret_kinds. What is matched:
//
//   - the credential of the exchange's own Authorization header, wherever
//     it is quoted (kind "credential");
//   - a value after a credential-named key: access_token=…, "password":
//     "…", client_secret: … (kind: the key, lower-cased);
//   - a token after a credential word: "token abc123…", "Bearer …";
//   - JWTs and the secretPatterns kinds (aws_access_key, github_token, …);
//   - long opaque strings mixing upper case, lower case and digits
//     (kind "opaque_token");
//   - in URIs, additionally every query and fragment parameter named like
//     a credential and a userinfo password.

// redactPrefix starts every marker; text already holding one is not
// matched again.
const redactPrefix = "[REDACTED:"

func redactMarker(kind string) string { return redactPrefix + kind + "]" }

// credentialNames are parameter and key names whose values are credentials,
// lower-cased with '-' and '.' as '_'.
var credentialNames = map[string]bool{
	"access_token": true, "refresh_token": true, "id_token": true, "token": true, "auth_token": true,
	"api_key": true, "apikey": true, "key": true, "code": true, "code_verifier": true,
	"client_secret": true, "secret": true, "password": true, "passwd": true, "pwd": true, "pass": true,
	"sig": true, "signature": true, "x_amz_signature": true, "x_amz_credential": true,
	"x_amz_security_token": true, "x_goog_signature": true, "x_goog_credential": true,
	"jwt": true, "assertion": true, "client_assertion": true, "session_token": true,
	"private_token": true, "auth": true, "authorization": true, "bearer": true,
	"credential": true, "credentials": true,
}

// credentialSuffixes extend credentialNames: github_token, db_password,
// x_api_key, …
var credentialSuffixes = []string{"_token", "_secret", "_password", "_key", "_signature", "apikey"}

// credentialKind returns the kind a credential-named key reports, "" when
// name does not name a credential.
func credentialKind(name string) string {
	if name == "" || len(name) > 64 {
		return ""
	}
	if dec, err := url.QueryUnescape(name); err == nil {
		name = dec
	}
	n := strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		case r == '-' || r == '.':
			return '_'
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return -1
	}, name)
	if n == "" {
		return ""
	}
	if credentialNames[n] {
		return n
	}
	for _, suf := range credentialSuffixes {
		if strings.HasSuffix(n, suf) && len(n) > len(suf) {
			return n
		}
	}
	return ""
}

// credentialWords are words after which a token-looking word is taken for
// a credential in prose ("invalid token mcp_pat_1234", "Bearer abc…").
var credentialWords = map[string]string{
	"token": "token", "bearer": "bearer", "secret": "secret", "password": "password",
	"key": "key", "apikey": "api_key", "jwt": "jwt", "credential": "credential", "signature": "signature",
}

// redactor collects the kinds a redaction found.
type redactor struct {
	known string // the exchange's own credential, "" when none
	kinds []string
	n     int // redactions made
}

func (r *redactor) found(kind string) {
	r.n++
	for _, k := range r.kinds {
		if k == kind {
			return
		}
	}
	r.kinds = append(r.kinds, kind)
}

// clean is the fast path: text holding none of the bytes the key and word
// rules need ('=' or ':' of a key, a space before a token, '.' of a JWT),
// not the exchange's credential, no long run and no secret pattern is left
// alone.
func (r *redactor) clean(s string) bool {
	if r.known != "" && strings.Contains(s, r.known) {
		return false
	}
	// Every secretPatterns match is at least 15 bytes long.
	return !strings.ContainsAny(s, "=: .\"'") && !longRun(s) && (len(s) < 15 || findSecrets([]byte(s)) == nil)
}

// text redacts free text: an error message, a challenge.
func (r *redactor) text(s string) string {
	if s == "" || r.clean(s) {
		return s
	}
	s = r.knownCredential(s)
	s = r.patterns(s)
	s = r.keyValues(s)
	s = r.words(s)
	return r.opaque(s)
}

// uri redacts a URI or a path: its query and fragment parameters and
// userinfo password, then whatever text would be redacted.
func (r *redactor) uri(s string) string {
	if s == "" {
		return s
	}
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i] + r.params(s[i:])
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok && scheme != "" && !strings.ContainsAny(scheme, "/?#@") {
		authEnd := strings.IndexAny(rest, "/?#")
		if authEnd < 0 {
			authEnd = len(rest)
		}
		auth := rest[:authEnd]
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			if user, pw, ok := strings.Cut(auth[:at], ":"); ok && pw != "" && !strings.HasPrefix(pw, redactPrefix) {
				r.found("password")
				s = scheme + "://" + user + ":" + redactMarker("password") + auth[at:] + rest[authEnd:]
			}
		}
	}
	if r.clean(s) {
		return s
	}
	s = r.knownCredential(s)
	return r.opaque(r.patterns(s))
}

// params redacts the credential-named parameters of a query ("?a=b&c=d")
// and a fragment ("#access_token=…", the OAuth implicit flow).
func (r *redactor) params(s string) string {
	var b strings.Builder
	for s != "" {
		b.WriteByte(s[0]) // '?', '#', '&' or ';'
		s = s[1:]
		end := strings.IndexAny(s, "&;#")
		if end < 0 {
			end = len(s)
		}
		name, value, hasValue := strings.Cut(s[:end], "=")
		if kind := credentialKind(name); kind != "" && hasValue && value != "" && !strings.HasPrefix(value, redactPrefix) {
			r.found(kind)
			b.WriteString(name)
			b.WriteByte('=')
			b.WriteString(redactMarker(kind))
		} else {
			b.WriteString(s[:end])
		}
		s = s[end:]
	}
	return b.String()
}

func (r *redactor) knownCredential(s string) string {
	// A credential of a few bytes would redact common words.
	if len(r.known) < 8 || !strings.Contains(s, r.known) {
		return s
	}
	r.found("credential")
	return strings.ReplaceAll(s, r.known, redactMarker("credential"))
}

// patterns replaces JWTs and the secretPatterns kinds.
func (r *redactor) patterns(s string) string {
	b := []byte(s)
	for _, p := range secretPatterns {
		a := p.anchors[0]
		start, end := p.next(b, 0, a)
		if start < 0 {
			continue
		}
		r.found(p.kind)
		var out []byte
		last := 0
		for ; start >= 0; start, end = p.next(b, end, a) {
			out = append(append(out, b[last:start]...), redactMarker(p.kind)...)
			last = end
		}
		b = append(out, b[last:]...)
	}
	return string(b)
}

// opaque replaces long random-looking tokens no other rule named.
func (r *redactor) opaque(s string) string {
	if !longRun(s) {
		return s
	}
	return opaqueToken.ReplaceAllStringFunc(s, func(m string) string {
		if !mixed(m) {
			return m
		}
		r.found("opaque_token")
		return redactMarker("opaque_token")
	})
}

// opaqueToken is a run long enough to be a random credential; mixed decides.
var opaqueToken = regexp.MustCompile(`[A-Za-z0-9_\-+/~]{24,}={0,2}`)

// longRun reports whether s has 24 token bytes in a row, which opaqueToken
// needs: most text has none, and the check is cheaper than the regexp.
func longRun(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if isCredByte(s[i]) {
			if n++; n >= 24 {
				return true
			}
		} else {
			n = 0
		}
	}
	return false
}

// mixed reports a random-looking token: upper case, lower case and digits
// all present. Words, paths, UUIDs and hex digests are not.
func mixed(b string) bool {
	var up, low, dig bool
	for _, c := range []byte(b) {
		switch {
		case c >= 'A' && c <= 'Z':
			up = true
		case c >= 'a' && c <= 'z':
			low = true
		case c >= '0' && c <= '9':
			dig = true
		}
	}
	return up && low && dig
}

func isCredByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// valueEnd is the end of a value starting at s[i]: it stops at space,
// quotes and the separators of queries, lists and markup.
func valueEnd(s string, i int) int {
	for i < len(s) && !strings.ContainsRune(" \t\r\n\"'&,;<>()[]{}", rune(s[i])) {
		i++
	}
	return i
}

// keyValues redacts the value after a credential-named key: key=value,
// key: value, "key":"value", key="value".
func (r *redactor) keyValues(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '=' && c != ':' {
			continue
		}
		// The key: name bytes before the separator, maybe in quotes.
		j := i
		if j > 0 && (s[j-1] == '"' || s[j-1] == '\'') {
			j--
		}
		k := j
		for k > 0 && isNameByte(s[k-1]) {
			k--
		}
		kind := credentialKind(s[k:j])
		if kind == "" {
			continue
		}
		v := i + 1
		for v < len(s) && (s[v] == ' ' || s[v] == '"' || s[v] == '\'') {
			v++
		}
		end := valueEnd(s, v)
		value := s[v:end]
		if value == "" || strings.HasPrefix(s[v:], redactPrefix) || (c == ':' && !tokenish(value)) {
			continue // "token: expired" is prose; "token=…" is not
		}
		if c == ':' && (strings.HasPrefix(s[v:], "//") || value[0] == '/') {
			continue // a URL scheme or a port, not a value
		}
		r.found(kind)
		b.WriteString(s[last:v])
		b.WriteString(redactMarker(kind))
		last, i = end, end-1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// words redacts a token-looking word after a credential word: "invalid
// token mcp_pat_1234_leaked", "Bearer abc…".
func (r *redactor) words(s string) string {
	var b strings.Builder
	last := 0
	kind := ""
	for i := 0; i < len(s); {
		for i < len(s) && !isNameByte(s[i]) {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		end := valueEnd(s, i)
		if end == start {
			end = start + 1
		}
		w := s[start:end]
		i = end
		if kind != "" && tokenish(w) {
			if end < len(s) && s[end] == '=' {
				kind = "" // a parameter name: Bearer realm="…"
				continue
			}
			r.found(kind)
			b.WriteString(s[last:start])
			b.WriteString(redactMarker(kind))
			last = end
		}
		kind = credentialWords[strings.ToLower(strings.Trim(w, ".,:;"))]
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// tokenish reports a word that may be a credential rather than prose: at
// least 8 credential bytes with a digit, or 20 and more.
func tokenish(w string) bool {
	if len(w) < 8 {
		return false
	}
	digit := false
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !isCredByte(c) && c != '=' {
			return false
		}
		digit = digit || c >= '0' && c <= '9'
	}
	return digit || len(w) >= 20
}

// safeURIPart percent-encodes what must not reach a server_key or a path
// from a Host header or request target: controls (C0, DEL, C1), spaces,
// bidirectional overrides and bytes that are not UTF-8. Such bytes are not
// allowed there (RFC 9110, RFC 3986); a server_key holding them would
// carry an escape sequence to every terminal and log line that shows it.
func safeURIPart(s string) string {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			break
		}
	}
	if i == len(s) {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 || r <= ' ' || event.Unprintable(r) {
			n = max(n, 1)
			for _, c := range []byte(s[i : i+n]) {
				b.WriteByte('%')
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			}
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// withKinds returns secret_kinds with more kinds added, without writing to
// a slice the caller may share.
func withKinds(kinds, more []string) []string {
	if len(more) == 0 {
		return kinds
	}
	out := append([]string(nil), kinds...)
	for _, k := range more {
		dup := false
		for _, have := range out {
			dup = dup || have == k
		}
		if !dup {
			out = append(out, k)
		}
	}
	return out
}
