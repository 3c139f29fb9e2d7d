package decode

import (
	"cmp"
	"container/list"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/event"
)

// endEvicted is the end_reason of a session pushed out of a full session
// table (Config.MaxSessions).
const endEvicted = "evicted"

// Caps on the distinct-value lists of a session event.
const (
	maxSessionMethods = 64
	maxSessionTools   = 256
)

// session is one MCP session: by Mcp-Session-Id, by legacy SSE session id,
// or a logical session of stateless traffic.
type session struct {
	key       string
	id        string // session_id as on the wire; empty when stateless
	stateless bool
	transport string
	serverKey string
	// conn and seq of the exchange that opened the session give its
	// envelope addresses and its event id.
	conn  *capture.Conn
	seq   int
	start time.Time
	last  time.Time
	ended bool
	// closedAt is when the session's last connection closed.
	closedAt time.Time
	elem     *list.Element
	conns    map[uint64]bool // open connections carrying the session
	// waiting are legacy POSTs whose messages await their HTTP response;
	// early are what the event stream said meanwhile (see holdEarly).
	waiting []*exchange
	early   []streamPart

	protocolVersion           string
	clientName, clientVersion string
	serverName, serverVersion string
	clientCaps, serverCaps    []string
	pending                   map[string]pendingRequest
	// parked are responses (by direction|id) that overtook their request.
	parked                                       map[string]parkedResponse
	listChanged                                  bool // a tools/list_changed is not yet followed by a tools/list
	manifestPages                                []event.Tool
	messagesC2S, messagesS2C, bytesC2S, bytesS2C int64
	requests, errors, toolCalls, authFailures    int64
	authenticated                                bool
	methods, tools                               []string
}

// pendingRequest is a request awaiting its response.
type pendingRequest struct {
	method    string
	name, uri string
	ts        time.Time
}

func newSession(key string, ex *exchange, transport string) *session {
	return &session{
		key:       key,
		transport: transport,
		serverKey: ex.serverKey,
		conn:      ex.cs.conn,
		seq:       ex.seq,
		start:     ex.time,
		last:      ex.time,
		conns:     map[uint64]bool{},
		pending:   map[string]pendingRequest{},
		parked:    map[string]parkedResponse{},
	}
}

// parkedResponse is a response that overtook its request: its event, and
// the identity it carries (an initialize result names the server), which
// the session learns once the request shows what it answers.
type parkedResponse struct {
	ev       *event.Event
	identity message
	// serverBefore is the server's name and version as the session knew
	// them before this response: its request's event carries those, as it
	// would have had the request come first.
	serverBefore [2]string
}

// identityOf keeps what learn reads of a message, its strings copied.
func identityOf(m *message) message {
	return message{
		protocolVersion: strings.Clone(m.protocolVersion),
		peerName:        strings.Clone(m.peerName),
		peerVersion:     strings.Clone(m.peerVersion),
		caps:            slices.Clone(m.caps),
		metaIdentity:    m.metaIdentity,
	}
}

// observation is what observe learnt about a message's request.
type observation struct {
	req       *pendingRequest // the matched request of a response
	unmatched bool
	dropped   bool // a request not tracked: MaxPendingPerSession
	// answer is the parked response of a request that came late.
	answer *parkedResponse
}

func oppositeDir(dir string) string {
	if dir == event.DirClientToServer {
		return event.DirServerToClient
	}
	return event.DirClientToServer
}

// observe updates the session with a message and matches responses to
// their requests by direction and id.
func (s *session) observe(m *message, dir string, ts time.Time, maxPending int) observation {
	var o observation
	if ts.After(s.last) {
		s.last = ts
	}
	if dir == event.DirClientToServer {
		s.messagesC2S++
		s.bytesC2S += m.bytes
	} else {
		s.messagesS2C++
		s.bytesS2C += m.bytes
	}
	switch m.msgType() {
	case event.MsgRequest:
		s.requests++
		s.methods = addDistinct(s.methods, m.method, maxSessionMethods)
		if m.method == "tools/call" {
			s.toolCalls++
			s.tools = addDistinct(s.tools, m.name, maxSessionTools)
		}
		if m.method == "tools/list" && m.cursor == "" {
			s.manifestPages = nil // a fresh listing, not the next page
		}
		if m.headerOnly {
			break // no id: its exchange pairs it with its response
		}
		if pr, ok := s.parked[oppositeDir(dir)+"|"+m.id]; ok {
			delete(s.parked, oppositeDir(dir)+"|"+m.id)
			o.answer = &pr
			break
		}
		if len(s.pending) >= maxPending {
			o.dropped = true
		} else {
			s.pending[dir+"|"+m.id] = pendingRequest{method: m.method, name: m.name, uri: m.uri, ts: ts}
		}
	case event.MsgNotification:
		s.methods = addDistinct(s.methods, m.method, maxSessionMethods)
		if m.method == "notifications/tools/list_changed" {
			s.listChanged = true
		}
	default: // response or error: its request went the other way
		k := oppositeDir(dir) + "|" + m.id
		if p, ok := s.pending[k]; ok && m.hasID {
			delete(s.pending, k)
			o.req = &p
		} else if m.answers != nil {
			o.req = m.answers
		} else {
			o.unmatched = true
		}
		if m.hasError || m.isError {
			s.errors++
		}
	}
	s.learn(m, dir, o.req)
	return o
}

