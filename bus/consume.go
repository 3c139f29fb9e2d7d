package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mcpwatch/mcpwatch/event"
)

// ConsumeEvents runs the durable pull consumer c on MCPWATCH_EVENTS and calls
// handle with each batch of decoded events until ctx is cancelled (then it
// returns nil). The batch is acked only after handle returned nil; on error
// it is nacked and redelivered after a backoff. Malformed messages are
// terminated and counted. It returns an error only if the consumer cannot be
// created or the Bus is closed.
func (b *Bus) ConsumeEvents(ctx context.Context, c ConsumerConfig, handle func(ctx context.Context, evs []*event.Event) error) error {
	if b.local != nil {
		if err := c.Validate(); err != nil {
			return err
		}
		return b.consumeLocal(ctx, c.WithDefaults(), handle)
	}
	return consume(ctx, b, EventsStream, c, decodeEvent, handle)
}

// ConsumeAlerts is ConsumeEvents for MCPWATCH_ALERTS.
func (b *Bus) ConsumeAlerts(ctx context.Context, c ConsumerConfig, handle func(ctx context.Context, as []*event.Alert) error) error {
	return consume(ctx, b, AlertsStream, c, decodeAlert, handle)
}

func consume[T any](ctx context.Context, b *Bus, stream string, c ConsumerConfig, decode func([]byte) (T, error), handle func(context.Context, []T) error) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c = c.WithDefaults()
	cons, err := b.ensureConsumer(ctx, stream, c)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// A server without several filter subjects per consumer hands over the
	// whole stream; the subjects outside the filter are skipped here.
	var skipOutside []string
	if !b.filtersOnServer(c) {
		skipOutside = c.FilterSubjects
	}
	failures := 0
	perMsg := newEventsPerMessage()
	for ctx.Err() == nil {
		if b.closed.Load() {
			return fmt.Errorf("consumer %s on %s: %w", c.Durable, stream, ErrClosed)
		}
		msgs, err := fetch(ctx, cons, c, perMsg.messagesFor(c.BatchSize))
		msgs = b.ackOutside(msgs, skipOutside)
		if len(msgs) > 0 {
			if ctx.Err() != nil {
				// Hand them back at once so a process sharing the durable
				// takes them now rather than after AckWait.
				for _, m := range msgs {
					_ = m.Nak()
				}
				return nil
			}
			// After a failed batch, wait out its backoff here too, so a
			// dead downstream is not handed every later batch at once.
			if pause := process(ctx, b, stream, c, msgs, decode, handle, perMsg); pause > 0 {
				sleep(ctx, pause)
			}
		}
		if err == nil {
			failures = 0
			continue
		}
		if ctx.Err() != nil || b.closed.Load() {
			continue
		}
		failures++
		b.log.Warn("fetch failed, retrying", "stream", stream, "durable", c.Durable, "url", b.where, "attempt", failures, "err", err)
		if !sleep(ctx, backoff(failures)) {
			continue
		}
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			// Deleted by an operator or lost with a non-persistent server:
			// recreate it and go on from whatever the stream still holds.
			if c2, err := b.ensureConsumer(ctx, stream, c); err == nil {
				cons = c2
			}
		}
	}
	return nil
}

// EnsureConsumer creates the durable consumer c on stream (EventsStream or
// AlertsStream) now, or updates it, as ConsumeEvents and ConsumeAlerts do
// when they start. A job that publishes and then waits for its own
// consumers to drain (WaitDrained) must call it before publishing: a
// consumer created while the stream is being written may leave messages out
// of its pending count, and WaitDrained would return before they are
// consumed.
func (b *Bus) EnsureConsumer(ctx context.Context, stream string, c ConsumerConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if b.local != nil && stream == EventsStream {
		b.local.name(c.Durable)
		return nil
	}
	_, err := b.ensureConsumer(ctx, stream, c.WithDefaults())
	return err
}

