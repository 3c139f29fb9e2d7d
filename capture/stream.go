package capture

import (
	"bytes"
	"container/list"
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/reassembly"
)

// stream is one TCP connection: the reassembly.Stream gopacket calls, the
// two HTTP half parsers, and the requests waiting for their responses.
//
// Directions are indexed as reassembly numbers them: 0 is the sender of the
// connection's first packet, 1 the other side. Which one is the client is
// known from a SYN, or learnt from the first start line parsed.
type stream struct {
	e        *Engine
	conn     Conn
	addr     [2]netip.AddrPort // endpoint that sends in direction i
	halves   [2]halfParser
	msgStart [2]time.Time // when the message in progress in direction i began
	// clientDir is the direction the client sends in.
	clientDir int

	// holeAt and holeSince describe, per direction, a hole in the sequence
	// space that out-of-order data waits behind: its first byte and when
	// data first queued behind it. holeSince is zero when there is none.
	holeAt    [2]reassembly.Sequence
	holeSince [2]time.Time

	// order is what each direction knows for holding segments back
	// (reorder.go); heldElem is set while any are.
	order    [2]dirOrder
	heldElem *list.Element

	lru      *list.Element
	lastSeen time.Time
	// parkElem is set while the stream is parked (see park.go).
	parkElem *list.Element
	parkedAt time.Time
	ghost    bool // see newStream
	// midStream is set while the connection's id and roles come from a
	// packet other than a SYN; name is what its id was made from.
	midStream bool
	name      uint64
	fin, rst  bool
	ended     bool

	bytes   [2]int64
	packets int64
	gap     int64

	// pending are requests, in order, whose response has not started;
	// bounded by maxPending.
	pending  []*Request
	reqSeq   int
	respSeq  int
	sawHTTP  bool
	app      string // AppTLS once a ClientHello was seen, AppOther when given up
	tls      clientHello
	tlsBuf   []byte
	upgraded string
}

// maxPending bounds requests awaiting responses on one connection
// (pipelining, or a one-sided capture that only sees requests).
const maxPending = 64

var _ reassembly.Stream = (*stream)(nil)

func dirIndex(d reassembly.TCPFlowDirection) int {
	if d == reassembly.TCPDirClientToServer {
		return 0
	}
	return 1
}

// newStream builds the connection for its first packet. A first packet
// with neither SYN nor payload (the last ACK of a closed connection, a
// keep-alive) makes a ghost: it is tracked but not reported until a SYN or
// data shows a connection worth reporting.
func (e *Engine) newStream(netFlow gopacket.Flow, tcp *layers.TCP) *stream {
	srcIP, _ := netip.AddrFromSlice(netFlow.Src().Raw())
	dstIP, _ := netip.AddrFromSlice(netFlow.Dst().Raw())
	src := netip.AddrPortFrom(srcIP.Unmap(), uint16(tcp.SrcPort))
	dst := netip.AddrPortFrom(dstIP.Unmap(), uint16(tcp.DstPort))
	s := e.resume(src, dst, tcp.SYN)
	if s == nil {
		s = &stream{e: e, ghost: true, addr: [2]netip.AddrPort{src, dst}}
		for i := range s.halves {
			s.halves[i] = halfParser{c: s, dir: i, state: stateResync}
		}
	}
	s.lru = e.lru.PushBack(s)
	s.lastSeen = e.now
	e.tracked++
	e.pooled[keyOf(src, dst)] = s
	return s
}

// materialize turns a ghost into a reported connection at its first SYN or
// data packet, sent in direction d.
func (s *stream) materialize(d int, tcp *layers.TCP) {
	e := s.e
	s.ghost = false
	s.conn.Start = e.now
	e.stats.FlowsCreated++
	e.stats.FlowsActive++
	s.identify(d, tcp)
}

// identify names the connection and tells client from server by a packet
// of direction d: a SYN or SYN-ACK says who is who. It runs again for a
// SYN that arrives after the first data it preceded on the wire, while
// that data is held back (see reorder.go) and nothing was reported yet.
func (s *stream) identify(d int, tcp *layers.TCP) {
	e := s.e
	if s.midStream {
		e.names.forget(s.name) // this one did not start mid-stream after all
	}
	s.conn.ID = e.connID(s, tcp)
	s.midStream = !tcp.SYN
	switch {
	case tcp.SYN && !tcp.ACK:
		s.setRole(d, roleRequest)
	case tcp.SYN && tcp.ACK:
		s.setRole(1-d, roleRequest)
	default:
		// Mid-stream: a provisional guess (ephemeral ports are high) until
		// a start line shows who is who.
		s.clientDir = 1 - d
		if s.addr[d].Port() > s.addr[1-d].Port() {
			s.clientDir = d
		}
		s.setEndpoints()
	}
}

