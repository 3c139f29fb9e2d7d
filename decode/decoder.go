package decode

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/event"
)

// Headers of Streamable HTTP (names as http.Header canonicalises them, as
// headerValue needs).
const (
	hdrSessionID       = "Mcp-Session-Id"
	hdrProtocolVersion = "Mcp-Protocol-Version"
	hdrMethod          = "Mcp-Method"
	hdrName            = "Mcp-Name"
)

// Decoder turns capture callbacks into events. It is not safe for
// concurrent use: capture calls it from one goroutine.
type Decoder struct {
	cfg      Config
	emit     func(*event.Event)
	conns    map[uint64]*connState
	sessions *sessionTable
	// closing holds stateful sessions whose connections have all closed.
	closing map[*session]bool
	// parkedIn holds sessions with responses waiting for their request,
	// earlyIn legacy sessions with stream messages waiting for a POST's
	// response.
	parkedIn map[*session]bool
	earlyIn  map[*session]bool
	creds    credentialCache
	// toolHashes caches canonical tool hashes by raw-bytes hash.
	toolHashes map[[32]byte]string
	// endpoints are the server_keys each client address showed to be MCP;
	// held counts the exchanges held undecided (identify.go).
	endpoints *endpointSet
	held      int
	now       time.Time // latest packet time seen
	lastSweep time.Time
	stats     Stats
	// idParts and addrs save envelope allocations: every event needs an
	// id and its endpoints' addresses as text.
	idParts []string
	addrs   addrTexts
	connIDs idTexts
}

// idTexts remembers the decimal text of recently seen connection ids
// (hashes, twenty digits: formatting one for every event allocates).
type idTexts [256]struct {
	id   uint64
	text string
}

func (t *idTexts) text(id uint64) string {
	slot := &t[id%uint64(len(t))]
	if slot.id != id || slot.text == "" {
		slot.id, slot.text = id, strconv.FormatUint(id, 10)
	}
	return slot.text
}

// addrTexts remembers the text of recently seen addresses, a few hundred
// at most: a connection's events, and a server's, come in runs.
type addrTexts [256]struct {
	addr netip.Addr
	text string
}

func (a *addrTexts) text(addr netip.Addr) string {
	b := addr.As16()
	slot := &a[b[15]^b[14]]
	if slot.addr != addr {
		slot.addr, slot.text = addr, addr.String()
	}
	return slot.text
}

var _ capture.Handler = (*Decoder)(nil)

// New returns a Decoder that calls emit for every event, synchronously from
// the Handler methods, Tick and Finish.
func New(cfg Config, emit func(*event.Event)) (*Decoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if emit == nil {
		return nil, fmt.Errorf("decode: nil emit function")
	}
	d := &Decoder{
		cfg:        cfg,
		emit:       emit,
		conns:      map[uint64]*connState{},
		closing:    map[*session]bool{},
		parkedIn:   map[*session]bool{},
		earlyIn:    map[*session]bool{},
		toolHashes: map[[32]byte]string{},
		creds:      credentialCache{key: cfg.TokenKey, claims: map[string]*credential{}},
	}
	d.sessions = newSessionTable(cfg.MaxSessions)
	d.endpoints = newEndpointSet(cfg.MaxEndpoints)
	d.stats.Events = map[string]int64{}
	return d, nil
}

// connState is what the decoder keeps per TCP connection.
type connState struct {
	conn    *capture.Conn
	mcp     bool
	mcpHost string // host of the first MCP server_key on it
	jsonrpc bool   // carried JSON-RPC
	hint    string // why a non-MCP connection may still be MCP
	open    map[int]*exchange
	// sessions carried on this connection; a stateful session ends with
	// end_reason close when the last of its connections closes.
	sessions map[*session]bool
	last     *session // the session of the latest MCP exchange
}

