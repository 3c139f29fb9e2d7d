package capture

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// role is what one direction of a connection carries.
type role uint8

const (
	roleUnknown  role = iota // not yet seen a start line (mid-stream start)
	roleRequest              // the client side: request lines
	roleResponse             // the server side: status lines
)

func (r role) opposite() role {
	switch r {
	case roleRequest:
		return roleResponse
	case roleResponse:
		return roleRequest
	}
	return roleUnknown
}

// parseState is where a halfParser is in its byte stream.
type parseState uint8

const (
	// stateStart: nothing seen; the first bytes decide what the
	// connection carries (HTTP, TLS, something else).
	stateStart parseState = iota
	// stateResync: looking for the next start line after lost bytes or a
	// mid-stream start; whole lines are examined and dropped.
	stateResync
	stateHeader // reading a start line and headers
	// stateHeaderSkip: reading the rest of a header block longer than
	// MaxHeaderBytes; only the fields that frame and name the message are
	// kept (see overCap).
	stateHeaderSkip
	stateBody // reading a body
	stateDead // not HTTP (any more): bytes are only counted
)

// framing is how a message body is delimited (RFC 9112 §6.3).
type framing uint8

const (
	framingNone framing = iota
	framingLength
	framingChunked
	framingClose // until the connection closes
)

// Truncation reasons, for Request/Response.TruncatedBy and Stats.
const (
	TruncBodyCap       = "body-cap"       // body longer than Config.MaxBodyBytes
	TruncDecompressCap = "decompress-cap" // inflated body longer than the cap
	TruncDecodeError   = "decode-error"   // bad content-encoding data
	TruncGap           = "gap"            // capture gap inside the message
	TruncConnEnd       = "conn-end"       // connection ended before the message did
	TruncEarlyResponse = "early-response" // final response came before the request ended
)

// halfParser parses the HTTP messages of one direction of a connection.
type halfParser struct {
	c     *stream
	dir   int // index into stream.halves
	role  role
	state parseState
	// buf holds a header block in progress (stateHeader) or the partial
	// line being examined (stateResync).
	buf []byte
	// midLine is set in stateResync when buf starts inside a line, whose
	// remainder must not be taken for a start line.
	midLine bool
	msg     *message
	// skip is the header block being read past MaxHeaderBytes
	// (stateHeaderSkip); cutFrom, when not 0, is the full size of the
	// block startMessage is about to parse, which was cut.
	skip    *headerSkip
	cutFrom int
}

// headerSkip is a header block read past the cap: kept holds its first
// MaxHeaderBytes (whole lines) and the framing fields after them; line the
// field line in progress, over set when that line is longer than
// maxSkipLine and so is not kept.
type headerSkip struct {
	kept  []byte
	line  []byte
	over  bool
	total int
}

const (
	// maxSkipLine caps a field line kept after the cap; framing fields
	// are short.
	maxSkipLine = 8 << 10
	// maxSkipKept caps the fields kept after the cap.
	maxSkipKept = 64 << 10
	// bigHeaderBuf: a header buffer that grew past it is released once
	// its block is parsed, so that an idle connection does not keep a
	// megabyte of capacity a large block once needed.
	bigHeaderBuf = 64 << 10
)

// skipFields are the fields kept from beyond the cap: those that frame
// the body, name the message's server, session and method, and carry
// its credential — the rest (padding, cookies) is what such blocks hide
// behind.
var skipFields = []string{"host", "content-length", "transfer-encoding", "content-type", "content-encoding",
	"authorization", "mcp-session-id", "mcp-protocol-version", "mcp-method", "mcp-name", "user-agent",
	"upgrade", "connection", "www-authenticate", "last-event-id"}

func keepField(line []byte) bool {
	name, _, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return false
	}
	for _, f := range skipFields {
		if len(name) == len(f) && strings.EqualFold(string(name), f) {
			return true
		}
	}
	return false
}

