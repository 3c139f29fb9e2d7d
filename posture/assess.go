package posture

import (
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// Config bounds an Assessor. Zero fields take the defaults.
type Config struct {
	// MaxSubjects caps the servers, authorization server origins and
	// resources named in OAuth requests remembered. Default 100 000.
	MaxSubjects int
	// MaxEvidence caps the event_ids kept per check outcome: the earliest
	// by time, then event_id. Default 5.
	MaxEvidence int
}

// Defaults of Config.
const (
	DefaultMaxSubjects = 100_000
	DefaultMaxEvidence = 5
	// maxManifests caps the distinct manifests remembered per server: two
	// already fail manifest-stable.
	maxManifests = 8
	// maxAuthorizationServers caps the authorization servers remembered
	// per server.
	maxAuthorizationServers = 16
	// minSessionIDLength is the shortest session id that passes
	// session-id-quality: 16 characters of base32 or hex carry 64 to 80
	// bits, the least a random id guessed online should have.
	minSessionIDLength = 16
	// currentRevision is the first MCP revision in which the server is an
	// OAuth resource server (PRM, audience binding).
	currentRevision = "2025-06-18"
)

// Stats counts what an Assessor took in and dropped.
type Stats struct {
	Events          int64
	SubjectsDropped int64
}

// Result is one check of a scorecard.
type Result struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	// Evidence are the event_ids that decided the status: of the failing
	// observations for a fail, of the passing ones for a pass.
	Evidence []string `json:"evidence"`
	// Sources are the kinds of source of the evidence: pcap, iface, tap,
	// probe.
	Sources []string `json:"sources,omitempty"`
	Spec    string   `json:"spec"`
}

// Scorecard is the posture of one MCP server.
type Scorecard struct {
	ServerKey    string    `json:"server_key"`
	Grade        string    `json:"grade"`
	GradeReasons []string  `json:"grade_reasons,omitempty"`
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	// TLSOnly marks a server seen only as TLS connections (a server name
	// that looks like MCP); nothing of its MCP traffic could be checked.
	TLSOnly bool `json:"tls_only,omitempty"`
	// Sources are the kinds of source that saw the server.
	Sources []string `json:"sources"`
	Checks  []Result `json:"checks"`
}

// Assessor builds scorecards from events. It is not safe for concurrent
// use.
type Assessor struct {
	cfg      Config
	subjects map[string]*subject
	// byKey finds a subject by the key as events spell it, sparing a URL
	// parse per event.
	byKey map[string]*subject
	stats Stats
}

// NewAssessor returns an empty Assessor.
func NewAssessor(cfg Config) *Assessor {
	if cfg.MaxSubjects <= 0 {
		cfg.MaxSubjects = DefaultMaxSubjects
	}
	if cfg.MaxEvidence <= 0 {
		cfg.MaxEvidence = DefaultMaxEvidence
	}
	return &Assessor{cfg: cfg, subjects: map[string]*subject{}, byKey: map[string]*subject{}}
}

// Stats returns the counters.
func (a *Assessor) Stats() Stats { return a.stats }

// ref is one piece of evidence.
type ref struct {
	ts     time.Time
	id     string
	source string
}

func (r ref) before(o ref) bool {
	if !r.ts.Equal(o.ts) {
		return r.ts.Before(o.ts)
	}
	return r.id < o.id
}

// evidence is the earliest refs of an outcome, in order, without repeats.
type evidence []ref

func (e *evidence) add(r ref, limit int) {
	i := sort.Search(len(*e), func(i int) bool { return !(*e)[i].before(r) })
	if i < len(*e) && (*e)[i].id == r.id || i >= limit {
		return
	}
	*e = slices.Insert(*e, i, r)
	if len(*e) > limit {
		*e = (*e)[:limit]
	}
}

func (e *evidence) merge(o evidence, limit int) {
	for _, r := range o {
		e.add(r, limit)
	}
}

// outcome is what was observed of one check of one subject.
type outcome struct{ pass, fail evidence }

// subject is what is known of one server URL, or of one origin (an
// authorization server, a root PRM document), keyed by its canonical URL.
type subject struct {
	key         string // as first seen
	scheme      string // of key
	loopback    bool   // key names the local host
	server      bool   // an MCP event (or a TLS flow) names it
	tlsOnly     bool   // no MCP event, a TLS flow with an MCP hint
	first, last time.Time
	sources     []string
	checks      []outcome           // by place in Checks
	authServers []string            // canonical origins its PRM documents list
	manifests   map[string]evidence // manifest hash → its events
	asMetadata  outcome             // as an authorization server: its metadata fetches
	unboundPKCE outcome             // as an authorization server: PKCE of requests without resource=, and PKCE advertised
	noResource  evidence            // as an authorization server: requests without resource=
	// rootPRMResources are, for an origin, the resources its root PRM
	// documents name, each with the documents that name it.
	rootPRMResources map[string]evidence
}

