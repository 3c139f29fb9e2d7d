package bus

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/segmentio/encoding/json"

	"github.com/mcpwatch/mcpwatch/event"
)

// Local events (Config.LocalEvents): in `mcpwatch run` of capture files
// with a temporary embedded server, the one consumer of the events is in the
// publishing process, so the events stream costs without serving anyone — each event is encoded,
// stored by the server, delivered, decoded and acknowledged: 39 µs of the
// 124 µs of CPU an event cost on the realistic capture of
// docs/performance.md. A Bus with LocalEvents hands events to its own
// ConsumeEvents through a bounded queue instead. What the stream gave
// stays: the consumer sees events in publish order, in batches, acked
// (taken off the queue) only once its handler returned nil, a failed batch
// retried with the same backoff; the publisher waits while the queue is
// full; WaitDrained and Backlog report the queue. Alerts still go through
// the alerts stream, which their outputs and feeds consume.

// localQueueEvents bounds the queue: what a consumer batch (256) and a few
// dozen more keep, at ~1.6 KB an event about 6 MiB, like the messages the
// publisher may have in flight to the server otherwise.
const localQueueEvents = 4096

// localEvents is the queue between PublishEvent and ConsumeEvents.
type localEvents struct {
	mu      sync.Mutex
	queue   []*event.Event
	inHand  int    // taken by the handler, not yet handled
	durable string // the events consumer, named by EnsureConsumer
	// changed is closed, and replaced, whenever queue or inHand change.
	changed chan struct{}
}

func newLocalEvents() *localEvents { return &localEvents{changed: make(chan struct{})} }

// signal wakes whoever waits for a change; l.mu is held.
func (l *localEvents) signal() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// publishLocal queues ev, waiting while the queue is full.
func (b *Bus) publishLocal(ctx context.Context, ev *event.Event) error {
	l := b.local
	if b.closed.Load() {
		b.stats.failed.Add(1)
		return fmt.Errorf("publish %s: %w", ev.EventID, ErrClosed)
	}
	for {
		l.mu.Lock()
		if len(l.queue) < localQueueEvents {
			l.queue = append(l.queue, ev)
			l.signal()
			l.mu.Unlock()
			b.stats.published.Add(1)
			return nil
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			b.stats.failed.Add(1)
			return fmt.Errorf("publish %s: queue of local events full: %w", ev.EventID, ctx.Err())
		case <-b.life.Done():
			b.stats.failed.Add(1)
			return fmt.Errorf("publish %s: %w", ev.EventID, ErrClosed)
		}
	}
}

// consumeLocal is ConsumeEvents for local events.
func (b *Bus) consumeLocal(ctx context.Context, c ConsumerConfig, handle func(ctx context.Context, evs []*event.Event) error) error {
	l := b.local
	l.name(c.Durable)
	for ctx.Err() == nil {
		l.mu.Lock()
		n := min(len(l.queue), c.BatchSize)
		batch := make([]*event.Event, n)
		copy(batch, l.queue)
		l.queue = l.queue[n:]
		l.inHand = n
		changed := l.changed
		if n > 0 {
			l.signal()
		}
		l.mu.Unlock()
		if n == 0 {
			select {
			case <-changed:
			case <-ctx.Done():
			}
			continue
		}
		for _, ev := range batch {
			asDecoded(ev)
		}
		for failures := 1; ; failures++ {
			err := handle(ctx, batch)
			if err == nil {
				break
			}
			b.stats.failedBatches.Add(1)
			delay := backoff(failures)
			b.log.Warn("handler failed, batch will be retried", "durable", c.Durable, "items", n, "delay", delay, "err", err)
			if !sleep(ctx, delay) {
				return nil // the batch stays in hand: not delivered
			}
		}
		b.stats.consumed.Add(uint64(n))
		b.stats.batches.Add(1)
		l.mu.Lock()
		l.inHand = 0
		l.signal()
		l.mu.Unlock()
	}
	return nil
}

// backlog is Backlog for the local events consumer.
func (l *localEvents) backlog() Backlog {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Backlog{Pending: uint64(len(l.queue)), Unacked: uint64(l.inHand)}
}

// name records the events consumer's durable name, which WaitDrained and
// Backlog ask about.
func (l *localEvents) name(durable string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.durable = durable
}

// isConsumer reports whether durable is the local events consumer.
func (l *localEvents) isConsumer(durable string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return durable != "" && durable == l.durable
}

// asDecoded gives ev's text what a consumer decoding it from the stream
// would see: JSON carries no invalid UTF-8, such bytes arrive as U+FFFD.
// Everything else in an event survives the round trip unchanged.
func asDecoded(ev *event.Event) {
	eventText.visit(unsafe.Pointer(ev), func(s *string) {
		if !utf8.ValidString(*s) {
			*s = jsonRoundTrip(*s)
		}
	})
}

// eventText is where an event keeps its text; found once by reflection,
// since walking an event by reflection cost 5.7 µs of the 74 µs an event
// costs with local events.
var eventText = textLayoutOf(reflect.TypeFor[event.Event]())

// textLayout is where values of a struct type keep text: their exported
// string fields, and slices of strings or of such structs, by offset.
type textLayout struct {
	strings []uintptr
	slices  []sliceText
}

type sliceText struct {
	offset, elemSize uintptr
	elem             *textLayout // nil for []string
}

func textLayoutOf(t reflect.Type) *textLayout {
	l := &textLayout{}
	l.add(t, 0)
	return l
}

func (l *textLayout) add(t reflect.Type, base uintptr) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		off := base + f.Offset
		switch f.Type.Kind() {
		case reflect.String:
			l.strings = append(l.strings, off)
		case reflect.Struct:
			l.add(f.Type, off)
		case reflect.Slice:
			switch elem := f.Type.Elem(); elem.Kind() {
			case reflect.String:
				l.slices = append(l.slices, sliceText{offset: off, elemSize: elem.Size()})
			case reflect.Struct:
				l.slices = append(l.slices, sliceText{offset: off, elemSize: elem.Size(), elem: textLayoutOf(elem)})
			}
		}
	}
}

// visit calls f with every string of the value at p.
func (l *textLayout) visit(p unsafe.Pointer, f func(*string)) {
	for _, off := range l.strings {
		f((*string)(unsafe.Add(p, off)))
	}
	for _, st := range l.slices {
		h := (*[]byte)(unsafe.Add(p, st.offset)) // any slice header will do
		base := unsafe.Pointer(unsafe.SliceData(*h))
		for i := range len(*h) {
			e := unsafe.Add(base, uintptr(i)*st.elemSize)
			if st.elem == nil {
				f((*string)(e))
			} else {
				st.elem.visit(e, f)
			}
		}
	}
}

// jsonRoundTrip is s encoded and decoded by the stream's codec.
func jsonRoundTrip(s string) string {
	data, err := encode(s)
	if err == nil {
		err = json.Unmarshal(data, &s)
	}
	if err != nil {
		panic(fmt.Sprintf("JSON round trip of a string: %v", err)) // cannot happen: any string encodes
	}
	return s
}