// message is the request or response a halfParser is reading.
type message struct {
	req  *Request  // set when reading a request
	resp *Response // set when reading a response
	// answers is the request resp answers; nil for a one-sided capture or
	// when the request was lost.
	answers *Request
	framing framing
	remain  int64 // framingLength: body bytes still to come
	chunked chunkedDecoder
	// encoding is the gzip/deflate content-coding still on raw.
	encoding string
	raw      []byte // body as framed, up to the cap
	rawLen   int64
	reason   string // first truncation reason, "" when complete
	sse      *sseParser
	// emitted is set when the request was handed to the Handler before its
	// body ended (an early final response).
	emitted bool
}

// announced is how many body bytes the framing says follow, from the n
// about to be taken on: a length or the chunk's size. It only picks among
// spare buffers, never sizes an allocation: a sender may announce anything.
func (m *message) announced(n int) int {
	switch m.framing {
	case framingLength:
		return int(min(m.remain, math.MaxInt32))
	case framingChunked:
		return int(min(m.chunked.size, math.MaxInt32))
	}
	return n
}

func (m *message) truncate(reason string) {
	if m.reason == "" {
		m.reason = reason
	}
}

// feed parses the next bytes of the direction, seen at t.
func (h *halfParser) feed(p []byte, t time.Time) {
	for len(p) > 0 {
		switch h.state {
		case stateDead:
			return
		case stateStart:
			p = h.sniff(p)
		case stateResync:
			p = h.resync(p, t)
		case stateHeader:
			p = h.header(p, t)
		case stateHeaderSkip:
			p = h.skipHeader(p, t)
		case stateBody:
			p = h.body(p, t)
		}
	}
}

// sniff decides from a connection's first bytes whether it carries HTTP,
// holding them back until it can tell, and returns the bytes to parse on.
func (h *halfParser) sniff(p []byte) []byte {
	if len(h.buf) > 0 {
		p = append(h.buf, p...)
		h.buf = nil
	}
	tls := h.role != roleResponse && isTLSHandshake(p)
	plausible, certain := startVerdict(p, h.role)
	switch {
	case tls && len(p) >= 3:
		h.c.startTLS(h.dir, p)
		return nil
	case tls || (plausible && !certain):
		h.buf = append([]byte(nil), p...)
		return nil
	case !plausible:
		h.c.notHTTP()
		return nil
	}
	h.state = stateHeader
	return p
}

// resync drops whole lines until one holds a start line of the right kind.
// A start line may follow the end of a body on the same line: bodies need
// not end in a newline.
func (h *halfParser) resync(p []byte, t time.Time) []byte {
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			h.appendWindow(p)
			return nil
		}
		h.appendWindow(p[:i+1])
		off, r := findStartLine(h.buf, h.role, h.midLine)
		h.midLine = false
		if r != roleUnknown {
			// Re-read the line as the start of a message.
			start := bytes.Clone(h.buf[off:])
			h.buf = h.buf[:0]
			h.state = stateHeader
			h.header(start, t)
			return p[i+1:]
		}
		h.buf = h.buf[:0]
		if cap(h.buf) > bigHeaderBuf {
			h.buf = nil // a long line's window, no longer needed
		}
		p = p[i+1:]
		if len(p) == 0 {
			return nil
		}
	}
}

// appendWindow adds p to the line being examined, keeping only its last
// MaxHeaderBytes: a start line ends its line, so it is in that window if
// it fits the cap at all, however the line arrived.
func (h *halfParser) appendWindow(p []byte) {
	limit := h.c.e.cfg.MaxHeaderBytes
	if over := len(h.buf) + len(p) - limit; over > 0 {
		h.midLine = true
		if over >= len(h.buf) {
			h.buf = append(h.buf[:0], p[over-len(h.buf):]...)
			return
		}
		h.buf = h.buf[:copy(h.buf, h.buf[over:])]
	}
	h.buf = append(h.buf, p...)
}

// startMethods are the methods findStartLine looks for inside a line.
var startMethods = [][]byte{[]byte("POST "), []byte("GET "), []byte("DELETE "), []byte("PUT "), []byte("HEAD "),
	[]byte("OPTIONS "), []byte("PATCH "), []byte("CONNECT "), []byte("TRACE ")}

