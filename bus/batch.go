package bus

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// One JetStream message carries up to Config.EventsPerMessage events of one
// subject, encoded one JSON object per line, and at most MaxMessageBytes of
// them (an event larger than that travels alone). The server's, the
// client's and the consumers' work is mostly per message, so sharing
// messages is what lets the bus keep up with a busy sensor (see
// docs/performance.md). A message of one event is that event's JSON, as
// before; consumers read both.
const MaxMessageBytes = 128 << 10

// eventBatch is the open message of one subject.
type eventBatch struct {
	subject string
	data    []byte   // the events' JSON, newline-separated
	ids     []string // their event ids, for the message's Nats-Msg-Id
	opened  time.Time
}

// msgID is the Nats-Msg-Id of the batch: the event id for a single event, a
// hash of the event ids otherwise, so a retried message is stored once.
func (bt *eventBatch) msgID() string {
	if len(bt.ids) == 1 {
		return bt.ids[0]
	}
	return event.NewID(append([]string{"batch"}, bt.ids...)...)
}

// batcher collects events into per-subject messages. A message is sent when
// it is full, when it is PublishLinger old, or on Flush. Sending is
// serialised (sendMu) so that the messages of one subject reach the stream
// in the order they were closed.
type batcher struct {
	linger    time.Duration
	maxEvents int

	sendMu sync.Mutex

	mu    sync.Mutex
	open  map[string]*eventBatch
	timer *time.Timer // fires when the oldest open message is due; nil when none is open
}

// add puts an event's JSON into the open message of subject and returns the
// messages it closed: the open one when the event does not fit in it, and
// the new one when the event fills it.
func (q *batcher) add(subject, id string, data []byte, now time.Time, due func()) []*eventBatch {
	q.mu.Lock()
	defer q.mu.Unlock()
	var closed []*eventBatch
	bt := q.open[subject]
	if bt != nil && len(bt.data)+1+len(data) > MaxMessageBytes {
		closed = append(closed, bt)
		bt = nil
	}
	if bt == nil {
		if q.open == nil {
			q.open = make(map[string]*eventBatch)
		}
		bt = &eventBatch{subject: subject, opened: now}
		q.open[subject] = bt
		if q.timer == nil {
			q.timer = time.AfterFunc(q.linger, due)
		}
	} else {
		bt.data = append(bt.data, '\n')
	}
	bt.data = append(bt.data, data...)
	bt.ids = append(bt.ids, id)
	if len(bt.ids) == q.maxEvents || len(bt.data) >= MaxMessageBytes {
		closed = append(closed, bt)
	}
	for _, c := range closed {
		if q.open[c.subject] == c {
			delete(q.open, c.subject)
		}
	}
	return closed
}

// takeDue closes the messages opened PublishLinger or longer before now and
// arms the timer for the oldest one left.
func (q *batcher) takeDue(now time.Time, due func()) []*eventBatch {
	q.mu.Lock()
	defer q.mu.Unlock()
	var closed []*eventBatch
	var oldest time.Time
	for subject, bt := range q.open {
		if now.Sub(bt.opened) >= q.linger {
			closed = append(closed, bt)
			delete(q.open, subject)
		} else if oldest.IsZero() || bt.opened.Before(oldest) {
			oldest = bt.opened
		}
	}
	q.timer = nil
	if !oldest.IsZero() {
		q.timer = time.AfterFunc(q.linger-now.Sub(oldest), due)
	}
	return closed
}

// takeAll closes every open message.
func (q *batcher) takeAll() []*eventBatch {
	q.mu.Lock()
	defer q.mu.Unlock()
	closed := make([]*eventBatch, 0, len(q.open))
	for subject, bt := range q.open {
		closed = append(closed, bt)
		delete(q.open, subject)
	}
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
	}
	return closed
}

// PublishEvent adds ev to the open message of mcpwatch.events.<kind>.<partition>
// and sends the message when it is full; a message not full is sent
// PublishLinger after its first event, or by Flush. It returns once ev is in
// a message (and, if that closed one, the message is sent); acks are awaited
// by Flush. It blocks while PublishAsyncMax messages are in flight.
func (b *Bus) PublishEvent(ctx context.Context, ev *event.Event) error {
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("publish: %w", err)
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
	return b.sendBatches(ctx, b.batches.add(Subject(ev, b.cfg.Partitions), ev.EventID, data, time.Now(), b.publishDue))
}

// publishDue sends the messages whose linger has passed; it runs on the
// batcher's timer, for as long as the Bus is open: a send that cannot be
// made is counted as failed and reported by the next Flush.
func (b *Bus) publishDue() {
	b.batches.sendMu.Lock()
	defer b.batches.sendMu.Unlock()
	if err := b.sendBatches(b.life, b.batches.takeDue(time.Now(), b.publishDue)); err != nil {
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