func (a *Assessor) subject(key string) *subject {
	if key == "" {
		return nil
	}
	if s := a.byKey[key]; s != nil {
		return s
	}
	canon := event.CanonicalURL(key)
	s := a.subjects[canon]
	if s == nil {
		if len(a.subjects) >= a.cfg.MaxSubjects {
			a.stats.SubjectsDropped++
			return nil
		}
		s = &subject{key: key, checks: make([]outcome, len(Checks))}
		if u, err := url.Parse(key); err == nil {
			s.scheme, s.loopback = u.Scheme, event.IsLoopbackHost(u.Hostname())
		}
		a.subjects[canon] = s
	}
	if len(a.byKey) < a.cfg.MaxSubjects {
		a.byKey[key] = s
	}
	return s
}

func (s *subject) touch(ev *event.Event, src string) {
	if s.first.IsZero() || ev.TS.Before(s.first) {
		s.first = ev.TS
	}
	if ev.TS.After(s.last) {
		s.last = ev.TS
	}
	if i, found := slices.BinarySearch(s.sources, src); !found && src != "" {
		s.sources = slices.Insert(s.sources, i, src)
	}
}

func (a *Assessor) note(o *outcome, pass bool, r ref) {
	if pass {
		o.pass.add(r, a.cfg.MaxEvidence)
	} else {
		o.fail.add(r, a.cfg.MaxEvidence)
	}
}

func (a *Assessor) check(s *subject, id string, pass bool, r ref) {
	a.note(&s.checks[checkIndex[id]], pass, r)
}

// Observe takes in one event.
func (a *Assessor) Observe(ev *event.Event) {
	a.stats.Events++
	r := ref{ts: ev.TS, id: ev.EventID, source: event.SourceKind(ev.Source)}
	switch ev.Kind {
	case event.KindMessage, event.KindSession, event.KindManifest:
		s := a.subject(ev.ServerKey)
		if s == nil {
			return
		}
		s.server, s.tlsOnly = true, false
		s.touch(ev, r.source)
		a.envelope(s, ev, r)
		switch ev.Kind {
		case event.KindMessage:
			a.request(s, ev, r)
		case event.KindManifest:
			a.manifest(s, ev, r)
		}
	case event.KindAuth:
		a.auth(ev, r)
	case event.KindFlow:
		if ev.AppProtocol != "tls" || ev.MCPHint == "" {
			return
		}
		if s := a.subject(event.TLSServerKey(ev)); s != nil {
			s.tlsOnly = !s.server || s.tlsOnly
			s.server = true
			s.touch(ev, r.source)
		}
	}
}

// envelope checks what every MCP event says of its transport.
func (a *Assessor) envelope(s *subject, ev *event.Event, r ref) {
	switch s.scheme {
	case "https":
		a.check(s, TransportEncrypted, true, r)
	case "http":
		loopback := s.loopback || ev.ServerAddress != "" && event.IsLoopbackHost(ev.ServerAddress)
		a.check(s, TransportEncrypted, loopback, r)
	}
	switch ev.Transport {
	case "http+sse":
		a.check(s, TransportCurrent, false, r)
	case "streamable-http":
		a.check(s, TransportCurrent, true, r)
	}
	if ev.ProtocolVersion != "" {
		a.check(s, ProtocolVersionCurrent, ev.ProtocolVersion >= currentRevision, r)
	}
	if ev.SessionID != "" {
		a.check(s, SessionIDQuality, goodSessionID(ev.SessionID), r)
	}
}

func goodSessionID(id string) bool {
	return len(id) >= minSessionIDLength && strings.Trim(id, "0123456789") != ""
}

// request checks how the server answered a client's request.
func (a *Assessor) request(s *subject, ev *event.Event, r ref) {
	if ev.Direction != "c2s" || ev.MsgType != "request" || ev.HTTPStatus == 0 {
		return
	}
	ok := ev.HTTPStatus >= 200 && ev.HTTPStatus < 300
	refused := ev.HTTPStatus == 401 || ev.HTTPStatus == 403
	switch {
	case ev.AuthScheme == "none" && ok:
		a.check(s, AuthRequired, false, r)
	case ev.AuthScheme == "none" && ev.HTTPStatus == 401:
		a.check(s, AuthRequired, true, r)
	}
	if ev.AuthScheme == "bearer" && len(ev.TokenAud) > 0 && (ok || refused) &&
		!event.AudienceNames(ev.TokenAud, ev.ServerKey, event.CanonicalURL) {
		a.check(s, AudienceEnforced, refused, r)
	}
	if ev.Origin != "" && foreignOrigin(ev.Origin, ev.ServerKey) && (ok || ev.HTTPStatus == 403) {
		a.check(s, OriginValidated, !ok, r)
	}
}