// connID names a connection by what it is, not by when the capture met
// it, so that reordered or resharded captures give the same ids: a hash of
// its address pair and the client's initial sequence number (from the SYN,
// or from the SYN-ACK that acknowledges it), or, for a connection seen
// mid-stream, of its address pair alone — and of how many connections of
// the same name came before, for a pair that reconnects mid-stream or a
// capture replayed in a loop (see connNames).
func (e *Engine) connID(s *stream, tcp *layers.TCP) uint64 {
	h := fnv.New64a()
	for _, ap := range keyOf(s.addr[0], s.addr[1]) {
		a := ap.Addr().As16()
		h.Write(a[:])
		h.Write([]byte{byte(ap.Port() >> 8), byte(ap.Port())})
	}
	var tag [5]byte
	switch {
	case tcp.SYN && !tcp.ACK:
		binary.BigEndian.PutUint32(tag[1:], tcp.Seq)
	case tcp.SYN:
		binary.BigEndian.PutUint32(tag[1:], tcp.Ack-1)
	default:
		tag[0] = 'm'
	}
	h.Write(tag[:])
	name := h.Sum64()
	s.name = name
	if n := e.names.take(name, e.cfg.MaxFlows, &e.stats.ConnNameTurnovers); n > 0 {
		binary.BigEndian.PutUint32(tag[1:], n)
		h.Write(tag[1:])
	}
	return max(h.Sum64(), 1) // 0 is no connection
}

// connNames counts the connections of each name (connID) seen lately, in
// two generations of at most MaxFlows names each: a repeat is told apart
// as long as it comes within MaxFlows other names of its predecessor.
type connNames struct {
	cur, old map[uint64]uint32
}

// take returns how many connections of name came before, and counts this
// one; turnovers counts the generations retired.
func (c *connNames) take(name uint64, max int, turnovers *uint64) uint32 {
	n, ok := c.cur[name]
	if !ok {
		n = c.old[name]
	}
	if c.cur == nil || len(c.cur) >= max {
		c.old, c.cur = c.cur, make(map[uint64]uint32)
		if c.old != nil {
			*turnovers++
		}
	}
	c.cur[name] = n + 1
	return n
}

// forget undoes take for a connection renamed before it reported
// anything.
func (c *connNames) forget(name uint64) {
	if n := c.cur[name]; n > 1 {
		c.cur[name] = n - 1
	} else {
		delete(c.cur, name)
	}
}

// setRole records that direction dir carries r, and so the other direction
// the opposite.
func (s *stream) setRole(dir int, r role) {
	s.halves[dir].role = r
	s.halves[1-dir].role = r.opposite()
	s.clientDir = dir
	if r == roleResponse {
		s.clientDir = 1 - dir
	}
	s.setEndpoints()
}

func (s *stream) setEndpoints() {
	s.conn.Client, s.conn.Server = s.addr[s.clientDir], s.addr[1-s.clientDir]
}

