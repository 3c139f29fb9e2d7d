package logtap

import (
	"container/heap"
	"time"
)

// Proxies log an exchange when it completes, so a log is in completion
// order; the wire, and the packet path, are in start order. An initialize
// whose event stream closes a moment after the client has already sent
// notifications/initialized is logged after it. The reorder buffer holds
// each exchange until the log has moved ReorderWindow past its start —
// by then every exchange that started earlier and lasted less than the
// window has been logged — and hands them on in start order. Exchanges
// that outlast the window (long event streams) are handed on when they
// complete, after later ones.
type reorder struct {
	items   exchangeHeap
	horizon time.Time // latest completion time logged
}

type exchangeHeap []*exchange

func (h exchangeHeap) Len() int { return len(h) }
func (h exchangeHeap) Less(i, j int) bool {
	if !h[i].req.Time.Equal(h[j].req.Time) {
		return h[i].req.Time.Before(h[j].req.Time)
	}
	return h[i].seq < h[j].seq
}
func (h exchangeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *exchangeHeap) Push(x any)   { *h = append(*h, x.(*exchange)) }
func (h *exchangeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// submit takes an exchange from a parser.
func (st *state) submit(ex *exchange) {
	ex.name, ex.seq = st.name, st.seq
	st.seq++
	st.fillAddresses(ex)
	if ex.req.Time.IsZero() {
		// Without a time of its own an exchange cannot be placed: it
		// goes on in log order, after everything read before it, with
		// a time no earlier than theirs.
		st.drain()
		st.stampUntimed(ex)
		fillTimes(ex)
		st.deliver(ex)
		return
	}
	if ex.req.Time.After(st.clock.latest) {
		st.clock.latest = ex.req.Time
	}
	fillTimes(ex)
	if st.cfg.ReorderWindow < 0 {
		st.drain()
		st.deliver(ex)
		return
	}
	r := &st.reorder
	heap.Push(&r.items, ex)
	end := ex.req.End
	if ex.resp != nil {
		end = ex.resp.End
	}
	if end.After(r.horizon) {
		r.horizon = end
	}
	for r.items.Len() > 0 && (r.items.Len() > st.cfg.MaxReorder || !r.items[0].req.Time.Add(st.cfg.ReorderWindow).After(r.horizon)) {
		st.deliver(heap.Pop(&r.items).(*exchange))
	}
}

// drain hands on everything held, in start order.
func (st *state) drain() {
	for st.reorder.items.Len() > 0 {
		st.deliver(heap.Pop(&st.reorder.items).(*exchange))
	}
}

// oldestHeld is the position of the earliest record whose exchange is still
// held.
func (st *state) oldestHeld() (position, bool) {
	var p position
	found := false
	for _, ex := range st.reorder.items {
		if !found || ex.off < p.off {
			p, found = position{line: ex.line, off: ex.off}, true
		}
	}
	return p, found
}
