package decode

import (
	"slices"

	"github.com/mcpwatch/mcpwatch/capture"
)

var _ capture.Forgetter = (*Decoder)(nil)

// Forget implements capture.Forgetter: one of conn's callbacks panicked
// (capture.Contain recovered it), so what the Decoder holds for conn may
// be half updated. It drops the connection's state without emitting
// anything more for it — no flow event, no messages of its exchanges still
// in flight — and detaches it from its sessions, which go on with their
// other connections and end as usual: a stateful session left without any
// closes after the grace, as when its last connection ends. Events already
// emitted for conn stand. conn is nil after a panic in Tick or Finish:
// only the fault is counted.
func (d *Decoder) Forget(conn *capture.Conn) {
	d.stats.Faults++
	if conn == nil {
		return
	}
	cs := d.conns[conn.ID]
	delete(d.conns, conn.ID)
	if cs == nil {
		return
	}
	for s := range cs.sessions {
		delete(s.conns, conn.ID)
		// A legacy POST waiting for its HTTP response would have its
		// messages emitted by the session's stream.
		s.waiting = slices.DeleteFunc(s.waiting, func(ex *exchange) bool { return ex.cs == cs })
		if len(s.conns) == 0 && !s.stateless && !s.ended {
			s.closedAt = d.now
			d.closing[s] = true
		}
	}
}