// findStartLine finds a start line of role want (either, for roleUnknown)
// that ends line, at its beginning or after other bytes. When line may be
// the tail of a line cut by a gap (midLine), a request line at its
// beginning must have a well-known method: the tail of "POST" is "ST".
func findStartLine(line []byte, want role, midLine bool) (int, role) {
	ok := func(r role) bool { return r != roleUnknown && (want == roleUnknown || want == r) }
	if r := startLineRole(line); ok(r) && (!midLine || r == roleResponse || knownMethod(line)) {
		return 0, r
	}
	if want != roleResponse {
		for _, m := range startMethods {
			if i := bytes.LastIndex(line, m); i > 0 && startLineRole(line[i:]) == roleRequest {
				return i, roleRequest
			}
		}
	}
	if want != roleRequest {
		if i := bytes.LastIndex(line, []byte("HTTP/1.")); i > 0 && startLineRole(line[i:]) == roleResponse {
			return i, roleResponse
		}
	}
	return 0, roleUnknown
}

// header collects a header block; at its end the message starts.
func (h *halfParser) header(p []byte, t time.Time) []byte {
	if len(h.buf) == 0 {
		// Stray line ends between messages (RFC 9112 §2.2).
		for len(p) > 0 && (p[0] == '\r' || p[0] == '\n') {
			p = p[1:]
		}
		if len(p) == 0 {
			return nil
		}
		h.c.msgStart[h.dir] = t
	}
	limit := h.c.e.cfg.MaxHeaderBytes
	if len(h.buf) == 0 {
		// A header block usually arrives whole in one segment: it is
		// parsed where it lies, not copied into h.buf, whose capacity
		// every connection would otherwise keep while it idles.
		if end := headerEnd(p, 0); end >= 0 && end <= limit {
			if err := h.startMessage(p[:end], t); err != nil {
				h.c.e.stats.ParseErrors++
				h.toResync(false)
			}
			return p[end:]
		}
	}
	from := max(0, len(h.buf)-3)
	h.buf = append(h.buf, p...)
	end := headerEnd(h.buf, from)
	if end < 0 && len(h.buf) <= limit {
		return nil
	}
	if end < 0 || end > limit {
		return h.overCap(p, end, t)
	}
	// The block's end lies in p (it would have been found before
	// otherwise), so what follows it is a suffix of p.
	rest := p[len(p)-(len(h.buf)-end):]
	block := h.buf[:end]
	h.buf = h.buf[:0]
	if err := h.startMessage(block, t); err != nil {
		h.c.e.stats.ParseErrors++
		h.toResync(false)
	}
	if cap(h.buf) > bigHeaderBuf {
		h.buf = nil
	}
	return rest
}

// overCap handles a header block longer than MaxHeaderBytes, now in
// h.buf, whose end is at end (-1: not yet seen). A request hiding behind
// a large block is still a request — servers accept far larger blocks
// (Go's net/http 1 MB) — so the message is parsed from the block's first
// MaxHeaderBytes and the framing fields after them (skipHeader), flagged
// HeaderCut with HeaderBytes its full size. Only a start line longer than
// the cap drops it: what follows its first MaxHeaderBytes+1 bytes is
// searched for the next message, the same bytes however the block was
// segmented.
func (h *halfParser) overCap(p []byte, end int, t time.Time) []byte {
	limit := h.c.e.cfg.MaxHeaderBytes
	keptEnd := bytes.LastIndexByte(h.buf[:limit], '\n') + 1
	if keptEnd == 0 {
		h.c.e.stats.HeaderCapDrops++
		h.abandonHeader()
		over := bytes.Clone(h.buf[limit+1:])
		h.toResync(true)
		h.buf = nil
		return over
	}
	h.c.e.stats.HeaderCapCuts++
	var rest []byte
	tail := h.buf[keptEnd:]
	if end >= 0 {
		tail, rest = h.buf[keptEnd:end], p[len(p)-(len(h.buf)-end):]
	}
	tail = bytes.Clone(tail)
	h.skip = &headerSkip{kept: h.buf[:keptEnd], total: keptEnd}
	h.buf = nil
	h.state = stateHeaderSkip
	if left := h.skipHeader(tail, t); len(left) > 0 {
		// Cannot happen: tail ends at the block's end.
		rest = append(left, rest...)
	}
	return rest
}