// Accept implements reassembly.Stream: every packet of the connection
// passes here first, in capture order.
func (s *stream) Accept(tcp *layers.TCP, _ gopacket.CaptureInfo, dir reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, _ reassembly.AssemblerContext) bool {
	e := s.e
	e.cur = s
	d := dirIndex(dir)
	// Reassembly counted this packet as activity, whatever follows; the
	// LRU must agree with it for evict's age cutoff to find the oldest.
	s.lastSeen = e.now
	e.lru.MoveToBack(s.lru)
	if s.ghost {
		if !tcp.SYN && len(tcp.Payload) == 0 {
			e.stats.GhostPackets++
			return false
		}
		s.materialize(d, tcp)
	} else if tcp.SYN && s.midStream && s.packets == 0 {
		s.identify(d, tcp)
	}
	s.order[d].arrive(tcp)
	if s.holds(d, tcp, nextSeq) {
		s.hold(d, tcp)
		return false
	}
	if o := 1 - d; tcp.ACK && !s.holeSince[o].IsZero() && s.holeAt[o].Difference(reassembly.Sequence(tcp.Ack)) > 0 {
		// The peer acknowledges bytes the capture never saw: they will not
		// be retransmitted, so waiting for them only delays what follows
		// (and would put this packet's response before its request). The
		// Engine declares the hole a gap and feeds this packet again.
		e.ackedHole = s.holeSince[o]
		s.holeSince[o] = time.Time{}
		return false
	}
	if len(tcp.Payload) > 0 && nextSeq != -1 && nextSeq.Difference(reassembly.Sequence(tcp.Seq)) > 0 && s.holeSince[d].IsZero() {
		s.holeAt[d], s.holeSince[d] = nextSeq, e.now
	}
	s.order[d].feed(tcp)
	if nextSeq != -1 {
		s.order[d].next, s.order[d].nextOK = nextSeq, true
	} else if tcp.SYN {
		s.order[d].next, s.order[d].nextOK = reassembly.Sequence(tcp.Seq).Add(1), true
	}
	s.packets++
	s.bytes[d] += int64(len(tcp.Payload))
	s.rst = s.rst || tcp.RST
	s.fin = s.fin || tcp.FIN
	if tcp.SYN && nextSeq == -1 {
		s.halves[d].state = stateStart
	} else if nextSeq == -1 && !*start {
		if len(tcp.Payload) == 0 && !tcp.FIN && !tcp.RST {
			// A bare ACK gives no safe place to start: a keep-alive probe
			// sits one byte before the next data.
			return false
		}
		// No SYN seen in this direction: start here rather than wait for
		// one forever. The parser resyncs at the next start line.
		*start = true
		e.stats.MidStreamStarts++
		s.order[d].next, s.order[d].nextOK = reassembly.Sequence(tcp.Seq), true
	}
	return true
}

// ReassembledSG implements reassembly.Stream: in-order bytes of one
// direction, after skip lost ones.
func (s *stream) ReassembledSG(sg reassembly.ScatterGather, _ reassembly.AssemblerContext) {
	e := s.e
	dir, _, end, skip := sg.Info()
	st := sg.Stats()
	e.stats.OutOfOrderPackets += uint64(st.QueuedPackets)
	e.stats.OverlapBytes += uint64(st.OverlapBytes)
	if s.ended {
		return
	}
	n, _ := sg.Lengths()
	if e.flushing {
		e.flushed = append(e.flushed, flushOp{s: s, dir: dirIndex(dir), skip: skip, data: bytes.Clone(sg.Fetch(n)), end: end})
		return
	}
	s.deliver(dirIndex(dir), skip, sg.Fetch(n), end)
}

// deliver hands reassembled bytes of direction d to its parser.
func (s *stream) deliver(d, skip int, data []byte, end bool) {
	e := s.e
	if s.ended {
		return
	}
	h := &s.halves[d]
	// Bytes moved: the hole, if any, is filled or skipped. A hole further
	// on is noticed at the next out-of-order segment.
	s.holeSince[d] = time.Time{}
	s.order[d].delivered(skip+len(data), end)
	if skip > 0 {
		e.stats.Gaps++
		e.stats.GapBytes += uint64(skip)
		if e.inAssemble {
			// Inside Assemble only a page cap makes reassembly skip.
			e.stats.PageCapGaps++
		}
		s.gap += int64(skip)
		h.gap(skip, e.now)
	}
	if len(data) > 0 {
		if s.app == AppTLS && d == s.clientDir && s.tlsBuf != nil {
			s.feedTLS(data)
		} else {
			h.feed(data, e.now)
		}
	}
	if end {
		h.end(e.now)
	}
}

// ReassemblyComplete implements reassembly.Stream: both directions are
// closed, by FIN/RST or by one of the Engine's flushes.
func (s *stream) ReassemblyComplete(reassembly.AssemblerContext) bool {
	e := s.e
	e.tracked--
	e.lru.Remove(s.lru)
	if k := keyOf(s.addr[0], s.addr[1]); e.pooled[k] == s {
		delete(e.pooled, k)
	}
	if e.flushing {
		e.flushed = append(e.flushed, flushOp{s: s, complete: true})
	} else {
		s.complete(ConnEndFIN)
	}
	return true
}

// complete ends a stream reassembly has let go of; an RST seen overrides
// reason.
func (s *stream) complete(reason string) {
	if s.ended || s.ghost {
		return
	}
	if s.rst {
		reason = ConnEndRST
	}
	if reason == ConnEndIdle && !s.fin && s.streaming() {
		s.e.park(s)
		return
	}
	s.finish(reason)
}