// exchange is one HTTP request/response pair while it is in flight.
type exchange struct {
	cs        *connState
	seq       int
	time      time.Time
	method    string
	path      string
	query     url.Values
	serverKey string
	userAgent string
	origin    string
	cred      *credential
	// secret is the credential of the request's Authorization header,
	// which the exchange's text is redacted of; it is never put in an
	// event. redacted are the kinds taken out of path and serverKey.
	secret   string
	redacted []string
	// headerBytes is the size of the request's header block when it
	// exceeded Config.LargeHeaderBytes, else 0.
	headerBytes int
	// Streamable HTTP headers of the request.
	hdrSession, hdrProtocol, hdrMethod, hdrName string
	contentType                                 string
	form                                        url.Values // urlencoded request body (token requests)
	registration                                bool
	// headerReq is the request of an exchange known from its headers only
	// (a log without bodies), for its response.
	headerReq *pendingRequest
	// msgs are the request's JSON-RPC messages, emitted once the response
	// status (and, for initialize, the session id) is known.
	msgs     []message
	flushed  bool // messages and auth events emitted
	msgsDone bool // messages emitted
	status   int
	mcp      bool
	// held: msgs are JSON-RPC not yet shown to be MCP, kept until the
	// answer decides; claimed: they carry client evidence the answer may
	// refute (identify.go).
	held, claimed bool
	sess          *session
	manif         int // index of the next manifest event of this exchange
}

func (d *Decoder) connFor(c *capture.Conn) *connState {
	cs := d.conns[c.ID]
	if cs == nil {
		cs = &connState{conn: c, open: map[int]*exchange{}, sessions: map[*session]bool{}}
		d.conns[c.ID] = cs
	}
	return cs
}

// Request implements capture.Handler.
func (d *Decoder) Request(req *capture.Request) {
	d.advance(req.Time)
	d.stats.Exchanges++
	cs := d.connFor(req.Conn)
	ex := d.newExchange(cs, req)
	cs.open[req.Seq] = ex
	if ex.mcp && legacySID(ex) != "" {
		d.bind(ex)
		s := ex.sess
		if len(s.waiting) >= d.cfg.MaxPendingPerSession {
			d.flushWaiting(s)
		}
		s.waiting = append(s.waiting, ex)
	}
}

func (d *Decoder) newExchange(cs *connState, req *capture.Request) *exchange {
	path, rawQuery, _ := strings.Cut(req.Target, "?")
	host := strings.ToLower(req.Host)
	// Origin-form ("/mcp") is the rule; only other targets can be the
	// absolute-form of a request via a proxy.
	if !strings.HasPrefix(req.Target, "/") {
		if u, err := url.Parse(req.Target); err == nil && u.IsAbs() {
			path, rawQuery, host = u.Path, u.RawQuery, strings.ToLower(u.Host)
		}
	}
	if host == "" {
		host = hostOf(cs.conn)
	}
	// Control characters in a Host header or a target are not HTTP; they
	// are kept visible but harmless, and credentials in the path go.
	red := redactor{}
	host, path = safeURIPart(host), red.uri(safeURIPart(path))
	d.stats.Redacted += int64(red.n)
	authz := headerValue(req.Header, "Authorization")
	_, secret, _ := strings.Cut(strings.TrimSpace(authz), " ")
	var query url.Values // read only: nil reads as empty
	if rawQuery != "" {
		query, _ = url.ParseQuery(rawQuery)
	}
	ex := &exchange{
		cs:          cs,
		seq:         req.Seq,
		time:        req.Time,
		method:      req.Method,
		path:        path,
		query:       query,
		serverKey:   "http://" + host + path,
		userAgent:   headerValue(req.Header, "User-Agent"),
		origin:      headerValue(req.Header, "Origin"),
		cred:        d.creds.parse(authz),
		secret:      strings.TrimSpace(secret),
		redacted:    red.kinds,
		hdrSession:  headerValue(req.Header, hdrSessionID),
		hdrProtocol: headerValue(req.Header, hdrProtocolVersion),
		hdrMethod:   headerValue(req.Header, hdrMethod),
		hdrName:     headerValue(req.Header, hdrName),
		contentType: headerValue(req.Header, "Content-Type"),
	}
	if req.HeaderCut || req.HeaderBytes > d.cfg.LargeHeaderBytes {
		ex.headerBytes = req.HeaderBytes
		d.stats.LargeHeaders++
	}
	ex.mcp = ex.hdrSession != "" || ex.hdrProtocol != "" || ex.hdrMethod != "" ||
		(legacySID(ex) != "" && d.sessions.get("E|"+hostKey(ex.serverKey)+"|"+legacySID(ex)) != nil)
	if looksJSON(req.Body) {
		for _, m := range parseBody(req.Body, req.BodyLen, req.Truncated, d.cfg.MaxMessageBytes) {
			if !m.jsonrpc && !m.truncated { // a cut body is counted in message
				continue
			}
			ex.claimed = ex.claimed || m.clientEvidence()
			ex.msgs = append(ex.msgs, m)
		}
		if int64(len(req.Body)) > d.cfg.MaxMessageBytes {
			d.stats.OversizeCut++
		}
		// JSON-RPC to an endpoint shown to be MCP is MCP, whatever it says.
		ex.mcp = ex.mcp || (len(ex.msgs) > 0 && d.knownEndpoint(cs, ex.serverKey))
		if len(ex.msgs) > 0 && !ex.mcp {
			cs.hint, cs.jsonrpc = "jsonrpc", true
		}
		// RFC 7591 registration: a JSON client metadata document.
		ex.registration = len(ex.msgs) == 0 && !ex.mcp && bytes.Contains(req.Body, []byte(`"redirect_uris"`))
	} else if strings.HasPrefix(ex.contentType, "application/x-www-form-urlencoded") {
		ex.form, _ = url.ParseQuery(string(req.Body))
	} else if ex.hdrMethod != "" && notLogged(req.TruncatedBy, req.Body) {
		// A header-only log of 2026-07-28 traffic: the routing headers
		// still name the message.
		m := headerRequest(ex, req.BodyLen)
		if m.hasID {
			ex.headerReq = &pendingRequest{method: m.method, name: m.name, uri: m.uri, ts: ex.time}
		}
		ex.msgs = append(ex.msgs, m)
	}
	if !ex.mcp {
		if len(ex.msgs) > 0 {
			d.hold(ex) // MCP or not: its answer decides
		}
		if cs.hint == "" && (strings.Contains(path, "/mcp") || strings.Contains(path, "/sse")) {
			cs.hint = "path"
		}
	}
	return ex
}