// skipHeader reads field lines past the cap until the blank line ending
// the block, keeping the framing fields, and then starts the message.
func (h *halfParser) skipHeader(p []byte, t time.Time) []byte {
	sk := h.skip
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		part := p
		if i >= 0 {
			part = p[:i]
		}
		if !sk.over && len(sk.line)+len(part) <= maxSkipLine {
			sk.line = append(sk.line, part...)
		} else {
			sk.over, sk.line = true, sk.line[:0]
		}
		if i < 0 {
			sk.total += len(p)
			return nil
		}
		sk.total += i + 1
		p = p[i+1:]
		line := bytes.TrimSuffix(sk.line, []byte("\r"))
		switch {
		case len(line) == 0 && !sk.over:
			block := append(sk.kept, '\r', '\n')
			h.skip, h.state, h.cutFrom = nil, stateHeader, sk.total
			if err := h.startMessage(block, t); err != nil {
				h.c.e.stats.ParseErrors++
				h.toResync(false)
			}
			h.cutFrom = 0
			return p
		case !sk.over && keepField(line) && len(sk.kept)+len(line)+2 <= h.c.e.cfg.MaxHeaderBytes+maxSkipKept:
			sk.kept = append(append(sk.kept, line...), '\r', '\n')
		}
		sk.line, sk.over = sk.line[:0], false
	}
	return nil
}

// abandonHeader drops a header block in progress. A final response whose
// status line was seen still answers the oldest request, so the responses
// after it stay matched to theirs.
func (h *halfParser) abandonHeader() {
	line, _, _ := bytes.Cut(h.buf, []byte("\n"))
	if h.role == roleRequest || startLineRole(line) != roleResponse {
		return
	}
	if code := line[9:12]; code[0] != '1' || string(code) == "101" {
		h.c.dropResponse()
	}
}

func (h *halfParser) toResync(midLine bool) {
	h.buf, h.midLine, h.msg, h.skip = h.buf[:0], midLine, nil, nil
	h.state = stateResync
}

// startMessage parses a complete header block and sets up body framing.
func (h *halfParser) startMessage(block []byte, t time.Time) error {
	text := strings.TrimRight(string(block), "\r\n")
	start, fields, _ := strings.Cut(text, "\n")
	start = strings.TrimSuffix(start, "\r")
	r := startLineRole([]byte(start))
	if r == roleUnknown || (h.role != roleUnknown && r != h.role) {
		return fmt.Errorf("bad start line %q", truncateString(start, 64))
	}
	hdr, err := parseHeaderLines(fields)
	if err != nil {
		return err
	}
	if h.role == roleUnknown {
		h.c.setRole(h.dir, r)
	}
	h.c.sawHTTP = true
	m := &message{}
	begun := h.c.msgStart[h.dir]
	size, cut := len(block), h.cutFrom > 0
	if cut {
		size = h.cutFrom
	}
	if r == roleRequest {
		method, rest, _ := strings.Cut(start, " ")
		target, proto, _ := strings.Cut(rest, " ")
		m.req = &Request{Conn: &h.c.conn, Time: begun, Method: method, Target: target, Proto: proto, Host: headerValue(hdr, "Host"), Header: hdr, HeaderBytes: size, HeaderCut: cut}
		if m.framing, m.remain, err = requestFraming(hdr); err != nil {
			return err
		}
		h.c.requestStarted(m)
	} else {
		proto, rest, _ := strings.Cut(start, " ")
		code, _, _ := strings.Cut(rest, " ")
		status, _ := strconv.Atoi(code)
		m.resp = &Response{Conn: &h.c.conn, Time: begun, StatusCode: status, Proto: proto, Header: hdr, HeaderBytes: size, HeaderCut: cut}
		if status >= 100 && status < 200 && status != http.StatusSwitchingProtocols {
			// Interim responses (100 Continue, 103 Early Hints) answer
			// nothing on their own: the final response follows.
			h.c.e.stats.InterimResponses++
			h.state = stateHeader
			return nil
		}
		m.answers = h.c.responseStarted(m)
		if m.framing, m.remain, err = responseFraming(m.answers, status, hdr); err != nil {
			return err
		}
	}
	m.encoding = contentCoding(hdr)
	if m.resp != nil {
		mt, _, _ := strings.Cut(headerValue(hdr, "Content-Type"), ";")
		m.resp.EventStream = strings.EqualFold(strings.TrimSpace(mt), "text/event-stream")
	}
	h.msg = m
	if m.resp != nil && m.resp.EventStream && m.encoding == "" {
		// Identity event streams are parsed as they arrive; encoded ones
		// (rare: SSE is usually sent uncompressed so it can stream) are
		// parsed when the body is complete.
		m.sse = newSSEParser(h.c.e.cfg.MaxBodyBytes)
		h.c.e.stats.Responses++
		h.c.e.h.Response(m.answers, m.resp)
	}
	if m.framing == framingNone {
		h.finishMessage(t)
		return nil
	}
	h.state = stateBody
	return nil
}

