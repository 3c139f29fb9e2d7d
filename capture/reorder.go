package capture

import (
	"slices"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/reassembly"
)

// Reordering across directions.
//
// A span port or a multi-queue NIC delivers the two directions of a
// connection from different queues, so a response segment can arrive
// before the request segment it acknowledges. Reassembly orders each
// direction on its own and would hand the response over first: it would
// pair with no request (or the previous one), and a hole the response
// acknowledges would be declared lost at once. So a segment that
// acknowledges bytes of the other direction the capture has not delivered
// yet is held back, with the segments of its direction after it, until
// those bytes arrive — or until ReorderWindow of packet time passed, the
// connection holds maxHeldPerConn segments, or all connections hold
// MaxHeldBytes, when the oldest go on as they are (then the missing bytes
// are truly lost, and the usual gap handling applies). Held segments keep
// their arrival order when they go on.

// dirOrder is what one direction of a stream knows for holding back:
// how far its sequence space arrived (held back or not) and was fed to
// reassembly (the ok flags say whether any was), the segments it holds,
// in sequence order, since when the first of them waits, and whether they
// wait for the direction's start.
type dirOrder struct {
	arrived, fedTo   reassembly.Sequence
	arrivedOK, fedOK bool
	held             []heldSegment
	heldSince        time.Time
	startHeld        bool
	// next is the sequence number just past what reassembly delivered to
	// the parser (nextOK: known): bytes before it are parsed, those after
	// it wait in reassembly behind a hole, or have not arrived.
	next   reassembly.Sequence
	nextOK bool
	// overtaken is set when the other direction sent data from beyond
	// what the first held segment acknowledges: the bytes it waits for
	// were lost (a direction keeps its order on the wire), so it goes now.
	overtaken bool
}

// heldSegment is a packet held back; data is its own copy of the frame.
type heldSegment struct {
	pkt Packet
	seq reassembly.Sequence
	ack reassembly.Sequence
	at  time.Time
}

// maxHeldPerConn bounds the segments one connection holds back.
const maxHeldPerConn = 64

// seqEnd is the sequence number just past a segment (SYN and FIN count).
func seqEnd(tcp *layers.TCP) reassembly.Sequence {
	n := len(tcp.Payload)
	if tcp.SYN {
		n++
	}
	if tcp.FIN {
		n++
	}
	return reassembly.Sequence(tcp.Seq).Add(n)
}

// delivered advances next past bytes (and a FIN) handed to the parser.
func (o *dirOrder) delivered(n int, fin bool) {
	if fin {
		n++
	}
	if o.nextOK {
		o.next = o.next.Add(n)
	}
}

// arrive and feed record a segment of the direction that arrived, and
// that reassembly accepted.
func (o *dirOrder) arrive(tcp *layers.TCP) { advanceTo(&o.arrived, &o.arrivedOK, seqEnd(tcp)) }
func (o *dirOrder) feed(tcp *layers.TCP)   { advanceTo(&o.fedTo, &o.fedOK, seqEnd(tcp)) }

// advanceTo moves *to forward to end; ok says whether *to was set.
func advanceTo(to *reassembly.Sequence, ok *bool, end reassembly.Sequence) {
	if !*ok || to.Difference(end) > 0 {
		*to, *ok = end, true
	}
}

// ahead reports whether a segment of direction d acknowledging ack must
// wait for bytes of the other direction o: bytes that have not arrived,
// that arrived but are held back, or that wait behind a hole.
func (s *stream) ahead(d int, ack reassembly.Sequence) bool {
	o := &s.order[1-d]
	switch {
	case o.arrivedOK && o.arrived.Difference(ack) > 0:
		return true
	case o.nextOK && o.next.Difference(ack) > 0:
		return true // arrived, but not parsed yet: behind a hole
	case len(o.held) > 0 && (!o.fedOK || o.fedTo.Difference(ack) > 0):
		return true
	}
	return !s.holeSince[1-d].IsZero() && s.holeAt[1-d].Difference(ack) > 0
}

