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
// the shards' queues and the cut interval bound them.
type inputOrder struct {
	emit func(*event.Event)

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

func newInputOrder(shards int, emit func(*event.Event)) *inputOrder {
	return &inputOrder{emit: emit, waiting: make([]eventQueue, shards), through: make([]uint64, shards)}
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

// flush passes on every event held back: all shards are done.
func (o *inputOrder) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.release(^uint64(0))
}

// release emits, in (stamp, shard) order, the waiting events stamped up to
// limit; o.mu is held, so emits are never concurrent.
func (o *inputOrder) release(limit uint64) {
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
		o.emit(next.items[next.head].ev)
		next.items[next.head].ev = nil
		if next.head++; next.head == len(next.items) {
			next.items, next.head = next.items[:0], 0
		}
	}
}
