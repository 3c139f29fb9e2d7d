package decode

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/event"
)

// Auth schemes of message events.
const (
	schemeNone   = "none"
	schemeBearer = "bearer"
	schemeBasic  = "basic"
	schemeOther  = "other"
)

// Auth event kinds (auth_event).
const (
	authChallenge         = "challenge"
	authForbidden         = "forbidden"
	authInsufficientScope = "insufficient_scope"
	authPRM               = "prm"
	authASMetadata        = "as_metadata"
	authAuthorization     = "authorization_request"
	authToken             = "token_request"
	authRegistration      = "registration"
)

const (
	maxWWWAuthenticate = 1024
	// maxCodeChallengeMethods and maxCodeChallengeMethod cap what an
	// authorization server's metadata puts in an event.
	maxCodeChallengeMethods = 8
	maxCodeChallengeMethod  = 32
	// maxCredentials bounds the cache of parsed credentials; clients reuse
	// a handful of tokens, so clearing it when full costs little.
	maxCredentials = 4096
)

// credential is what events may carry of an Authorization header: the
// scheme, an HMAC fingerprint and unverified JWT claims — never the token.
type credential struct {
	scheme   string
	tokenID  string
	iss      string
	aud      []string
	scope    string
	clientID string
	exp      *time.Time
}

// credentialCache fingerprints credentials and remembers their claims, so a
// session's hundred requests with one token decode its JWT once.
type credentialCache struct {
	key    []byte
	claims map[string]*credential
	none   credential
}

// parse reads an Authorization header value.
func (c *credentialCache) parse(h string) *credential {
	h = strings.TrimSpace(h)
	if h == "" {
		c.none.scheme = schemeNone
		return &c.none
	}
	scheme, secret, _ := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	// The fingerprint covers the credential alone, so the same token gets
	// the same token_id however its scheme is spelled. A scheme without a
	// credential (access logs keep only the scheme word) has none: a
	// fingerprint of nothing would tie every such request to one token.
	id := ""
	if secret != "" {
		mac := hmac.New(sha256.New, c.key)
		mac.Write([]byte(secret))
		id = hex.EncodeToString(mac.Sum(nil)[:16])
	}
	key := strings.ToLower(scheme) + " " + id
	if cr := c.claims[key]; cr != nil {
		return cr
	}
	cr := &credential{tokenID: id}
	switch strings.ToLower(scheme) {
	case "bearer":
		cr.scheme = schemeBearer
		cr.jwtClaims(secret)
	case "basic":
		cr.scheme = schemeBasic
	default:
		cr.scheme = schemeOther
	}
	if len(c.claims) >= maxCredentials {
		clear(c.claims)
	}
	c.claims[key] = cr
	return cr
}

// jwtClaims reads the claims of a JWS compact token without verifying it:
// the sensor reports what a token says, detection decides what to trust.
func (cr *credential) jwtClaims(token string) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return
	}
	var cl struct {
		Iss      string          `json:"iss"`
		Aud      json.RawMessage `json:"aud"`
		Scope    string          `json:"scope"`
		Scp      json.RawMessage `json:"scp"`
		Exp      json.Number     `json:"exp"`
		Azp      string          `json:"azp"`
		ClientID string          `json:"client_id"`
	}
	if json.Unmarshal(payload, &cl) != nil {
		return
	}
	cr.iss = cl.Iss
	cr.aud = stringOrList(cl.Aud)
	cr.scope = cl.Scope
	if cr.scope == "" {
		cr.scope = strings.Join(stringOrList(cl.Scp), " ")
	}
	cr.clientID = cl.Azp
	if cr.clientID == "" {
		cr.clientID = cl.ClientID
	}
	if f, err := cl.Exp.Float64(); err == nil && f > 0 {
		t := time.Unix(int64(f), 0).UTC()
		cr.exp = &t
	}
}

func stringOrList(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil
		}
		return []string{one}
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return many
	}
	return nil
}

