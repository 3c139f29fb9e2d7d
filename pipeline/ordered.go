package pipeline

import (
	"slices"
	"sync"

	"github.com/mcpwatch/mcpwatch/event"
)

// inputOrder merges the events of one input's capture shards back into the
// order one Engine and Decoder would have made them, so that detect, which
// is sensitive to order (change rules skip an event older than the last of
// its group; threshold evidence is the events that crossed the threshold),
// gives the same alerts for any number of shards and on every replay.
//
// Each shard's events carry the stamp of the point of the input that
// caused them (capture.Shards.Stamp) and arrive in stamp order. An event is
// passed on once every shard has reported progress past its stamp; events
// of the same stamp come in shard order (a packet belongs to one shard, so
// only ticks, cuts and the final Finish share stamps). The events held
// back are those of the input between the slowest shard and the fastest:
// the shards' queues and the cut interval bound them. Released events are
// emitted (encoded and published) on a goroutine of their own, in order,
// so the shards go on meanwhile; when it falls behind, the shards wait.
type inputOrder struct {
	released chan []*event.Event
	done     chan struct{}

	mu      sync.Mutex
	waiting []eventQueue // per shard
	through []uint64     // per shard: every event stamped up to it is in waiting
}

// eventQueue is one shard's waiting events, in stamp order, from head on.
type eventQueue struct {
	items []stampedEvent
	head  int
}

type stampedEvent struct {
	stamp uint64
	ev    *event.Event
}

// newInputOrder starts the goroutine that emits released events; call
// flush to end it.
func newInputOrder(shards int, emit func(*event.Event)) *inputOrder {
	o := &inputOrder{
		released: make(chan []*event.Event, 16),
		done:     make(chan struct{}),
		waiting:  make([]eventQueue, shards),
		through:  make([]uint64, shards),
	}
	go func() {
		defer close(o.done)
		for evs := range o.released {
			for _, ev := range evs {
				emit(ev)
			}
		}
	}()
	return o
}

// add takes an event of shard k stamped stamp.
func (o *inputOrder) add(k int, stamp uint64, ev *event.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waiting[k].items = append(o.waiting[k].items, stampedEvent{stamp, ev})
}

// progress records that shard k has made every event stamped up to
// through, and passes on those every shard has.
func (o *inputOrder) progress(k int, through uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.through[k] = through
	o.release(slices.Min(o.through))
}

// flush passes on every event held back, once all shards are done, and
// returns when they are emitted.
func (o *inputOrder) flush() {
	o.mu.Lock()
	o.release(^uint64(0))
	close(o.released)
	o.mu.Unlock()
	<-o.done
}

// release hands the emitting goroutine, in (stamp, shard) order, the
// waiting events stamped up to limit; o.mu is held, so releases keep their
// order.
func (o *inputOrder) release(limit uint64) {
	var out []*event.Event
	defer func() {
		if len(out) > 0 {
			o.released <- out
		}
	}()
	for {
		var next *eventQueue
		for k := range o.waiting {
			q := &o.waiting[k]
			if q.head < len(q.items) && q.items[q.head].stamp <= limit && (next == nil || q.items[q.head].stamp < next.items[next.head].stamp) {
				next = q
			}
		}
		if next == nil {
			return
		}
		out = append(out, next.items[next.head].ev)
		next.items[next.head].ev = nil
		if next.head++; next.head == len(next.items) {
			next.items, next.head = next.items[:0], 0
		}
	}
}