// Response implements capture.Handler.
func (d *Decoder) Response(req *capture.Request, resp *capture.Response) {
	d.advance(resp.Time)
	req = orphan(req, resp)
	cs := d.connFor(req.Conn)
	ex := cs.open[req.Seq]
	if ex == nil { // the request was not seen; rebuild what we can
		ex = d.newExchange(cs, req)
		cs.open[req.Seq] = ex
		if cs.last != nil && !cs.last.ended {
			// On a connection already carrying MCP, the response is the
			// session's too.
			ex.mcp, ex.sess = true, cs.last
		}
	}
	ex.status = resp.StatusCode
	if sid := headerValue(resp.Header, hdrSessionID); sid != "" && ex.hdrSession == "" {
		ex.hdrSession = sid
		ex.mcp = true
	}
	// The answer is read when it is MCP's or may decide whether the
	// exchange is: its request was JSON-RPC, or was not seen.
	var answer []message
	if !resp.EventStream && looksJSON(resp.Body) && (ex.mcp || ex.held || req.Method == "") {
		answer = parseBody(resp.Body, resp.BodyLen, resp.Truncated, d.cfg.MaxMessageBytes)
	}
	if !ex.mcp {
		d.identify(ex, answer, resp.EventStream)
	}
	if ex.mcp {
		d.settle(ex, true) // if held: shown by the response's headers
		d.bind(ex)
	}
	d.flushRequest(ex, resp)
	d.headerResponse(ex, resp)
	if !ex.mcp || resp.EventStream {
		return
	}
	if looksJSON(resp.Body) {
		if int64(len(resp.Body)) > d.cfg.MaxMessageBytes {
			d.stats.OversizeCut++
		}
		d.serverMessages(ex, answer, resp.Time, "")
	}
	if req.Method == "DELETE" && ex.sess != nil && resp.StatusCode < 300 {
		d.endSession(ex.sess, event.EndDelete, resp.Time)
	}
}