// apply copies the credential into ev.
func (cr *credential) apply(ev *event.Event) {
	ev.AuthScheme = cr.scheme
	ev.TokenID = cr.tokenID
	ev.TokenIss, ev.TokenAud, ev.TokenScope = cr.iss, cr.aud, cr.scope
	ev.TokenClientID, ev.TokenExp = cr.clientID, cr.exp
}

// challenge is one challenge of a WWW-Authenticate header.
type challenge struct {
	scheme string
	params map[string]string
}

// parseWWWAuthenticate splits a WWW-Authenticate value (RFC 9110 §11.6.1)
// into challenges. Commas separate both challenges and parameters; a token
// not followed by '=' starts the next challenge. Malformed input yields
// whatever challenges were read before it went wrong.
func parseWWWAuthenticate(h string) []challenge {
	var out []challenge
	p := &headerScanner{s: h}
	for {
		p.skipSep()
		if p.i >= len(p.s) {
			return out
		}
		scheme := p.token()
		if scheme == "" {
			p.i++ // a byte no rule accepts: step over it
			continue
		}
		ch := challenge{scheme: scheme, params: map[string]string{}}
		for {
			p.skipSep()
			mark := p.i
			name := p.token()
			if name == "" {
				break
			}
			p.skipSpace()
			if !p.consume('=') {
				p.i = mark // a scheme: the next challenge starts here
				break
			}
			p.skipSpace()
			if p.peek() == '=' || p.peek() == ',' || p.peek() == 0 {
				for p.consume('=') { // token68 padding, e.g. "abc=="
				}
				continue
			}
			ch.params[strings.ToLower(name)] = p.value()
		}
		out = append(out, ch)
	}
}

type headerScanner struct {
	s string
	i int
}

func (p *headerScanner) peek() byte {
	if p.i >= len(p.s) {
		return 0
	}
	return p.s[p.i]
}

func (p *headerScanner) consume(c byte) bool {
	if p.peek() == c && c != 0 {
		p.i++
		return true
	}
	return false
}

func (p *headerScanner) skipSpace() {
	for p.peek() == ' ' || p.peek() == '\t' {
		p.i++
	}
}

func (p *headerScanner) skipSep() {
	for c := p.peek(); c == ' ' || c == '\t' || c == ','; c = p.peek() {
		p.i++
	}
}

// token reads an RFC 9110 token (plus '/' for token68 values).
func (p *headerScanner) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// value reads a token or a quoted string.
func (p *headerScanner) value() string {
	if !p.consume('"') {
		return p.token()
	}
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return b.String()
		case c == '\\' && p.i < len(p.s):
			b.WriteByte(p.s[p.i])
			p.i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~/", c) >= 0
}