// holds reports whether the segment tcp of direction d, whose reassembly
// has not started (nextSeq -1) or has, must be held back.
func (s *stream) holds(d int, tcp *layers.TCP, nextSeq reassembly.Sequence) bool {
	switch {
	case s.e.replaying || s.ended:
		return false
	case len(s.order[d].held) > 0:
		return true // the direction goes on in order
	case len(tcp.Payload) > 0 && s.overtakes(d, tcp):
		return true // after the other direction's held segments, which go first
	case nextSeq == -1 && !tcp.SYN && len(tcp.Payload) > 0:
		// A direction seen from its middle starts where its first packet
		// is: wait a little for the packets it overtook.
		s.order[d].startHeld = true
		return true
	}
	return tcp.ACK && s.ahead(d, reassembly.Sequence(tcp.Ack))
}

// overtakes reports whether a segment of direction d starts at or beyond
// what the other direction's first held segment acknowledges, and if so
// marks that one due: it answered bytes before this segment, which the
// capture lost.
func (s *stream) overtakes(d int, tcp *layers.TCP) bool {
	o := &s.order[1-d]
	if len(o.held) == 0 || o.startHeld || reassembly.Sequence(tcp.Seq).Difference(o.held[0].ack) > 0 {
		return false
	}
	o.overtaken = true
	return true
}

// hold keeps a copy of the packet being assembled, in sequence order
// among its direction's held ones.
func (s *stream) hold(d int, tcp *layers.TCP) {
	e := s.e
	p := e.curPacket
	p.Data = append([]byte(nil), p.Data...)
	h := heldSegment{pkt: p, seq: reassembly.Sequence(tcp.Seq), ack: reassembly.Sequence(tcp.Ack), at: e.now}
	o := &s.order[d]
	i := len(o.held)
	for i > 0 && h.seq.Difference(o.held[i-1].seq) > 0 {
		i--
	}
	o.held = slices.Insert(o.held, i, h)
	if len(o.held) == 1 {
		o.heldSince = e.now
	}
	e.heldBytes += len(p.Data)
	e.stats.ReorderHeld++
	if s.heldElem == nil {
		s.heldElem = e.holding.PushBack(s)
	}
}

// heldCount is how many segments s holds.
func (s *stream) heldCount() int { return len(s.order[0].held) + len(s.order[1].held) }

// releaseAfter runs after a packet of s was assembled (reassembly must not
// be reentered from its callbacks): what it fed may release held segments,
// and a connection holding too many lets them all go.
func (e *Engine) releaseAfter(s *stream) {
	force := s.heldCount() > maxHeldPerConn
	if force {
		e.stats.ReorderCapReleases++
	}
	e.releaseHeld(s, force)
}

// releaseHeld feeds the held segments of s that need not wait any more
// (all of them when force is set), each direction in sequence order, and
// a segment after the bytes of the other direction it acknowledges where
// the two directions allow it.
func (e *Engine) releaseHeld(s *stream, force bool) {
	for !s.ended {
		d, ok := e.nextHeld(s, force)
		if !ok {
			break
		}
		o := &s.order[d]
		h := o.held[0]
		o.held = o.held[1:]
		if len(o.held) == 0 {
			o.held, o.startHeld, o.overtaken = nil, false, false
		} else {
			o.heldSince = o.held[0].at
		}
		e.heldBytes -= len(h.pkt.Data)
		e.refeed(h.pkt)
	}
	switch {
	case s.ended:
		e.dropHeld(s) // what its end left held can go nowhere now
	case s.heldCount() == 0 && s.heldElem != nil:
		e.holding.Remove(s.heldElem)
		s.heldElem = nil
	}
}