// body consumes body bytes according to the framing.
func (h *halfParser) body(p []byte, t time.Time) []byte {
	m := h.msg
	switch m.framing {
	case framingLength:
		k := int(min(m.remain, int64(len(p))))
		h.bodyBytes(p[:k], t)
		m.remain -= int64(k)
		if m.remain == 0 {
			h.finishMessage(t)
		}
		return p[k:]
	case framingChunked:
		n, done, err := m.chunked.decode(p, func(b []byte) { h.bodyBytes(b, t) })
		if err != nil {
			h.c.e.stats.ParseErrors++
			m.truncate(TruncDecodeError)
			h.finishMessage(t)
			h.toResync(true)
			return p[n:]
		}
		if m.chunked.resynced {
			m.chunked.resynced = false
			m.sse.boundary(t, func(ev *SSEEvent) { h.c.sseEvent(m, ev) })
		}
		if done {
			h.finishMessage(t)
		}
		return p[n:]
	case framingClose:
		h.bodyBytes(p, t)
		return nil
	}
	h.finishMessage(t) // framingNone: startMessage finished it already
	return p
}

// bodyBytes takes decoded-framing body bytes (still content-encoded).
func (h *halfParser) bodyBytes(p []byte, t time.Time) {
	m := h.msg
	m.rawLen += int64(len(p))
	if m.sse != nil {
		if m.sse.data == nil {
			// SDKs write an event per chunk: the chunk tells its size.
			m.sse.data = h.c.e.spares.get(m.announced(len(p)))
		}
		m.sse.feed(p, t, func(ev *SSEEvent) { h.c.sseEvent(m, ev) })
		return
	}
	if m.raw == nil && m.resp != nil {
		m.raw = h.c.e.spares.get(m.announced(len(p)))
	}
	limit := h.c.e.cfg.MaxBodyBytes
	if len(m.raw)+len(p) > limit {
		p = p[:max(0, limit-len(m.raw))]
		m.truncate(TruncBodyCap)
	}
	m.raw = append(m.raw, p...)
}

// gap accounts for n bytes of this direction lost to the capture.
func (h *halfParser) gap(n int, t time.Time) {
	switch h.state {
	case stateStart, stateResync:
		h.toResync(true)
	case stateHeader:
		if len(h.buf) > 0 {
			h.c.e.stats.GapsInHeaders++
			h.abandonHeader()
		}
		h.toResync(true)
	case stateHeaderSkip:
		h.c.e.stats.GapsInHeaders++
		h.buf = h.skip.kept
		h.abandonHeader()
		h.buf = nil
		h.toResync(true)
	case stateBody:
		h.c.e.stats.GapsInBody++
		m := h.msg
		m.truncate(TruncGap)
		if m.sse != nil {
			m.sse.gap()
		}
		switch m.framing {
		case framingLength:
			if int64(n) < m.remain {
				m.remain -= int64(n)
				m.rawLen += int64(n)
				return
			}
			next := int64(n) - m.remain
			m.rawLen += m.remain
			h.finishMessage(t)
			if next > 0 {
				h.toResync(true)
			}
		case framingChunked:
			switch {
			case m.chunked.skip(n):
				m.rawLen += int64(n)
			case m.sse != nil:
				// A long-lived stream is worth finding the chunk framing
				// again rather than losing everything after the gap.
				m.chunked.lose()
			default:
				h.finishMessage(t)
				h.toResync(true)
			}
		case framingClose:
			m.rawLen += int64(n)
		}
	}
}