func (b *Bus) ensureConsumer(ctx context.Context, stream string, c ConsumerConfig) (jetstream.Consumer, error) {
	maxDeliver := c.MaxDeliver
	if maxDeliver == 0 {
		maxDeliver = -1
	}
	cc := jetstream.ConsumerConfig{
		Durable:    c.Durable,
		AckPolicy:  jetstream.AckExplicitPolicy,
		AckWait:    c.AckWait,
		MaxDeliver: maxDeliver,
		// A batch must fit among the unacked messages the server allows.
		MaxAckPending: max(1000, 4*c.BatchSize),
	}
	switch {
	case !c.StartAt.IsZero():
		cc.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		start := c.StartAt
		cc.OptStartTime = &start
	case c.StartSeq > 0:
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cc.OptStartSeq = c.StartSeq
	}
	switch {
	case len(c.FilterSubjects) == 1:
		cc.FilterSubject = c.FilterSubjects[0]
	case !b.filtersOnServer(c):
		b.log.Warn("nats-server lacks several filter subjects per consumer: this consumer reads the whole stream and skips the other subjects itself (upgrade to "+features210+" or later to spare the traffic)",
			"durable", c.Durable, "stream", stream, "server_version", b.server.version, "url", b.where)
	case len(c.FilterSubjects) > 1:
		cc.FilterSubjects = c.FilterSubjects
	}
	// The delivery start of a durable cannot change; keep the one it was
	// created with so a restarted process may pass a later StartAt. A
	// durable already configured so is used as it is: an update while the
	// stream is written can leave messages out of its pending count.
	if existing, err := b.js.Consumer(ctx, stream, c.Durable); err == nil {
		have := existing.CachedInfo().Config
		cc.DeliverPolicy, cc.OptStartTime, cc.OptStartSeq = have.DeliverPolicy, have.OptStartTime, have.OptStartSeq
		if sameConsumer(have, cc) {
			return existing, nil
		}
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, stream, cc)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on %s at %s: %w", c.Durable, stream, b.where, err)
	}
	return cons, nil
}