// nextHeld picks the direction whose first held segment goes next: one
// that waits for nothing, else (force, or ReorderWindow passed) the one
// that began to wait first.
func (e *Engine) nextHeld(s *stream, force bool) (int, bool) {
	var ready, due [2]bool
	for d := range 2 {
		o := &s.order[d]
		if len(o.held) == 0 {
			continue
		}
		due[d] = force || o.overtaken || e.now.Sub(o.heldSince) >= e.cfg.ReorderWindow
		ready[d] = !o.startHeld && !s.ahead(d, o.held[0].ack)
		if o.startHeld && due[d] {
			ready[d] = !s.ahead(d, o.held[0].ack) || len(s.order[1-d].held) == 0
		}
	}
	pick := func(ok [2]bool) (int, bool) {
		switch {
		case ok[0] && ok[1]:
			if s.order[1].heldSince.Before(s.order[0].heldSince) {
				return 1, true
			}
			return 0, true
		case ok[0]:
			return 0, true
		case ok[1]:
			return 1, true
		}
		return 0, false
	}
	if d, ok := pick(ready); ok {
		return d, true
	}
	d, ok := pick(due)
	if ok && !s.order[d].startHeld {
		e.stats.ReorderExpired++
	}
	return d, ok
}

// refeed assembles a held packet again, now without holding it.
func (e *Engine) refeed(p Packet) {
	// A decoder of its own: the packet that made this one due may still
	// be in the Engine's decoder's layers (see advance).
	flow, tcp, err := e.heldDec.decode(p.LinkType, p.Data)
	if err != nil {
		return // it decoded once: cannot happen
	}
	// What it completes happened when it arrived, not when it was let
	// go: the clock goes back for it (reassembly sees its time already),
	// then on to where it was.
	cur, now := e.curPacket, e.now
	e.replaying, e.curPacket = true, p
	if p.Info.Timestamp.Before(e.now) {
		e.now = p.Info.Timestamp
	}
	e.feed(flow, tcp)
	e.replaying, e.curPacket = false, cur
	if now.After(e.now) {
		e.now = now
	}
}

// expireHeld releases what will have waited ReorderWindow at packet time
// now, and the oldest holders' segments while all hold more than
// MaxHeldBytes. The Engine's clock has not moved to now yet, so what goes
// keeps the time it arrived at, and goes before idle flushes at now.
// Connections are in the holding list in about the order they began to
// hold: the walk visits each at most once and ends at the first that
// need not go.
func (e *Engine) expireHeld(now time.Time) {
	for range e.holding.Len() {
		el := e.holding.Front()
		if el == nil {
			return
		}
		s := el.Value.(*stream)
		over := e.heldBytes > e.cfg.MaxHeldBytes
		due := s.heldDue(now, e.cfg.ReorderWindow)
		if !over && !due {
			return
		}
		if over {
			e.stats.ReorderCapReleases++
		}
		e.releaseHeld(s, over || due)
		if s.heldElem == el {
			// Due segments went, others still wait: this connection's
			// turn comes again after the others'.
			e.holding.MoveToBack(el)
		}
	}
}

// heldDue reports whether a direction of s has waited window.
func (s *stream) heldDue(now time.Time, window time.Duration) bool {
	for _, o := range &s.order {
		if len(o.held) > 0 && now.Sub(o.heldSince) >= window {
			return true
		}
	}
	return false
}

// releaseAllHeld lets every held segment go, before a flush ends
// connections or at the end of the input.
func (e *Engine) releaseAllHeld() {
	for el := e.holding.Front(); el != nil; el = e.holding.Front() {
		e.releaseHeld(el.Value.(*stream), true)
	}
}

// dropHeld forgets the held segments of a connection that ended.
func (e *Engine) dropHeld(s *stream) {
	for d := range s.order {
		for _, h := range s.order[d].held {
			e.heldBytes -= len(h.pkt.Data)
			e.stats.ReorderDropped++
		}
		s.order[d].held = nil
	}
	if s.heldElem != nil {
		e.holding.Remove(s.heldElem)
		s.heldElem = nil
	}
}