// end is the end of the direction (FIN, RST, idle, eviction, input end).
func (h *halfParser) end(t time.Time) {
	switch h.state {
	case stateHeader:
		if len(h.buf) > 0 {
			h.c.e.stats.IncompleteHeaders++
		}
	case stateHeaderSkip:
		h.c.e.stats.IncompleteHeaders++
	case stateBody:
		if h.msg.framing != framingClose {
			h.msg.truncate(TruncConnEnd)
		}
		h.finishMessage(t)
	}
	h.state, h.buf, h.msg, h.skip = stateDead, nil, nil, nil
}

// finishMessage completes the message in progress and readies the next.
func (h *halfParser) finishMessage(t time.Time) {
	m := h.msg
	h.msg = nil
	h.state = stateHeader
	if m.emitted {
		return // the request went out early (responseStarted)
	}
	cfg := &h.c.e.cfg
	body, bodyLen := m.raw, m.rawLen
	if m.encoding != "" {
		body, bodyLen = h.c.e.inflate(m, cfg.MaxBodyBytes)
	}
	h.c.e.stats.Truncations.count(m.reason)
	if m.req != nil {
		m.req.End, m.req.Body, m.req.BodyLen = t, body, bodyLen
		m.req.Truncated, m.req.TruncatedBy = m.reason != "", m.reason
		h.c.requestDone(m)
		return
	}
	resp := m.resp
	resp.End, resp.BodyLen = t, bodyLen
	resp.Truncated, resp.TruncatedBy = m.reason != "", m.reason
	if resp.EventStream && m.sse == nil {
		// An encoded event stream: parse it now that it is whole.
		m.sse = newSSEParser(cfg.MaxBodyBytes)
		h.c.e.stats.Responses++
		h.c.e.h.Response(m.answers, resp)
		m.sse.feed(body, t, func(ev *SSEEvent) { h.c.sseEvent(m, ev) })
	}
	if !resp.EventStream {
		resp.Body = body
		h.c.e.stats.Responses++
		h.c.e.h.Response(m.answers, resp)
	} else if m.sse.pending() {
		// The stream stopped inside an event, which is never dispatched.
		h.c.e.stats.SSEIncomplete++
	}
	h.c.responseDone(m)
	h.c.e.recycle(m)
	if resp.StatusCode == http.StatusSwitchingProtocols || (m.answers != nil && m.answers.Method == http.MethodConnect && resp.StatusCode/100 == 2) {
		h.c.upgrade(headerValue(resp.Header, "Upgrade"))
	}
}

// spareBuffers recycles the buffers of finished responses (bodies, event
// data) within one Engine: MCP traffic is many similar messages, and
// growing fresh buffers for each was most of capture's allocation.
// Requests keep theirs: a Request waits for its response with its Body.
type spareBuffers struct{ bufs [][]byte }

const (
	maxSpareBuffers = 64
	// maxSpareCap leaves a rare huge buffer to the GC rather than pinning it.
	maxSpareCap = 1 << 20
)

// get returns the smallest spare buffer that holds want bytes or, failing
// that, the largest; nil when there is none. Buffers grow piece by piece
// as the body arrives, so one too small costs allocations and copies,
// while giving a large one to a small body leaves the next large body
// without.
func (s *spareBuffers) get(want int) []byte {
	if len(s.bufs) == 0 {
		return nil
	}
	pick := -1
	for i, b := range s.bufs {
		switch {
		case pick < 0:
			pick = i
		case cap(s.bufs[pick]) < want:
			if cap(b) > cap(s.bufs[pick]) {
				pick = i
			}
		case cap(b) >= want && cap(b) < cap(s.bufs[pick]):
			pick = i
		}
	}
	b := s.bufs[pick]
	last := len(s.bufs) - 1
	s.bufs[pick], s.bufs[last] = s.bufs[last], nil
	s.bufs = s.bufs[:last]
	return b
}