// finish ends the connection: what is in progress is completed or cut,
// then the Handler gets ConnEnd.
func (s *stream) finish(reason string) {
	e := s.e
	if s.ghost {
		s.ended = true
		e.dropHeld(s)
		return
	}
	s.halves[s.clientDir].end(e.now)
	s.halves[1-s.clientDir].end(e.now)
	end := ConnEnd{
		Time:        e.now,
		Reason:      reason,
		AppProtocol: s.appProtocol(),
		BytesC2S:    s.bytes[s.clientDir],
		BytesS2C:    s.bytes[1-s.clientDir],
		Packets:     s.packets,
		GapBytes:    s.gap,
		Exchanges:   s.reqSeq,
		Upgrade:     s.upgraded,
	}
	if s.app == AppTLS {
		end.TLSSNI, end.TLSALPN = s.tls.sni, s.tls.alpn
	}
	s.ended = true
	s.pending, s.tlsBuf = nil, nil
	e.dropHeld(s)
	e.stats.FlowsActive--
	e.stats.FlowsEnded.count(reason)
	e.h.ConnEnd(&s.conn, &end)
}

func (s *stream) appProtocol() string {
	switch {
	case s.app == AppTLS:
		return AppTLS
	case s.sawHTTP:
		return AppHTTP
	}
	return AppOther
}

// notHTTP gives up parsing: the connection carries something else.
func (s *stream) notHTTP() {
	if s.app == "" {
		s.app = AppOther
	}
	s.halves[0].state, s.halves[1].state = stateDead, stateDead
}

// upgrade stops parsing after 101 Switching Protocols or a CONNECT tunnel.
func (s *stream) upgrade(proto string) {
	if proto == "" {
		proto = "tunnel"
	}
	s.upgraded = proto
	s.e.stats.Upgrades++
	s.halves[0].state, s.halves[1].state = stateDead, stateDead
}

// requestStarted numbers a request whose headers are complete.
func (s *stream) requestStarted(m *message) {
	m.req.Seq = s.reqSeq
	s.reqSeq++
}

// requestDone hands a complete request to the Handler and queues it for
// its response.
func (s *stream) requestDone(m *message) {
	s.e.stats.Requests++
	s.e.h.Request(m.req)
	if len(s.pending) == maxPending {
		s.e.stats.UnansweredDropped++
		s.pending = s.pending[1:]
	}
	s.pending = append(s.pending, m.req)
}

// responseStarted matches a final response to the oldest unanswered
// request. When that request is still being read (its body has not ended),
// it is handed over now, truncated, so the Handler never sees a response
// before its request.
func (s *stream) responseStarted(m *message) *Request {
	seq := s.respSeq
	s.respSeq++
	if len(s.pending) > 0 {
		req := s.pending[0]
		s.pending = s.pending[1:]
		m.resp.Seq = req.Seq
		return req
	}
	if rm := s.halves[s.clientDir].msg; rm != nil && rm.req != nil && !rm.emitted {
		rm.truncate(TruncEarlyResponse)
		s.e.stats.Truncations.count(TruncEarlyResponse)
		rm.req.End, rm.req.Body, rm.req.BodyLen = s.e.now, rm.raw, rm.rawLen
		rm.req.Truncated, rm.req.TruncatedBy = true, rm.reason
		rm.emitted = true
		s.e.stats.Requests++
		s.e.h.Request(rm.req)
		m.resp.Seq = rm.req.Seq
		return rm.req
	}
	// Numbered apart from the requests (-1 for the connection's first
	// response): a lost request would otherwise leave its response the
	// number of the next request's exchange, and their events one id.
	m.resp.Seq = -(seq + 1)
	s.e.stats.UnmatchedResponses++
	return nil
}

// dropResponse forgets the request answered by a response whose headers
// were lost.
func (s *stream) dropResponse() {
	s.respSeq++
	if len(s.pending) > 0 {
		s.pending = s.pending[1:]
		s.e.stats.UnansweredDropped++
	}
}

func (s *stream) sseEvent(m *message, ev *SSEEvent) {
	s.e.stats.SSEEvents++
	s.e.h.SSEEvent(m.answers, m.resp, ev)
}

func (s *stream) responseDone(m *message) {
	s.e.h.ResponseEnd(m.answers, m.resp)
}
