package report

import (
	"cmp"
	"slices"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// Builder accumulates events and alerts into a Report. It is not safe for
// concurrent use.
type Builder struct {
	cfg    Config
	grader Grader

	events         map[string]int64
	from, to       time.Time
	servers        map[string]*serverState
	serversDropped int64

	alerts       Evidence
	alertMinutes map[int64][]int64 // unix minute → count per severity
	alertTotals  map[string]*Evidence
	alertsByRule map[string]*Evidence
	recent       []*event.Alert
	bulk         []*event.Alert

	authMinutes map[int64][]int64 // unix minute → count per auth series
	authTotals  map[string]*Evidence

	talkers        map[[2]string]*Talker
	talkersDropped int64
	protocols      map[string]*Evidence
	captures       []Capture
}

var severities = []string{"low", "medium", "high", "critical"}

// authSeries are the auth events counted as failures.
var authSeries = [...]string{"challenge", "forbidden", "insufficient_scope"}

// maxManifests caps the distinct manifests remembered per server.
const maxManifests = 16

type serverState struct {
	name, version                       string
	versions, transports, clients       map[string]bool
	sessions, toolCalls, alerts, authFl Evidence
	bytes                               int64
	tools                               map[string]*Evidence
	unexpected                          bool
	storedClients                       int // AddStoredServer's count
	first, last                         time.Time
	manifests                           map[string]*manifest
}

type manifest struct {
	ts    time.Time
	id    string
	tools map[string]event.Tool
}

// NewBuilder returns an empty Builder; grader may be nil.
func NewBuilder(cfg Config, grader Grader) *Builder {
	return &Builder{
		cfg: cfg.withDefaults(), grader: grader,
		events: map[string]int64{}, servers: map[string]*serverState{},
		alertMinutes: map[int64][]int64{}, alertTotals: map[string]*Evidence{}, alertsByRule: map[string]*Evidence{},
		authMinutes: map[int64][]int64{}, authTotals: map[string]*Evidence{},
		talkers: map[[2]string]*Talker{}, protocols: map[string]*Evidence{},
	}
}

func (b *Builder) add(e *Evidence, id string) {
	e.Count++
	if len(e.IDs) < b.cfg.MaxEvidence && id != "" {
		e.IDs = append(e.IDs, id)
	}
}

func (b *Builder) seen(ts time.Time) {
	if ts.IsZero() {
		return
	}
	if b.from.IsZero() || ts.Before(b.from) {
		b.from = ts
	}
	if ts.After(b.to) {
		b.to = ts
	}
}

func evidenceOf(m map[string]*Evidence, key string) *Evidence {
	e := m[key]
	if e == nil {
		e = &Evidence{}
		m[key] = e
	}
	return e
}

// server is the state of key, nil past MaxServers.
func (b *Builder) server(key string) *serverState {
	if key == "" {
		return nil
	}
	s := b.servers[key]
	if s == nil {
		if len(b.servers) >= b.cfg.MaxServers {
			b.serversDropped++
			return nil
		}
		s = &serverState{versions: map[string]bool{}, transports: map[string]bool{}, clients: map[string]bool{},
			tools: map[string]*Evidence{}, manifests: map[string]*manifest{}}
		b.servers[key] = s
	}
	return s
}

// Observe adds one event.
func (b *Builder) Observe(ev *event.Event) {
	if b.grader != nil {
		b.grader.Observe(ev)
	}
	b.events[string(ev.Kind)]++
	b.seen(ev.TS)
	s := b.server(ev.ServerKey)
	if s != nil {
		if s.first.IsZero() || ev.TS.Before(s.first) {
			s.first = ev.TS
		}
		if ev.TS.After(s.last) {
			s.last = ev.TS
			s.name, s.version = cmp.Or(ev.ServerName, s.name), cmp.Or(ev.ServerVersion, s.version)
		}
		if ev.ProtocolVersion != "" {
			s.versions[ev.ProtocolVersion] = true
		}
		if ev.Transport != "" {
			s.transports[ev.Transport] = true
		}
		if ev.ClientAddress != "" && len(s.clients) < b.cfg.MaxServers {
			s.clients[ev.ClientAddress] = true
		}
	}
	switch ev.Kind {
	case event.KindMessage:
		if s != nil && ev.MsgType == "request" && ev.Method == "tools/call" {
			b.add(&s.toolCalls, ev.EventID)
			if ev.ToolName != "" {
				b.add(evidenceOf(s.tools, ev.ToolName), ev.EventID)
			}
		}
		if s != nil {
			s.bytes += ev.Bytes
		}
		b.talk(ev.ClientAddress, ev.ServerKey, ev.Bytes, ev.EventID)
	case event.KindSession:
		if s != nil {
			b.add(&s.sessions, ev.EventID)
		}
		b.add(evidenceOf(b.protocols, cmp.Or(ev.ProtocolVersion, "unknown")), ev.EventID)
	case event.KindAuth:
		for i, name := range authSeries {
			if ev.AuthEvent == name {
				countMinute(b.authMinutes, ev.TS, i, len(authSeries))
				b.add(evidenceOf(b.authTotals, name), ev.EventID)
				if s != nil {
					b.add(&s.authFl, ev.EventID)
				}
			}
		}
	case event.KindManifest:
		if s != nil {
			b.manifest(s, ev)
		}
	case event.KindFlow:
		b.talk(ev.ClientAddress, cmp.Or(ev.ServerKey, ev.TLSSNI, ev.ServerAddress), ev.BytesC2S+ev.BytesS2C, ev.EventID)
	}
}

// countMinute counts one in series i of ts's minute.
func countMinute(m map[int64][]int64, ts time.Time, i, series int) {
	minute := ts.Unix() / 60
	c := m[minute]
	if c == nil {
		c = make([]int64, series)
		m[minute] = c
	}
	c[i]++
}

func (b *Builder) talk(client, server string, bytes int64, id string) {
	if client == "" || server == "" {
		return
	}
	key := [2]string{client, server}
	t := b.talkers[key]
	if t == nil {
		if len(b.talkers) >= 100*b.cfg.MaxServers {
			b.talkersDropped++
			return
		}
		t = &Talker{Client: client, Server: server}
		b.talkers[key] = t
	}
	t.Bytes += bytes
	b.add(&t.Evidence, id)
}

// manifest keeps the earliest sighting of each distinct tool set.
func (b *Builder) manifest(s *serverState, ev *event.Event) {
	m := s.manifests[ev.ManifestHash]
	if m == nil {
		if len(s.manifests) >= maxManifests {
			return
		}
		tools := make(map[string]event.Tool, len(ev.Tools))
		for _, t := range ev.Tools {
			tools[t.Name] = t
		}
		s.manifests[ev.ManifestHash] = &manifest{ts: ev.TS, id: ev.EventID, tools: tools}
		return
	}
	if ev.TS.Before(m.ts) {
		m.ts, m.id = ev.TS, ev.EventID
	}
}

// ObserveAlert adds one alert.
func (b *Builder) ObserveAlert(a *event.Alert) {
	b.seen(a.TS)
	b.add(&b.alerts, a.AlertID)
	sev := slices.Index(severities, a.Severity)
	if sev >= 0 {
		countMinute(b.alertMinutes, a.TS, sev, len(severities))
		b.add(evidenceOf(b.alertTotals, a.Severity), a.AlertID)
	}
	b.add(evidenceOf(b.alertsByRule, a.RuleID), a.AlertID)
	if s := b.server(a.ServerKey); s != nil {
		b.add(&s.alerts, a.AlertID)
		if a.Category == "unexpected_server" {
			s.unexpected = true
		}
	}
	b.recent = keepLatest(append(b.recent, a), b.cfg.RecentAlerts)
	if a.Category == "bulk_transfer" {
		b.bulk = keepLatest(append(b.bulk, a), b.cfg.TopN)
	}
}

// keepLatest trims list to the n latest alerts once it holds twice that,
// so keeping them costs amortised O(log n) per alert.
func keepLatest(list []*event.Alert, n int) []*event.Alert {
	if len(list) < 2*n {
		return list
	}
	sortAlerts(list)
	return slices.Clip(list[:n])
}

func sortAlerts(list []*event.Alert) {
	slices.SortFunc(list, func(x, y *event.Alert) int {
		return cmp.Or(y.TS.Compare(x.TS), cmp.Compare(x.AlertID, y.AlertID))
	})
}

// AddCapture adds the capture's counters of one input.
func (b *Builder) AddCapture(c Capture) { b.captures = append(b.captures, c) }

// StoredServer is a server's row of the store's inventory, for reports
// read back from ClickHouse: its numbers come without evidence ids.
type StoredServer struct {
	ServerKey, Name, Version          string
	ProtocolVersions, Transports      []string
	Clients                           int
	Sessions, ToolCalls, AuthFailures int64
	FirstSeen, LastSeen               time.Time
}

// AddStoredServer adds a server of the store's inventory.
func (b *Builder) AddStoredServer(st StoredServer) {
	s := b.server(st.ServerKey)
	if s == nil {
		return
	}
	s.name, s.version, s.first, s.last = st.Name, st.Version, st.FirstSeen, st.LastSeen
	b.seen(st.FirstSeen)
	b.seen(st.LastSeen)
	for _, v := range st.ProtocolVersions {
		s.versions[v] = true
	}
	for _, t := range st.Transports {
		s.transports[t] = true
	}
	s.storedClients = st.Clients
	s.sessions.Count += st.Sessions
	s.toolCalls.Count += st.ToolCalls
	s.authFl.Count += st.AuthFailures
}
