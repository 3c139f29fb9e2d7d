package inventory

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// Server is one MCP server: a row of the servers view.
type Server struct {
	ServerKey        string    `json:"server_key"`
	FirstSeen        time.Time `json:"first_seen"`
	LastSeen         time.Time `json:"last_seen"`
	ServerName       string    `json:"server_name,omitempty"`
	ServerVersion    string    `json:"server_version,omitempty"`
	ProtocolVersions []string  `json:"protocol_versions,omitempty"`
	Transports       []string  `json:"transports,omitempty"`
	ServerAddresses  []string  `json:"server_addresses,omitempty"`
	// Sources are the kinds of source that saw it: pcap, iface, tap, probe.
	Sources               []string `json:"sources,omitempty"`
	Clients               uint64   `json:"clients"`
	Sessions              uint64   `json:"sessions"`
	Requests              uint64   `json:"requests"`
	ToolCalls             uint64   `json:"tool_calls"`
	Errors                uint64   `json:"errors"`
	AuthenticatedRequests uint64   `json:"authenticated_requests"`
	UnauthenticatedOK     uint64   `json:"unauthenticated_ok"`
	// AcceptedAudiences are the aud claims of bearer tokens it answered
	// 2xx; RefusedAudiences those of tokens it answered 401 or 403.
	AcceptedAudiences []string `json:"accepted_audiences,omitempty"`
	RefusedAudiences  []string `json:"refused_audiences,omitempty"`
	Challenges        uint64   `json:"challenges"`
	Forbidden         uint64   `json:"forbidden"`
	// PRMDocuments counts the Protected Resource Metadata documents whose
	// resource names the server, wherever they were fetched from.
	PRMDocuments         uint64   `json:"prm_documents"`
	PRMServed            bool     `json:"prm_served"`
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	AuthRequired         bool     `json:"auth_required"`
	// Allowlisted is false once unexpected-server fired for the server; it
	// is known only where the alerts are (ClickHouse).
	Allowlisted *bool `json:"allowlisted,omitempty"`
	// TLSOnly marks a server seen only as TLS connections whose SNI looks
	// like MCP, keyed https://SNI[:port].
	TLSOnly bool   `json:"tls_only,omitempty"`
	TLSSNI  string `json:"tls_sni,omitempty"`
}

// PRMResourceKey is the server a PRM document's resource names, as
// servers are keyed: without a trailing slash.
func PRMResourceKey(resource string) string { return strings.TrimSuffix(resource, "/") }

// set is a set of strings.
type set map[string]struct{}

func (s set) add(v string) {
	if v != "" {
		s[v] = struct{}{}
	}
}

