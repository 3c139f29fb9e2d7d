package bus

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// One JetStream message carries events of one subject that were published
// one after the other: up to Config.EventsPerMessage of them, encoded one
// JSON object per line, and at most MaxMessageBytes (an event larger than
// that travels alone). The server's, the client's and the consumers' work
// is mostly per message, so sharing messages is what lets the bus keep up
// with a busy sensor (see docs/performance.md). Only consecutive events
// share a message, so the stream holds the events in the order they were
// published, whatever their subjects: detect, reading every subject, sees
// what one sensor saw in the order it saw it, and a replay gives the same
// alerts. A message of one event is that event's JSON, as before;
// consumers read both.
const MaxMessageBytes = 128 << 10

// eventBatch is the open message.
type eventBatch struct {
	subject string
	data    []byte   // the events' JSON, newline-separated
	ids     []string // their event ids, for the message's Nats-Msg-Id
}

// msgID is the Nats-Msg-Id of the batch: the event id for a single event, a
// hash of the event ids otherwise, so a retried message is stored once.
func (bt *eventBatch) msgID() string {
	if len(bt.ids) == 1 {
		return bt.ids[0]
	}
	return event.NewID(append([]string{"batch"}, bt.ids...)...)
}

// batcher collects consecutive events of one subject into a message. The
// message is sent when the next event has another subject or does not fit,
// when it is full, when it is PublishLinger old, or on Flush. Closing and
// sending are done under sendMu, so messages reach the stream in the order
// they were filled.
type batcher struct {
	linger    time.Duration
	maxEvents int

	sendMu sync.Mutex

	mu    sync.Mutex
	open  *eventBatch
	timer *time.Timer // runs Bus.publishDue; armed while a message is open
}

// add puts an event's JSON into the open message, or a new one, and returns
// the messages it closed: the open one when the event has another subject
// or does not fit, and the event's own when it is full.
func (q *batcher) add(subject, id string, data []byte) []*eventBatch {
	q.mu.Lock()
	defer q.mu.Unlock()
	var closed []*eventBatch
	bt := q.open
	if bt != nil && (bt.subject != subject || len(bt.data)+1+len(data) > MaxMessageBytes) {
		closed = append(closed, q.close())
		bt = nil
	}
	if bt == nil {
		bt = &eventBatch{subject: subject, data: make([]byte, 0, 2*len(data)+1)}
		q.open = bt
		q.timer.Reset(q.linger)
	} else {
		bt.data = append(bt.data, '\n')
	}
	bt.data = append(bt.data, data...)
	bt.ids = append(bt.ids, id)
	if len(bt.ids) == q.maxEvents || len(bt.data) >= MaxMessageBytes {
		closed = append(closed, q.close())
	}
	return closed
}

// take closes the open message, if any, for sending; q.mu is not held.
func (q *batcher) take() []*eventBatch {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.open == nil {
		return nil
	}
	return []*eventBatch{q.close()}
}

// close ends the open message; q.mu is held.
func (q *batcher) close() *eventBatch {
	bt := q.open
	q.open = nil
	q.timer.Stop()
	return bt
}

// PublishEvent adds ev, for mcpwatch.events.<kind>.<partition>, to the open
// message (see batcher) and sends the messages that closed; a message not
// closed by later events is sent PublishLinger after its first, or by
// Flush. It returns once ev is in a message (and, if that closed one, the
// message is sent); acks are awaited by Flush. It blocks while
// PublishAsyncMax messages are in flight.
func (b *Bus) PublishEvent(ctx context.Context, ev *event.Event) error {
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if b.local != nil {
		return b.publishLocal(ctx, ev)
	}
	data, err := encode(ev)
	if err != nil {
		return fmt.Errorf("publish event %s: %w", ev.EventID, err)
	}
	if b.closed.Load() {
		return fmt.Errorf("publish %s: %w", ev.EventID, ErrClosed)
	}
	b.batches.sendMu.Lock()
	defer b.batches.sendMu.Unlock()
	return b.sendBatches(ctx, b.batches.add(Subject(ev, b.cfg.Partitions), ev.EventID, data))
}

// publishDue sends the open message when its linger has passed; it runs on
// the batcher's timer, for as long as the Bus is open: a send that cannot be
// made is counted as failed and reported by the next Flush. (A timer that
// fires as its message is closed by another event sends the next message
// early; that only makes it smaller.)
func (b *Bus) publishDue() {
	b.batches.sendMu.Lock()
	defer b.batches.sendMu.Unlock()
	if err := b.sendBatches(b.life, b.batches.take()); err != nil {
		b.log.Warn("publish of lingering events failed", "err", err)
	}
}

// sendBatches publishes closed messages; sendMu is held.
func (b *Bus) sendBatches(ctx context.Context, closed []*eventBatch) error {
	for i, bt := range closed {
		if err := b.publish(ctx, bt.subject, bt.msgID(), bt.data, len(bt.ids)); err != nil {
			for _, unsent := range closed[i+1:] {
				b.pub.lose(b, len(unsent.ids), err)
			}
			return err
		}
	}
	return nil
}