// learn keeps the identity a message reveals: initialize params and result,
// or the 2026-07-28 _meta identity of any request and result.
func (s *session) learn(m *message, dir string, req *pendingRequest) {
	// An initialize result shows itself (serverInfo with protocolVersion)
	// when its request was not seen: a one-sided capture.
	initialize := m.method == "initialize" || (req != nil && req.method == "initialize") ||
		(req == nil && m.serverInfo && m.protocolVersion != "")
	if !initialize && !m.metaIdentity {
		return
	}
	if m.protocolVersion != "" && (dir == event.DirServerToClient || s.protocolVersion == "" || m.metaIdentity) {
		// The server's answer is the negotiated version; the client's ask
		// stands until then.
		s.protocolVersion = m.protocolVersion
	}
	if dir == event.DirClientToServer {
		s.clientName = cmp.Or(m.peerName, s.clientName)
		s.clientVersion = cmp.Or(m.peerVersion, s.clientVersion)
		if m.caps != nil {
			s.clientCaps = sortedCopy(m.caps)
		}
	} else {
		s.serverName = cmp.Or(m.peerName, s.serverName)
		s.serverVersion = cmp.Or(m.peerVersion, s.serverVersion)
		if m.caps != nil {
			s.serverCaps = sortedCopy(m.caps)
		}
	}
}

// fill copies the session's envelope fields into ev.
func (s *session) fill(ev *event.Event) {
	ev.ServerKey = s.serverKey
	ev.Transport = s.transport
	ev.ProtocolVersion = s.protocolVersion
	ev.SessionID = s.id
	ev.ClientName, ev.ClientVersion = s.clientName, s.clientVersion
	ev.ServerName, ev.ServerVersion = s.serverName, s.serverVersion
}

// endSession emits the session event and forgets the session.
func (d *Decoder) endSession(s *session, reason string, at time.Time) {
	if s.ended {
		return
	}
	d.releaseEarly(s)
	s.ended = true
	d.sessions.remove(s)
	delete(d.closing, s)
	d.releaseParked(s, true)
	d.stats.Unanswered += int64(len(s.pending))
	ev := d.envelope(event.KindSession, at, s.conn, s.serverKey, s, strconv.Itoa(s.seq), s.key)
	start, end := s.start.UTC(), at.UTC()
	ev.StartTS, ev.EndTS, ev.EndReason = &start, &end, reason
	ev.MessagesC2S, ev.MessagesS2C = s.messagesC2S, s.messagesS2C
	ev.BytesC2S, ev.BytesS2C = s.bytesC2S, s.bytesS2C
	ev.Requests, ev.Errors, ev.ToolCalls = s.requests, s.errors, s.toolCalls
	ev.AuthFailures, ev.Authenticated = s.authFailures, s.authenticated
	ev.Methods = sortedCopy(s.methods)
	ev.ToolsCalled = sortedCopy(s.tools)
	ev.ClientCapabilities, ev.ServerCapabilities = s.clientCaps, s.serverCaps
	d.send(ev)
}

// sessionTable holds open sessions in order of last activity, so idle
// expiry and eviction take the oldest in O(1).
type sessionTable struct {
	max   int
	byKey map[string]*session
	lru   *list.List // front: least recently active
}

func newSessionTable(max int) *sessionTable {
	return &sessionTable{max: max, byKey: map[string]*session{}, lru: list.New()}
}

func (t *sessionTable) len() int { return len(t.byKey) }

func (t *sessionTable) get(key string) *session {
	s := t.byKey[key]
	if s != nil {
		t.lru.MoveToBack(s.elem)
	}
	return s
}

func (t *sessionTable) touch(s *session) {
	if s.elem != nil {
		t.lru.MoveToBack(s.elem)
	}
}

// add inserts s and returns the session evicted to make room, if any.
func (t *sessionTable) add(s *session) (evicted *session) {
	if len(t.byKey) >= t.max {
		evicted = t.oldest()
		t.remove(evicted)
	}
	t.byKey[s.key] = s
	s.elem = t.lru.PushBack(s)
	return evicted
}

func (t *sessionTable) remove(s *session) {
	if s.elem == nil {
		return
	}
	t.lru.Remove(s.elem)
	s.elem = nil
	if t.byKey[s.key] == s {
		delete(t.byKey, s.key)
	}
}

// oldest returns the least recently active session, or nil.
func (t *sessionTable) oldest() *session {
	if e := t.lru.Front(); e != nil {
		return e.Value.(*session)
	}
	return nil
}

func addDistinct(list []string, v string, max int) []string {
	if v == "" || len(list) >= max || slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

func sortedCopy(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	out := slices.Clone(v)
	slices.Sort(out)
	return out
}

func sortedKeys[V any](m map[int]V) []int {
	return slices.Sorted(maps.Keys(m))
}

// sortedSessions orders a connection's sessions by when they started, so
// sessions closing together are emitted in a deterministic order.
func sortedSessions(m map[*session]bool) []*session {
	out := slices.Collect(maps.Keys(m))
	slices.SortFunc(out, func(a, b *session) int {
		return cmp.Or(a.start.Compare(b.start), cmp.Compare(a.key, b.key))
	})
	return out
}