func (s *spareBuffers) put(b []byte) {
	if cap(b) == 0 || cap(b) > maxSpareCap || len(s.bufs) == maxSpareBuffers {
		return
	}
	s.bufs = append(s.bufs, b[:0])
}

// recycle takes back the buffers of a response the Handler is done with
// (Handlers must not keep Body past their calls).
func (e *Engine) recycle(m *message) {
	e.spares.put(m.raw)
	if m.sse != nil {
		e.spares.put(m.sse.data)
	}
	m.raw, m.sse = nil, nil
}

// inflate removes a gzip or deflate content-coding, stopping at limit so a
// compression bomb costs no more than limit bytes of memory and work.
func (e *Engine) inflate(m *message, limit int) ([]byte, int64) {
	var r io.ReadCloser
	var err error
	src := bytes.NewReader(m.raw)
	switch m.encoding {
	case "gzip":
		r, err = gzip.NewReader(src)
	case "deflate":
		// "deflate" is zlib-wrapped per RFC 9110, but some servers send raw
		// deflate; the zlib header tells.
		if r, err = zlib.NewReader(src); err != nil {
			src.Reset(m.raw)
			r, err = flate.NewReader(src), nil
		}
	}
	if err != nil {
		m.truncate(TruncDecodeError)
		return nil, 0
	}
	defer r.Close()
	out := bytes.NewBuffer(make([]byte, 0, min(limit, 4*len(m.raw)+512)))
	n, err := io.Copy(out, io.LimitReader(r, int64(limit)+1))
	switch {
	case n > int64(limit):
		m.truncate(TruncDecompressCap)
		return out.Bytes()[:limit], int64(limit)
	case err != nil && m.reason == "":
		// Corrupt data, not a body we cut ourselves.
		m.truncate(TruncDecodeError)
	}
	return out.Bytes(), n
}

// headerEnd returns the index just past the blank line ending a header
// block in b, searching from from, or -1.
func headerEnd(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 3
		}
	}
	return -1
}

// parseHeaderLines parses the field lines of a header block, folding
// obsolete line continuations.
func parseHeaderLines(fields string) (http.Header, error) {
	n := strings.Count(fields, "\n") + 1
	hdr := make(http.Header, n)
	// One backing array for the values, as net/textproto does: a header
	// seen once (nearly all) costs no allocation of its own.
	values := make([]string, 0, n)
	var last string
	for fields != "" {
		var line string
		line, fields, _ = strings.Cut(fields, "\n")
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == "" {
				return nil, errors.New("continuation line before any header")
			}
			vs := hdr[last]
			vs[len(vs)-1] += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.IndexByte(name, ' ') >= 0 || strings.IndexByte(name, '\t') >= 0 {
			return nil, fmt.Errorf("bad header line %q", truncateString(line, 64))
		}
		last = textproto.CanonicalMIMEHeaderKey(name)
		if vs, ok := hdr[last]; ok {
			hdr[last] = append(vs, strings.TrimSpace(value))
			continue
		}
		values = append(values, strings.TrimSpace(value))
		hdr[last] = values[len(values)-1 : len(values) : len(values)]
	}
	return hdr, nil
}