// SSEEvent implements capture.Handler.
func (d *Decoder) SSEEvent(req *capture.Request, resp *capture.Response, ev *capture.SSEEvent) {
	d.advance(ev.Time)
	req = orphan(req, resp)
	cs := d.connFor(req.Conn)
	ex := cs.open[req.Seq]
	if ex == nil {
		return // Response was not seen for this stream
	}
	if ev.Event == "endpoint" {
		d.legacyEndpoint(ex, ev)
		return
	}
	if ev.Data == "" {
		return // priming and keep-alive events carry no message
	}
	msgs := parseData(ev.Data, ev.DataLen, ev.Truncated, d.cfg.MaxMessageBytes)
	if !ex.mcp && d.answerShows(ex, msgs) {
		// The stream's answer shows the server is MCP: its request's held
		// messages go out first. Events before this one were not kept.
		d.settle(ex, true)
		ex.mcp = true
		d.bind(ex)
		if !ex.msgsDone {
			d.flushMessages(ex)
		}
	}
	if ex.mcp {
		d.serverMessages(ex, msgs, ev.Time, "ev"+strconv.Itoa(ev.Index)+".")
	}
}

// ResponseEnd implements capture.Handler.
func (d *Decoder) ResponseEnd(req *capture.Request, resp *capture.Response) {
	d.advance(resp.End)
	req = orphan(req, resp)
	if cs := d.conns[req.Conn.ID]; cs != nil {
		if ex := cs.open[req.Seq]; ex != nil && ex.held {
			d.settle(ex, false) // a stream that showed no MCP
		}
		delete(cs.open, req.Seq)
	}
}

// orphan stands in for the request of a response whose request capture
// did not see (a one-sided or mid-stream capture): the response alone still
// yields what it carries.
func orphan(req *capture.Request, resp *capture.Response) *capture.Request {
	if req != nil {
		return req
	}
	return &capture.Request{Conn: resp.Conn, Seq: resp.Seq, Time: resp.Time, End: resp.Time, Header: http.Header{}}
}

// ConnEnd implements capture.Handler.
func (d *Decoder) ConnEnd(conn *capture.Conn, end *capture.ConnEnd) {
	d.advance(end.Time)
	cs := d.conns[conn.ID]
	delete(d.conns, conn.ID)
	if cs == nil {
		cs = &connState{conn: conn}
	}
	for _, seq := range sortedKeys(cs.open) { // requests that got no response
		ex := cs.open[seq]
		if ex.held {
			d.identify(ex, nil, false)
		}
		d.flushRequest(ex, nil)
		if ex.mcp && !ex.msgsDone { // a stream cut before it decided
			d.flushMessages(ex)
		}
	}
	if !cs.mcp {
		d.flowEvent(cs, end)
	}
	for _, s := range sortedSessions(cs.sessions) {
		delete(s.conns, conn.ID)
		if len(s.conns) == 0 && !s.stateless && !s.ended {
			// HTTP clients drop and reopen keep-alive connections within
			// a session; it has closed only if no new one follows soon.
			s.closedAt = end.Time
			d.closing[s] = true
		}
	}
}

// Tick ends sessions idle for longer than Config.IdleTimeout at packet time
// now.
func (d *Decoder) Tick(now time.Time) {
	if now.After(d.now) {
		d.now = now
	}
	d.lastSweep = d.now
	for _, s := range sortedSessions(d.parkedIn) {
		d.releaseParked(s, false)
	}
	for _, s := range sortedSessions(d.earlyIn) {
		if d.now.Sub(s.early[0].ts) >= parkGrace {
			d.releaseEarly(s)
		}
	}
	for _, s := range sortedSessions(d.closing) {
		if d.now.Sub(s.closedAt) >= d.closeGrace() {
			d.endSession(s, event.EndClose, s.closedAt)
		}
	}
	for {
		s := d.sessions.oldest()
		if s == nil || d.now.Sub(s.last) < d.cfg.IdleTimeout {
			return
		}
		d.endSession(s, event.EndIdle, s.last.Add(d.cfg.IdleTimeout))
	}
}

// Finish ends every open session with end_reason input-end. Connections
// still open are not summarised: capture reports them through ConnEnd.
func (d *Decoder) Finish(now time.Time) {
	d.Tick(now)
	for _, s := range sortedSessions(d.closing) { // their connections did close
		d.endSession(s, event.EndClose, s.closedAt)
	}
	for s := d.sessions.oldest(); s != nil; s = d.sessions.oldest() {
		d.endSession(s, event.EndInputEnd, d.now)
	}
}

// parkGrace is how long (packet time) a response waits for a request it
// overtook before it is reported unmatched.
const parkGrace = 5 * time.Second

// closeGrace is how long a stateful session whose connections all closed
// waits for a new connection before it ends with end_reason close.
func (d *Decoder) closeGrace() time.Duration {
	return min(30*time.Second, d.cfg.IdleTimeout)
}