func (s set) sorted() []string {
	if len(s) == 0 {
		return nil
	}
	out := make([]string, 0, len(s))
	for v := range s {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// latest keeps the value of the latest event that had one.
type latest struct {
	ts time.Time
	v  string
}

func (l *latest) see(ts time.Time, v string) {
	if v != "" && (l.v == "" || !ts.Before(l.ts)) {
		l.ts, l.v = ts, v
	}
}

type serverState struct {
	// firstEvent is the envelope of the earliest event naming the server,
	// what the unexpected-server rule judges it by.
	firstEvent                  event.Event
	first, last                 time.Time
	name, version               latest
	versions, transports, addrs set
	sources, clients, sessions  set
	requests, toolCalls, errors set
	authenticated, unauthOK     set
	accepted, refused           set
	challenges, forbidden       set
	tlsOnly                     bool
	sni                         string
}

func newServerState() *serverState {
	return &serverState{versions: set{}, transports: set{}, addrs: set{}, sources: set{}, clients: set{}, sessions: set{},
		requests: set{}, toolCalls: set{}, errors: set{}, authenticated: set{}, unauthOK: set{}, accepted: set{}, refused: set{},
		challenges: set{}, forbidden: set{}}
}

func (s *serverState) seen(ev *event.Event) {
	ts := ev.TS
	if s.first.IsZero() || ts.Before(s.first) {
		s.first = ts
		s.firstEvent = event.Event{ServerKey: ev.ServerKey, ServerAddress: ev.ServerAddress, ServerPort: ev.ServerPort}
	}
	if ts.After(s.last) {
		s.last = ts
	}
}

// Builder builds the inventory from events.
type Builder struct {
	servers     map[string]*serverState
	challenges  map[string]*serverState // auth events of servers not (yet) seen
	prmDocs     map[string]set          // server key → PRM document event ids
	authServers map[string]set
	tls         map[string]*serverState
	clients     map[clientKey]*clientState
	manifests   map[string]map[string]*manifestState // server → hash → versions
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	return &Builder{servers: map[string]*serverState{}, challenges: map[string]*serverState{}, prmDocs: map[string]set{},
		authServers: map[string]set{}, tls: map[string]*serverState{}, clients: map[clientKey]*clientState{},
		manifests: map[string]map[string]*manifestState{}}
}

// Observe takes in one event.
func (b *Builder) Observe(ev *event.Event) {
	switch ev.Kind {
	case event.KindMessage, event.KindSession:
		if ev.ServerKey == "" {
			return
		}
		s := b.server(b.servers, ev.ServerKey)
		s.seen(ev)
		s.name.see(ev.TS, ev.ServerName)
		s.version.see(ev.TS, ev.ServerVersion)
		s.versions.add(ev.ProtocolVersion)
		s.transports.add(ev.Transport)
		s.addrs.add(ev.ServerAddress)
		s.sources.add(event.SourceKind(ev.Source))
		s.clients.add(ev.ClientAddress)
		s.sessions.add(ev.SessionID)
		if ev.Kind == event.KindMessage {
			b.message(s, ev)
			b.client(ev)
		}
	case event.KindManifest:
		b.manifest(ev)
	case event.KindAuth:
		b.auth(ev)
	case event.KindFlow:
		if ev.AppProtocol != "tls" || ev.MCPHint == "" {
			return
		}
		if key := event.TLSServerKey(ev); key != "" {
			s := b.server(b.tls, key)
			s.seen(ev)
			s.tlsOnly, s.sni = true, ev.TLSSNI
			s.addrs.add(ev.ServerAddress)
			s.sources.add(event.SourceKind(ev.Source))
			s.clients.add(ev.ClientAddress)
		}
	}
}

func (b *Builder) server(m map[string]*serverState, key string) *serverState {
	s := m[key]
	if s == nil {
		s = newServerState()
		m[key] = s
	}
	return s
}

func (b *Builder) message(s *serverState, ev *event.Event) {
	if ev.MsgType == event.MsgError || ev.ToolIsError {
		s.errors.add(ev.EventID)
	}
	if ev.MsgType != event.MsgRequest {
		return
	}
	s.requests.add(ev.EventID)
	if ev.Method == "tools/call" {
		s.toolCalls.add(ev.EventID)
	}
	unauth := ev.AuthScheme == "" || ev.AuthScheme == "none"
	ok := ev.HTTPStatus >= 200 && ev.HTTPStatus < 300
	if !unauth {
		s.authenticated.add(ev.EventID)
	} else if ok {
		s.unauthOK.add(ev.EventID)
	}
	if ev.AuthScheme == "bearer" {
		for _, aud := range ev.TokenAud {
			switch {
			case ok:
				s.accepted.add(aud)
			case ev.HTTPStatus == 401 || ev.HTTPStatus == 403:
				s.refused.add(aud)
			}
		}
	}
}

func (b *Builder) auth(ev *event.Event) {
	switch ev.AuthEvent {
	case "challenge":
		b.server(b.challenges, ev.ServerKey).challenges.add(ev.EventID)
	case "forbidden", "insufficient_scope":
		b.server(b.challenges, ev.ServerKey).forbidden.add(ev.EventID)
	case "prm":
		if ev.PRMResource == "" {
			return
		}
		key := PRMResourceKey(ev.PRMResource)
		if b.prmDocs[key] == nil {
			b.prmDocs[key], b.authServers[key] = set{}, set{}
		}
		b.prmDocs[key].add(ev.EventID)
		for _, as := range ev.PRMAuthorizationServers {
			b.authServers[key].add(as)
		}
	}
}

// Servers returns the servers, most recently seen first. TLS-only servers
// come last among equals and only when no MCP event names the same key.
func (b *Builder) Servers() []Server {
	var out []Server
	for key, s := range b.servers {
		out = append(out, b.row(key, s))
	}
	for key, s := range b.tls {
		if b.servers[key] == nil {
			out = append(out, b.row(key, s))
		}
	}
	SortServers(out)
	return out
}

// ServersAllowlisted is Servers with Allowlisted set by allowed, asked of
// the earliest event naming each server (its key and addresses), as the
// unexpected-server rule judges it.
func (b *Builder) ServersAllowlisted(allowed func(*event.Event) bool) []Server {
	out := b.Servers()
	for i := range out {
		s := b.servers[out[i].ServerKey]
		if s == nil {
			s = b.tls[out[i].ServerKey]
		}
		ok := allowed(&s.firstEvent)
		out[i].Allowlisted = &ok
	}
	return out
}

// SortServers orders servers as the CLI prints them: most recently seen
// first, then by key.
func SortServers(ss []Server) {
	slices.SortFunc(ss, func(a, b Server) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		return strings.Compare(a.ServerKey, b.ServerKey)
	})
}

func (b *Builder) row(key string, s *serverState) Server {
	r := Server{
		ServerKey: key, FirstSeen: s.first, LastSeen: s.last, ServerName: s.name.v, ServerVersion: s.version.v,
		ProtocolVersions: s.versions.sorted(), Transports: s.transports.sorted(), ServerAddresses: s.addrs.sorted(),
		Sources: s.sources.sorted(), Clients: uint64(len(s.clients)), Sessions: uint64(len(s.sessions)),
		Requests: uint64(len(s.requests)), ToolCalls: uint64(len(s.toolCalls)), Errors: uint64(len(s.errors)),
		AuthenticatedRequests: uint64(len(s.authenticated)), UnauthenticatedOK: uint64(len(s.unauthOK)),
		AcceptedAudiences: s.accepted.sorted(), RefusedAudiences: s.refused.sorted(),
		PRMDocuments: uint64(len(b.prmDocs[key])), AuthorizationServers: b.authServers[key].sorted(),
		TLSOnly: s.tlsOnly, TLSSNI: s.sni,
	}
	if c := b.challenges[key]; c != nil && !s.tlsOnly {
		r.Challenges, r.Forbidden = uint64(len(c.challenges)), uint64(len(c.forbidden))
	}
	r.PRMServed = r.PRMDocuments > 0
	r.AuthRequired = r.UnauthenticatedOK == 0 && (r.AuthenticatedRequests > 0 || r.Challenges > 0)
	return r
}