// foreignOrigin reports whether an Origin header names a host other than
// the server's ("null" included).
func foreignOrigin(origin, serverKey string) bool {
	o, err := url.Parse(origin)
	if err != nil || o.Host == "" {
		return true
	}
	k, err := url.Parse(serverKey)
	return err != nil || !strings.EqualFold(o.Hostname(), k.Hostname())
}

func (a *Assessor) manifest(s *subject, ev *event.Event, r ref) {
	if ev.ManifestHash == "" {
		return
	}
	if s.manifests == nil {
		s.manifests = map[string]evidence{}
	}
	e, known := s.manifests[ev.ManifestHash]
	if !known && len(s.manifests) >= maxManifests {
		return
	}
	e.add(r, a.cfg.MaxEvidence)
	s.manifests[ev.ManifestHash] = e
}

// wellKnownPRM is where RFC 9728 puts Protected Resource Metadata; the
// server it describes is the URL with this prefix taken out of the path.
const wellKnownPRM = "/.well-known/oauth-protected-resource"

func (a *Assessor) auth(ev *event.Event, r ref) {
	switch ev.AuthEvent {
	case "challenge":
		s := a.subject(ev.ServerKey)
		if s == nil {
			return
		}
		s.touch(ev, r.source)
		a.check(s, ChallengeResourceMetadata, ev.ResourceMetadata != "", r)
	case "prm":
		a.prm(ev, r)
	case "as_metadata":
		as := a.subject(origin(ev.ServerKey))
		if as == nil {
			return
		}
		a.note(&as.asMetadata, ev.HTTPStatus == 200, r)
		if ev.HTTPStatus == 200 && len(ev.CodeChallengeMethods) > 0 {
			a.note(&as.unboundPKCE, slices.Contains(ev.CodeChallengeMethods, "S256"), r)
		}
	case "authorization_request", "token_request":
		if ev.Resource != "" {
			if s := a.subject(ev.Resource); s != nil {
				a.check(s, ResourceIndicator, true, r)
				if ev.AuthEvent == "authorization_request" {
					a.check(s, PKCES256, ev.PKCEMethod == "S256", r)
				}
			}
			return
		}
		as := a.subject(origin(ev.ServerKey))
		if as == nil {
			return
		}
		as.noResource.add(r, a.cfg.MaxEvidence)
		if ev.AuthEvent == "authorization_request" {
			a.note(&as.unboundPKCE, ev.PKCEMethod == "S256", r)
		}
	}
}

// prm records a Protected Resource Metadata fetch against the server its
// URL names (RFC 9728 §3.1), or against the origin for the root document,
// which describes every server of the origin without one of its own.
func (a *Assessor) prm(ev *event.Event, r ref) {
	u, err := url.Parse(ev.ServerKey)
	if err != nil || !strings.HasPrefix(u.Path, wellKnownPRM) {
		return
	}
	described := strings.TrimPrefix(u.Path, wellKnownPRM)
	u.Path, u.RawPath, u.RawQuery = described, "", ""
	s := a.subject(u.String())
	if s == nil {
		return
	}
	served := ev.HTTPStatus == 200 && ev.PRMResource != ""
	a.check(s, PRMServed, served, r)
	if !served {
		return
	}
	if root := described == "" || described == "/"; root {
		// Which server it describes is known only when scorecards are
		// made: the origin's servers without a document of their own.
		if s.rootPRMResources == nil {
			s.rootPRMResources = map[string]evidence{}
		}
		res := event.CanonicalURL(ev.PRMResource)
		if e, known := s.rootPRMResources[res]; known || len(s.rootPRMResources) < maxAuthorizationServers {
			e.add(r, a.cfg.MaxEvidence)
			s.rootPRMResources[res] = e
		}
	} else {
		a.check(s, PRMResourceMatches, event.CanonicalURL(ev.PRMResource) == event.CanonicalURL(u.String()), r)
	}
	a.check(s, AuthorizationServers, len(ev.PRMAuthorizationServers) > 0, r)
	for _, as := range ev.PRMAuthorizationServers {
		o := event.CanonicalURL(origin(as))
		if i, found := slices.BinarySearch(s.authServers, o); !found && len(s.authServers) < maxAuthorizationServers {
			s.authServers = slices.Insert(s.authServers, i, o)
		}
	}
}

// origin is scheme://host[:port] of a URL, or "" if it has none.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