// Stats returns a snapshot of the counters.
func (d *Decoder) Stats() Stats {
	st := d.stats
	st.Events = maps.Clone(d.stats.Events)
	st.SessionsOpen = int64(d.sessions.len())
	return st
}

// advance moves packet time forward and sweeps idle sessions now and then,
// so a long capture does not depend on the caller ticking.
func (d *Decoder) advance(t time.Time) {
	if t.After(d.now) {
		d.now = t
	}
	if d.now.Sub(d.lastSweep) >= d.cfg.IdleTimeout/8 {
		d.Tick(d.now)
	}
}

// bind attaches an MCP exchange to its session, creating it when needed.
func (d *Decoder) bind(ex *exchange) {
	d.markMCP(ex.cs, ex.serverKey)
	if ex.sess != nil && !ex.sess.ended {
		return
	}
	var s *session
	switch {
	case legacySID(ex) != "":
		s = d.legacySession(ex, legacySID(ex))
	case ex.hdrSession != "":
		s = d.sessionFor(ex, "S|"+ex.serverKey+"|"+ex.hdrSession, event.TransportStreamableHTTP)
		s.id = ex.hdrSession
	default:
		// No session id: a 2026-07-28 stateless client (or a stateless
		// server of an older revision). One logical session per client
		// address, endpoint and client name.
		name := ""
		for _, m := range ex.msgs {
			if m.metaIdentity && m.peerName != "" {
				name = m.peerName
				break
			}
		}
		if last := ex.cs.last; name == "" && last != nil && !last.ended && last.stateless && last.serverKey == ex.serverKey {
			// A bare request (go-sdk's ping carries no _meta) belongs to
			// the logical session of the requests before it on its
			// connection.
			s = last
			break
		}
		s = d.sessionFor(ex, "L|"+ex.cs.conn.Client.Addr().String()+"|"+ex.serverKey+"|"+name, event.TransportStreamableHTTP)
		s.stateless = true
	}
	ex.sess = s
	ex.cs.last = s
	if !s.stateless {
		d.attach(s, ex.cs)
	}
	if s.protocolVersion == "" && ex.hdrProtocol != "" {
		s.protocolVersion = ex.hdrProtocol
	}
}

// attach records that cs carries s, which therefore is not closing.
func (d *Decoder) attach(s *session, cs *connState) {
	s.conns[cs.conn.ID] = true
	cs.sessions[s] = true
	if d.closing[s] {
		delete(d.closing, s)
		s.closedAt = time.Time{}
	}
}

func (d *Decoder) sessionFor(ex *exchange, key, transport string) *session {
	if s := d.sessions.get(key); s != nil {
		return s
	}
	s := newSession(key, ex, transport)
	if evicted := d.sessions.add(s); evicted != nil {
		d.stats.SessionsEvicted++
		d.endSession(evicted, endEvicted, ex.time)
	}
	return s
}

// legacyKeys are the query parameters that carry an HTTP+SSE session id:
// sessionId (TypeScript), sessionid (Go), session_id (Python).
var legacyKeys = []string{"sessionId", "sessionid", "session_id"}

func legacyID(q url.Values) string {
	for _, k := range legacyKeys {
		if sid := q.Get(k); sid != "" {
			return sid
		}
	}
	return ""
}

// legacySID is the HTTP+SSE session id of a POST, "" for other requests.
func legacySID(ex *exchange) string {
	if ex.method != "POST" || ex.hdrSession != "" {
		return ""
	}
	return legacyID(ex.query)
}

// legacySession returns the HTTP+SSE session of id sid at the exchange's
// server, creating it if needed: a POST may show up before the endpoint
// event that announced its URI if the capture's clocks disagree, or without
// it if the stream was not captured.
func (d *Decoder) legacySession(ex *exchange, sid string) *session {
	s := d.sessionFor(ex, "E|"+hostKey(ex.serverKey)+"|"+sid, event.TransportHTTPSSE)
	s.id = sid
	return s
}