// authEvents emits the auth events of an exchange: challenges and refusals,
// metadata documents, and OAuth requests. resp is nil when the connection
// ended before a response.
func (d *Decoder) authEvents(ex *exchange, resp *capture.Response) {
	ts := ex.time
	if resp != nil {
		ts = resp.Time
	}
	ev := d.envelope(event.KindAuth, ts, ex.cs.conn, ex.serverKey, ex.sess, strconv.Itoa(ex.seq), "auth")
	ev.HTTPMethod, ev.HTTPPath, ev.HTTPStatus, ev.UserAgent = ex.method, ex.path, ex.status, ex.userAgent
	ev.AuthScheme, ev.TokenID = ex.cred.scheme, ex.cred.tokenID
	if ex.headerBytes > 0 {
		ev.HeaderBytes = ex.headerBytes
	}
	r := redactor{known: ex.secret}
	defer func() {
		d.stats.Redacted += int64(r.n)
	}()
	switch {
	case resp != nil && (resp.StatusCode == 401 || resp.StatusCode == 403):
		ev.AuthEvent = authChallenge
		if resp.StatusCode == 403 {
			ev.AuthEvent = authForbidden
		}
		raw := strings.Join(resp.Header["Www-Authenticate"], ", ")
		// Redacted before it is cut, so that no credential is cut in
		// half; read no further than four times what is kept.
		ev.WWWAuthenticate = capString(r.text(capString(raw, 4*maxWWWAuthenticate)), maxWWWAuthenticate)
		if ch := bearerChallenge(parseWWWAuthenticate(raw)); ch != nil {
			ev.ResourceMetadata, ev.Scope, ev.Error = r.uri(ch.params["resource_metadata"]), r.text(ch.params["scope"]), r.text(ch.params["error"])
		}
		if ev.Error == "insufficient_scope" {
			ev.AuthEvent = authInsufficientScope
		}
	case strings.HasPrefix(ex.path, "/.well-known/oauth-protected-resource"):
		ev.AuthEvent = authPRM
		if resp != nil && resp.StatusCode == 200 {
			var prm struct {
				Resource             string   `json:"resource"`
				AuthorizationServers []string `json:"authorization_servers"`
				ScopesSupported      []string `json:"scopes_supported"`
			}
			if json.Unmarshal(resp.Body, &prm) == nil {
				ev.PRMResource = r.uri(prm.Resource)
				for _, as := range prm.AuthorizationServers {
					ev.PRMAuthorizationServers = append(ev.PRMAuthorizationServers, r.uri(as))
				}
				ev.Scope = strings.Join(prm.ScopesSupported, " ")
			}
		}
	case strings.HasPrefix(ex.path, "/.well-known/oauth-authorization-server"),
		strings.HasPrefix(ex.path, "/.well-known/openid-configuration"):
		ev.AuthEvent = authASMetadata
		if resp != nil && resp.StatusCode == 200 {
			var meta struct {
				CodeChallengeMethods []string `json:"code_challenge_methods_supported"`
			}
			if json.Unmarshal(resp.Body, &meta) == nil {
				// Method names are short; a list is only as long as the
				// methods RFC 7636 defines, times a margin.
				for _, m := range meta.CodeChallengeMethods[:min(len(meta.CodeChallengeMethods), maxCodeChallengeMethods)] {
					ev.CodeChallengeMethods = append(ev.CodeChallengeMethods, capString(m, maxCodeChallengeMethod))
				}
			}
		}
	case ex.method == "GET" && ex.query.Get("response_type") != "" && ex.query.Get("client_id") != "":
		ev.AuthEvent = authAuthorization
		q := ex.query
		ev.Resource, ev.ClientID, ev.Scope = r.uri(q.Get("resource")), q.Get("client_id"), q.Get("scope")
		ev.PKCEMethod = pkceMethod(q)
	case ex.method == "POST" && ex.form.Get("grant_type") != "":
		ev.AuthEvent = authToken
		f := ex.form
		ev.GrantType, ev.Resource, ev.ClientID, ev.Scope = f.Get("grant_type"), r.uri(f.Get("resource")), f.Get("client_id"), f.Get("scope")
	case ex.method == "POST" && ex.registration:
		ev.AuthEvent = authRegistration
		if resp != nil {
			var reg struct {
				ClientID string `json:"client_id"`
			}
			if json.Unmarshal(resp.Body, &reg) == nil {
				ev.ClientID = reg.ClientID
			}
		}
	default:
		return
	}
	ev.SecretKinds = withKinds(ex.redacted, r.kinds)
	d.send(ev)
}

// pkceMethod is the PKCE method of an authorization request: the default
// (plain) when a challenge comes without a method.
func pkceMethod(q url.Values) string {
	if m := q.Get("code_challenge_method"); m != "" {
		return m
	}
	if q.Get("code_challenge") != "" {
		return "plain"
	}
	return ""
}

// BearerChallengeParams parses a WWW-Authenticate value and returns the
// parameters (lower-case names) of its Bearer challenge, or of its first
// challenge; nil when it has none.
func BearerChallengeParams(h string) map[string]string {
	if ch := bearerChallenge(parseWWWAuthenticate(h)); ch != nil {
		return ch.params
	}
	return nil
}

// bearerChallenge picks the Bearer challenge, or the first one.
func bearerChallenge(chs []challenge) *challenge {
	for i := range chs {
		if strings.EqualFold(chs[i].scheme, "bearer") {
			return &chs[i]
		}
	}
	if len(chs) > 0 {
		return &chs[0]
	}
	return nil
}

func capString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
