package capture

import (
	"container/list"
	"net/netip"
	"time"
)

// Parking keeps long-lived event streams alive across quiet spells.
//
// MCP's standalone GET streams may carry nothing for longer than any
// sensible IdleTimeout, and the next event on them (a sampling or
// elicitation request from the server) is what a sensor must not miss.
// Reassembly state cannot outlive its idle flush, but the parser state can:
// a connection idling out with an event stream open is parked, without
// buffers, for StreamIdleTimeout. When a packet of the same address pair
// comes back (not a SYN: that is a new connection) the parked stream takes
// it up where it stopped, with the same Conn.

// connKey names a connection by its address pair, in either direction.
type connKey [2]netip.AddrPort

func keyOf(a, b netip.AddrPort) connKey {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return connKey{a, b}
}

// parking holds the parked streams, oldest first.
type parking struct {
	byKey map[connKey]*stream
	order list.List
}

// streaming reports whether an event-stream response is in progress.
func (s *stream) streaming() bool {
	for i := range s.halves {
		if m := s.halves[i].msg; m != nil && m.resp != nil && m.sse != nil {
			return true
		}
	}
	return false
}

// park sets s aside instead of ending it.
func (e *Engine) park(s *stream) {
	if e.parking.byKey == nil {
		e.parking.byKey = map[connKey]*stream{}
	}
	s.parkedAt = e.now
	s.parkElem = e.parking.order.PushBack(s)
	e.parking.byKey[keyOf(s.addr[0], s.addr[1])] = s
	e.stats.Parked++
	// Parked streams are flows too: beyond MaxFlows the oldest goes.
	if len(e.parking.byKey) > e.cfg.MaxFlows {
		e.unpark(e.parking.order.Front().Value.(*stream)).finish(ConnEndEvicted)
	}
}

func (e *Engine) unpark(s *stream) *stream {
	e.parking.order.Remove(s.parkElem)
	delete(e.parking.byKey, keyOf(s.addr[0], s.addr[1]))
	s.parkElem = nil
	return s
}

// resume returns the parked stream of a returning connection, oriented so
// that direction 0 is src's, or nil. A SYN opens a new connection on the
// same addresses: the parked one is ended.
func (e *Engine) resume(src, dst netip.AddrPort, syn bool) *stream {
	s := e.parking.byKey[keyOf(src, dst)]
	if s == nil {
		return nil
	}
	e.unpark(s)
	if syn {
		s.finish(ConnEndIdle)
		return nil
	}
	e.stats.Resumed++
	if s.addr[0] != src {
		s.addr[0], s.addr[1] = s.addr[1], s.addr[0]
		s.halves[0], s.halves[1] = s.halves[1], s.halves[0]
		s.halves[0].dir, s.halves[1].dir = 0, 1
		s.msgStart[0], s.msgStart[1] = s.msgStart[1], s.msgStart[0]
		s.bytes[0], s.bytes[1] = s.bytes[1], s.bytes[0]
		s.order[0], s.order[1] = s.order[1], s.order[0]
		s.clientDir = 1 - s.clientDir
	}
	s.holeSince = [2]time.Time{}
	return s
}

// expireParked ends the streams parked for longer than StreamIdleTimeout.
func (e *Engine) expireParked() {
	for el := e.parking.order.Front(); el != nil; el = e.parking.order.Front() {
		s := el.Value.(*stream)
		if e.now.Sub(s.parkedAt) < e.cfg.StreamIdleTimeout {
			return
		}
		e.unpark(s).finish(ConnEndIdle)
	}
}

// finishParked ends every parked stream, oldest first, at the end of input.
func (e *Engine) finishParked() {
	for el := e.parking.order.Front(); el != nil; el = e.parking.order.Front() {
		e.unpark(el.Value.(*stream)).finish(ConnEndIdle)
	}
}