// legacyEndpoint handles the first event of a 2024-11-05 SSE stream, which
// names the URI the client must POST to, session id included.
func (d *Decoder) legacyEndpoint(ex *exchange, ev *capture.SSEEvent) {
	u, err := url.Parse(strings.TrimSpace(ev.Data))
	sid := ""
	if err == nil {
		sid = legacyID(u.Query())
	}
	if sid == "" {
		d.stats.Malformed++
		return
	}
	ex.mcp = true
	d.markMCP(ex.cs, ex.serverKey)
	s := d.legacySession(ex, sid)
	s.serverKey = ex.serverKey // the stream's URL names the server, not the POST endpoint
	ex.sess = s
	ex.cs.last = s
	d.attach(s, ex.cs)
}

// flushRequest emits the request's messages and the exchange's auth events
// once, when the response status (and, for initialize, the session id) is
// known; resp is nil when the connection ended without a response.
func (d *Decoder) flushRequest(ex *exchange, resp *capture.Response) {
	if ex.flushed {
		return
	}
	ex.flushed = true
	if ex.mcp && !ex.msgsDone {
		d.flushMessages(ex)
	}
	d.authEvents(ex, resp)
}

// flushMessages emits the request's messages. Normally that waits for the
// response; a legacy POST's messages go out earlier when their answer
// overtakes the POST's 202 on the SSE stream (see flushWaiting).
func (d *Decoder) flushMessages(ex *exchange) {
	ex.msgsDone = true
	d.stats.MCPExchanges++
	if ex.sess == nil {
		d.bind(ex)
	}
	if ex.status == 401 || ex.status == 403 {
		ex.sess.authFailures++
	}
	if ex.cred != nil && ex.cred.scheme != "none" {
		ex.sess.authenticated = true
	}
	for i := range ex.msgs {
		m := &ex.msgs[i]
		d.checkHeaders(ex, m)
		d.message(ex, m, event.DirClientToServer, ex.time, strconv.Itoa(i))
	}
	ex.msgs = nil
	if s := ex.sess; len(s.early) > 0 && !s.awaitingPOST() {
		d.releaseEarly(s)
	}
}

// checkHeaders flags 2026-07-28 requests whose routing headers disagree with
// the body — what a gateway routes on is not what the server executes.
func (d *Decoder) checkHeaders(ex *exchange, m *message) {
	if m.method == "" || (ex.hdrMethod == "" && ex.hdrName == "") {
		return
	}
	mismatch := ex.hdrMethod != "" && ex.hdrMethod != m.method
	if t := m.target(); ex.hdrName != "" && t != nil {
		mismatch = mismatch || ex.hdrName != *t
	}
	if mismatch {
		m.headerMismatch = true
		d.stats.HeaderMismatch++
	}
}

// flushWaiting emits the messages of the session's POSTs still waiting for
// their HTTP response: on HTTP+SSE the server may answer on the stream
// before it answers the POST, and requests must precede their responses.
func (d *Decoder) flushWaiting(s *session) {
	for _, ex := range s.waiting {
		if !ex.msgsDone {
			d.flushMessages(ex)
		}
	}
	clear(s.waiting)
	s.waiting = s.waiting[:0]
}

// streamPart is what one event of a legacy event stream carried, held
// while a POST of its session awaits its HTTP response.
type streamPart struct {
	ex   *exchange
	msgs []message
	ts   time.Time
	part string
}

// awaitingPOST reports whether a legacy POST of s has not had its messages
// emitted: its HTTP response (202) is still to come.
func (s *session) awaitingPOST() bool {
	for _, ex := range s.waiting {
		if !ex.msgsDone {
			return true
		}
	}
	return false
}

// serverMessages emits what the server sent on an exchange: its body
// (part "") or one event of its event stream (part names the event).
//
// On HTTP+SSE the server answers a POST on the stream, and its answer may
// come before the POST's own 202 (the server's choice, or two capture
// queues): the stream's messages then wait for that 202, so that the
// request's event carries its HTTP status whatever the order, and
// requests still precede their responses. They wait parkGrace at most.
func (d *Decoder) serverMessages(ex *exchange, msgs []message, ts time.Time, part string) {
	if ex.sess == nil {
		d.bind(ex) // an orphan stream on an MCP connection
	}
	if s := ex.sess; s.awaitingPOST() {
		if len(s.early) < d.cfg.MaxPendingPerSession {
			s.early = append(s.early, streamPart{ex: ex, msgs: msgs, ts: ts, part: part})
			d.earlyIn[s] = true
			return
		}
		d.releaseEarly(s)
	}
	d.emitServerMessages(ex, msgs, ts, part)
}