// headerValue is h.Get(name) for a name in canonical form, as the parser
// stores them: Get would canonicalize the name again on every call. Header
// fields are looked up by indexing h directly where all values are wanted.
func headerValue(h http.Header, name string) string {
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

var errFraming = errors.New("bad message framing")

func requestFraming(h http.Header) (framing, int64, error) {
	if te := h["Transfer-Encoding"]; len(te) > 0 {
		if isChunked(te) {
			return framingChunked, 0, nil
		}
		return 0, 0, fmt.Errorf("%w: request transfer-coding %q", errFraming, te)
	}
	n, ok, err := contentLength(h)
	switch {
	case err != nil:
		return 0, 0, err
	case !ok || n == 0:
		return framingNone, 0, nil
	}
	return framingLength, n, nil
}

func responseFraming(req *Request, status int, h http.Header) (framing, int64, error) {
	if status < 200 || status == http.StatusNoContent || status == http.StatusNotModified ||
		(req != nil && (req.Method == http.MethodHead || (req.Method == http.MethodConnect && status/100 == 2))) {
		return framingNone, 0, nil
	}
	if te := h["Transfer-Encoding"]; len(te) > 0 {
		if isChunked(te) {
			return framingChunked, 0, nil
		}
		return framingClose, 0, nil
	}
	n, ok, err := contentLength(h)
	switch {
	case err != nil:
		return 0, 0, err
	case !ok:
		return framingClose, 0, nil
	case n == 0:
		return framingNone, 0, nil
	}
	return framingLength, n, nil
}

// isChunked reports whether chunked is the final transfer-coding.
func isChunked(te []string) bool {
	last := te[len(te)-1]
	last = last[strings.LastIndexByte(last, ',')+1:]
	return strings.EqualFold(strings.TrimSpace(last), "chunked")
}

// contentLength parses Content-Length; repeated equal values are allowed.
func contentLength(h http.Header) (int64, bool, error) {
	vs := h["Content-Length"]
	if len(vs) == 0 {
		return 0, false, nil
	}
	var n int64 = -1
	for _, v := range vs {
		for part := range strings.SplitSeq(v, ",") {
			k, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
			if err != nil || k < 0 || (n >= 0 && k != n) {
				return 0, false, fmt.Errorf("%w: Content-Length %q", errFraming, vs)
			}
			n = k
		}
	}
	return n, true, nil
}

// contentCoding returns the gzip or deflate coding to remove, or "" for
// identity and for codings left as sent (br, zstd: the Header says which).
func contentCoding(h http.Header) string {
	switch strings.ToLower(strings.TrimSpace(headerValue(h, "Content-Encoding"))) {
	case "gzip", "x-gzip":
		return "gzip"
	case "deflate":
		return "deflate"
	}
	return ""
}

// startLineRole tells a request line from a status line; anything else is
// roleUnknown. It is strict on purpose: resync must not lock onto body text.
func startLineRole(line []byte) role {
	line = bytes.TrimRight(line, "\r\n")
	if bytes.HasPrefix(line, []byte("HTTP/1.")) {
		if len(line) >= 12 && (line[7] == '0' || line[7] == '1') && line[8] == ' ' &&
			isDigit(line[9]) && isDigit(line[10]) && isDigit(line[11]) && (len(line) == 12 || line[12] == ' ') {
			return roleResponse
		}
		return roleUnknown
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || !isToken(line[:sp]) {
		return roleUnknown
	}
	rest := line[sp+1:]
	sp2 := bytes.LastIndexByte(rest, ' ')
	if sp2 <= 0 {
		return roleUnknown
	}
	if v := rest[sp2+1:]; len(v) == 8 && bytes.HasPrefix(v, []byte("HTTP/1.")) && (v[7] == '0' || v[7] == '1') {
		return roleRequest
	}
	return roleUnknown
}

// startVerdict tells whether p could begin a message of role r (or of
// either role, for roleUnknown), and whether p is long enough to be sure.
// Only the first few bytes are looked at, so other protocols are given up
// on at once.
func startVerdict(p []byte, r role) (plausible, certain bool) {
	const httpPrefix = "HTTP/1."
	k := min(len(p), len(httpPrefix))
	if r != roleRequest && string(p[:k]) == httpPrefix[:k] {
		return true, k == len(httpPrefix)
	}
	if r == roleResponse {
		return false, true
	}
	for i, c := range p {
		switch {
		case c == ' ':
			return i > 0, true
		case i >= 20 || !isTokenByte(c):
			return false, true
		}
	}
	return true, false
}

func knownMethod(line []byte) bool {
	for _, m := range startMethods {
		if bytes.HasPrefix(line, m) {
			return true
		}
	}
	return false
}

func isToken(b []byte) bool {
	for _, c := range b {
		if !isTokenByte(c) {
			return false
		}
	}
	return len(b) > 0
}

// isTokenByte is RFC 9110 tchar.
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