// ResumeConsumer recreates the durable consumer of a process that died, so
// that the messages it had fetched but not acked are due at once rather
// than after their ack wait: the new consumer starts right after the old
// one's ack floor. Messages acked above the floor (out of order) are
// delivered again; the outputs deduplicate them. It returns the number of
// messages due; a durable that does not exist is no error (0): c then
// starts as EnsureConsumer makes it.
func (b *Bus) ResumeConsumer(ctx context.Context, stream string, c ConsumerConfig) (uint64, error) {
	if err := c.Validate(); err != nil {
		return 0, err
	}
	old, err := b.js.Consumer(ctx, stream, c.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("resume consumer %s on %s at %s: %w", c.Durable, stream, b.where, err)
	}
	info := old.CachedInfo()
	if err := b.js.DeleteConsumer(ctx, stream, c.Durable); err != nil {
		return 0, fmt.Errorf("resume consumer %s on %s at %s: %w", c.Durable, stream, b.where, err)
	}
	// A consumer that never acked has its floor just before where it
	// was made to start.
	c.StartAt, c.StartSeq = time.Time{}, max(info.AckFloor.Stream+1, info.Config.OptStartSeq)
	if _, err := b.ensureConsumer(ctx, stream, c.WithDefaults()); err != nil {
		return 0, err
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// terminate tells the server never to redeliver m, with a reason where
// the server reads one.
func (b *Bus) terminate(m jetstream.Msg, reason string) error {
	if b.server.termReason {
		return m.TermWithReason(reason)
	}
	return m.Term()
}

// filtersOnServer reports whether the server applies c's filter subjects
// itself: every server takes one, 2.10 and later several.
func (b *Bus) filtersOnServer(c ConsumerConfig) bool {
	return len(c.FilterSubjects) <= 1 || b.server.multiFilter
}

// ackOutside acknowledges and drops the messages whose subject matches
// none of filters, so the consumer's share of the stream moves past them;
// with no filters it returns msgs as they are.
func (b *Bus) ackOutside(msgs []jetstream.Msg, filters []string) []jetstream.Msg {
	if len(filters) == 0 {
		return msgs
	}
	return slices.DeleteFunc(msgs, func(m jetstream.Msg) bool {
		if slices.ContainsFunc(filters, func(f string) bool { return server.SubjectMatchesFilter(m.Subject(), f) }) {
			return false
		}
		if err := m.Ack(); err != nil {
			b.log.Warn("ack of a message outside the filter failed; it comes back after the ack wait", "subject", m.Subject(), "err", err)
		}
		return true
	})
}

// sameConsumer reports whether the durable configured as have already is
// what ensureConsumer would make of want.
func sameConsumer(have, want jetstream.ConsumerConfig) bool {
	return have.AckPolicy == want.AckPolicy && have.AckWait == want.AckWait && have.MaxDeliver == want.MaxDeliver &&
		have.MaxAckPending == want.MaxAckPending && have.FilterSubject == want.FilterSubject &&
		slices.Equal(have.FilterSubjects, want.FilterSubjects)
}

// fetch returns the messages waiting, up to n, at once; when none is
// waiting it waits up to c.MaxWait for the first one and returns as soon as
// it arrives. A stage so adds no batching delay when traffic trickles
// (packet-to-alert latency), and still gets full batches under load, when
// messages are always waiting.
func fetch(ctx context.Context, cons jetstream.Consumer, c ConsumerConfig, n int) ([]jetstream.Msg, error) {
	msgs, err := collect(cons.FetchNoWait(n))
	if err != nil || len(msgs) > 0 {
		return msgs, err
	}
	fctx, cancel := context.WithTimeout(ctx, c.MaxWait)
	defer cancel()
	msgs, err = collect(cons.Fetch(1, jetstream.FetchContext(fctx)))
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		err = nil // nothing arrived within MaxWait: not a failure
	}
	return msgs, err
}

func collect(batch jetstream.MessageBatch, err error) ([]jetstream.Msg, error) {
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	return msgs, batch.Error()
}

// eventsPerMessage is a running average of the events (or alerts) in the
// messages a consumer received, so that a fetch asks for about as many
// messages as hold BatchSize events.
type eventsPerMessage struct{ avg float64 }

func newEventsPerMessage() *eventsPerMessage { return &eventsPerMessage{avg: 1} }

func (e *eventsPerMessage) observe(items, msgs int) {
	if msgs > 0 {
		e.avg = 0.75*e.avg + 0.25*float64(items)/float64(msgs)
	}
}

func (e *eventsPerMessage) messagesFor(batchSize int) int {
	return max(1, int(float64(batchSize)/max(1, e.avg)))
}

// process decodes msgs, skips the events that do not decode (and
// terminates a message with nothing else), hands the rest to handle and
// acks or nacks their messages by its result. It returns the redelivery
// delay of a failed batch, zero otherwise.
func process[T any](ctx context.Context, b *Bus, stream string, c ConsumerConfig, msgs []jetstream.Msg, decode func([]byte) (T, error), handle func(context.Context, []T) error, perMsg *eventsPerMessage) time.Duration {
	items := make([]T, 0, len(msgs))
	good := make([]jetstream.Msg, 0, len(msgs))
	for _, m := range msgs {
		n := len(items)
		items = decodeLines(items, m.Data(), decode, func(err error) { b.malformed(stream, c, m, err) })
		if len(items) > n {
			good = append(good, m)
			continue
		}
		var seq uint64
		if md, err := m.Metadata(); err == nil {
			seq = md.Sequence.Stream
		}
		if err := b.terminate(m, "malformed"); err != nil {
			b.log.Warn("terminate malformed message", "stream", stream, "seq", seq, "err", err)
		}
	}
	perMsg.observe(len(items), len(msgs))
	if len(items) == 0 {
		return 0
	}

	stop := keepAlive(good, c.AckWait)
	err := handle(ctx, items)
	stop()

	if err == nil {
		for _, m := range good {
			if err := m.Ack(); err != nil {
				// The message comes back after AckWait; the handler's
				// dedup by id absorbs the second delivery.
				b.log.Warn("ack failed", "stream", stream, "durable", c.Durable, "err", err)
			}
		}
		// Acks are fire-and-forget; a round trip makes sure the server has
		// them before the next fetch, so WaitDrained sees them promptly.
		if err := b.nc.FlushTimeout(5 * time.Second); err != nil && !b.closed.Load() {
			b.log.Warn("flush acks", "stream", stream, "durable", c.Durable, "err", err)
		}
		b.stats.consumed.Add(uint64(len(items)))
		b.stats.consumedMessages.Add(uint64(len(good)))
		b.stats.batches.Add(1)
		return 0
	}

	b.stats.failedBatches.Add(1)
	delay := time.Duration(0)
	if ctx.Err() == nil {
		delivered := uint64(1)
		if md, err := good[0].Metadata(); err == nil {
			delivered = md.NumDelivered
		}
		delay = backoff(int(min(delivered, 16)))
	}
	b.log.Warn("handler failed, batch will be redelivered", "stream", stream, "durable", c.Durable, "messages", len(good), "items", len(items), "delay", delay, "err", err)
	for _, m := range good {
		if err := m.NakWithDelay(delay); err != nil {
			b.log.Warn("nak failed", "stream", stream, "durable", c.Durable, "err", err)
		}
	}
	return delay
}

// keepAlive tells the server, every quarter of AckWait, that msgs are still
// being worked on, so a slow handler does not get its batch redelivered to
// another process. The returned func stops it.
func keepAlive(msgs []jetstream.Msg, ackWait time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(ackWait / 4)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, m := range msgs {
					_ = m.InProgress() // a lost one only risks a redelivery
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// malformed counts and logs (sampled) an event or alert of m that did not
// decode.
func (b *Bus) malformed(stream string, c ConsumerConfig, m jetstream.Msg, err error) {
	n := b.stats.malformed.Add(1)
	if !sampled(n) {
		return
	}
	var seq uint64
	if md, mdErr := m.Metadata(); mdErr == nil {
		seq = md.Sequence.Stream
	}
	b.log.Warn("malformed event skipped", "stream", stream, "durable", c.Durable, "subject", m.Subject(), "seq", seq, "malformed_total", n, "err", err)
}