// releaseEarly emits the messages of a session's waiting POSTs, then what
// its stream said meanwhile.
func (d *Decoder) releaseEarly(s *session) {
	early := s.early
	s.early = nil
	delete(d.earlyIn, s)
	d.flushWaiting(s)
	for _, p := range early {
		d.emitServerMessages(p.ex, p.msgs, p.ts, p.part)
	}
}

func (d *Decoder) emitServerMessages(ex *exchange, msgs []message, ts time.Time, part string) {
	for i := range msgs {
		if msgs[i].jsonrpc || msgs[i].truncated {
			d.message(ex, &msgs[i], event.DirServerToClient, ts, part+strconv.Itoa(i))
		}
	}
}

// message updates the session with one JSON-RPC message and emits its event.
// pos is the message's place in the HTTP message of its direction (batch
// element, SSE event), which with the exchange and direction makes its
// event id: a response seen before its request is decoded on an exchange
// of its own, so a count kept per exchange would give both the same id.
func (d *Decoder) message(ex *exchange, m *message, dir string, ts time.Time, pos string) {
	if !m.envelope() {
		if m.truncated {
			d.stats.TruncatedDropped++
		} else {
			d.stats.Malformed++
		}
		return
	}
	s := ex.sess
	ev := d.envelope(event.KindMessage, ts, ex.cs.conn, ex.serverKey, s, strconv.Itoa(ex.seq), dir, pos)
	ev.Direction = dir
	ev.MsgType = m.msgType()
	ev.Method = m.method
	ev.JSONRPCID = m.id
	ev.ErrorCode = m.errCode
	ev.ToolIsError = m.isError
	ev.Bytes = m.bytes
	ev.Batch = m.batch
	ev.Truncated = m.truncated
	ev.HeaderMismatch = m.headerMismatch
	ev.SecretKinds = m.secrets
	ev.HTTPMethod, ev.HTTPPath, ev.HTTPStatus = ex.method, ex.path, ex.status
	ev.UserAgent, ev.Origin = ex.userAgent, ex.origin
	ex.cred.apply(ev)

	serverBefore := [2]string{s.serverName, s.serverVersion}
	p := s.observe(m, dir, ts, d.cfg.MaxPendingPerSession)
	d.sessions.touch(s)
	if p.dropped {
		d.stats.PendingDropped++
	}
	if p.req != nil {
		ev.Method = p.req.method
		m.name, m.uri = p.req.name, p.req.uri
		if !p.req.ts.IsZero() && m.method == "" {
			ev.DurationMS = float64(ts.Sub(p.req.ts)) / float64(time.Millisecond)
		}
	}
	switch ev.Method {
	case "tools/call":
		ev.ToolName = m.name
	case "prompts/get":
		ev.PromptName = m.name
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		ev.ResourceURI = m.uri
	}
	s.fill(ev) // after observe: an initialize response names the server on its own event
	if p.answer != nil {
		// The response came first and may have named the server: the
		// request's event says what was known before it, whatever the order.
		ev.ServerName, ev.ServerVersion = p.answer.serverBefore[0], p.answer.serverBefore[1]
	}
	d.redactMessage(ex, m, ev)
	if m.truncated {
		d.stats.Truncated++
	}
	if p.unmatched && m.hasID && len(s.parked) < d.cfg.MaxPendingPerSession {
		// Its request may still come: capture clocks of two directions or
		// two connections can disagree by a little. Hold it a while.
		s.parked[dir+"|"+m.id] = parkedResponse{ev: ev, identity: identityOf(m), serverBefore: serverBefore}
		d.parkedIn[s] = true
		return
	}
	d.sendMessage(ev, p.unmatched)
	if p.answer != nil {
		d.answerLate(s, p.answer, ev, m)
	}
	// A cut listing would read as tools removed: no manifest from it.
	if m.hasTools && !m.truncated && ev.Method == "tools/list" && dir == event.DirServerToClient {
		d.manifest(ex, s, m, ts)
	}
}

// redactMessage sets the free-text fields of a message event from m with
// every credential replaced (redact.go), and adds what was found, in them
// and in the exchange's path, to secret_kinds.
func (d *Decoder) redactMessage(ex *exchange, m *message, ev *event.Event) {
	r := redactor{known: ex.secret}
	ev.ErrorMessage = capString(r.text(m.errMessage), maxErrorMessage)
	ev.ResourceURI = r.uri(ev.ResourceURI)
	d.stats.Redacted += int64(r.n)
	ev.SecretKinds = withKinds(withKinds(ev.SecretKinds, ex.redacted), r.kinds)
	if ex.headerBytes > 0 {
		ev.HeaderBytes = ex.headerBytes
	}
}

func (d *Decoder) sendMessage(ev *event.Event, unmatched bool) {
	if unmatched {
		d.stats.Unmatched++
	}
	d.stats.Messages++
	d.send(ev)
}

// answerLate completes and emits a parked response now that its request
// (req, event reqEv) has been seen.
func (d *Decoder) answerLate(s *session, pr *parkedResponse, reqEv *event.Event, req *message) {
	resp := pr.ev
	// Now that the response is known to answer req, what it told of the
	// server counts (an initialize result), and what the request told of
	// the client goes on it too.
	s.learn(&pr.identity, resp.Direction, &pendingRequest{method: req.method})
	s.fill(resp)
	resp.Method = req.method
	resp.ToolName, resp.PromptName, resp.ResourceURI = reqEv.ToolName, reqEv.PromptName, reqEv.ResourceURI
	resp.DurationMS = max(0, float64(resp.TS.Sub(reqEv.TS))/float64(time.Millisecond))
	d.sendMessage(resp, false)
}

// releaseParked emits the session's parked responses whose request did not
// come within parkGrace (all of them if force), as unmatched.
func (d *Decoder) releaseParked(s *session, force bool) {
	for _, k := range slices.Sorted(maps.Keys(s.parked)) {
		if ev := s.parked[k].ev; force || d.now.Sub(ev.TS) >= parkGrace {
			delete(s.parked, k)
			d.sendMessage(ev, true)
		}
	}
	if len(s.parked) == 0 {
		delete(d.parkedIn, s)
	}
}

// envelope builds an event with the envelope fields of a connection and, if
// known, a session. Ids derive from the connection id and the position in it
// (idParts), so the same input always gives the same ids.
func (d *Decoder) envelope(kind event.Kind, ts time.Time, c *capture.Conn, serverKey string, s *session, idParts ...string) *event.Event {
	d.idParts = append(d.idParts[:0], d.cfg.Sensor, d.cfg.Source, string(kind), d.connIDs.text(c.ID))
	d.idParts = append(d.idParts, idParts...)
	ev := &event.Event{
		Schema:    event.SchemaVersion,
		EventID:   event.NewID(d.idParts...),
		Kind:      kind,
		TS:        ts.UTC(),
		Sensor:    d.cfg.Sensor,
		Source:    d.cfg.Source,
		ServerKey: serverKey,
	}
	// Logs without TCP endpoints (HAR, Envoy streamed traces) give a
	// zero address, which must read as absent, not as "invalid IP".
	if c.Client.Addr().IsValid() {
		ev.ClientAddress, ev.ClientPort = d.addrs.text(c.Client.Addr()), int(c.Client.Port())
	}
	if c.Server.Addr().IsValid() {
		ev.ServerAddress, ev.ServerPort = d.addrs.text(c.Server.Addr()), int(c.Server.Port())
	}
	if s != nil {
		s.fill(ev)
	}
	return ev
}

func (d *Decoder) send(ev *event.Event) {
	d.stats.Events[string(ev.Kind)]++
	d.emit(ev)
}

// headerValue is h.Get(name) for a name in canonical form: Get would
// canonicalize the constant again on every call, and a decoded exchange
// reads a dozen header fields.
func headerValue(h http.Header, name string) string {
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// looksJSON reports whether a body starts like a JSON object or array.
func looksJSON(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[':
			return true
		default:
			return false
		}
	}
	return false
}

// hostOf is the server as host[:port] when no Host header was seen.
func hostOf(c *capture.Conn) string {
	if c.Server.Port() == 80 {
		return c.Server.Addr().String()
	}
	return c.Server.String()
}

// hostKey is the scheme://host part of a server_key.
func hostKey(serverKey string) string {
	rest := strings.TrimPrefix(serverKey, "http://")
	host, _, _ := strings.Cut(rest, "/")
	return host
}
