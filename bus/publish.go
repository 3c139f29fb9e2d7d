package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mcpwatch/mcpwatch/event"
)

// publisher tracks async publishes from send to final ack or failure.
//
// A slot of sem is taken before a message is sent and released when it is
// acked or failed for good, so at most cap(sem) messages are in flight,
// retries included. Messages are keyed by their *nats.Msg, which the
// JetStream client hands back to the ack and error callbacks.
type publisher struct {
	sem chan struct{}

	mu       sync.Mutex
	inFlight map[*nats.Msg]*sending
	idle     chan struct{} // closed when inFlight empties; nil while empty
	failed   int           // events failed for good since the last Flush
	lastErr  error
	// progress is when an ack last came, or when inFlight last filled from
	// empty: what OutageLimit is measured from.
	progress time.Time
}

// stalled returns how long no ack has come while messages are waiting,
// and how many wait.
func (p *publisher) stalled() (time.Duration, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.inFlight) == 0 {
		return 0, 0
	}
	return time.Since(p.progress), len(p.inFlight)
}

// tracked returns the messages in flight.
func (p *publisher) tracked() []*nats.Msg {
	p.mu.Lock()
	defer p.mu.Unlock()
	msgs := make([]*nats.Msg, 0, len(p.inFlight))
	for m := range p.inFlight {
		msgs = append(msgs, m)
	}
	return msgs
}

// sending is a message in flight.
type sending struct {
	attempts int // failed sends so far
	events   int // events it carries
}

func (p *publisher) init(maxInFlight int) {
	p.sem = make(chan struct{}, maxInFlight)
	p.inFlight = make(map[*nats.Msg]*sending)
}

func (p *publisher) messagesInFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inFlight)
}

// PublishAlert publishes a to mcpwatch.alerts.<severity> with Nats-Msg-Id =
// alert_id, like PublishEvent.
func (b *Bus) PublishAlert(ctx context.Context, a *event.Alert) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	data, err := encode(a)
	if err != nil {
		return fmt.Errorf("publish alert %s: %w", a.AlertID, err)
	}
	return b.publish(ctx, AlertSubject(a), a.AlertID, data, 1)
}

// publish sends one message of n events (or alerts) with Nats-Msg-Id id.
// A message that cannot be sent, because ctx ended first or the connection
// is closed, is counted as failed and its error returned.
func (b *Bus) publish(ctx context.Context, subject, id string, data []byte, n int) error {
	if b.closed.Load() {
		err := fmt.Errorf("publish %s to %s: %w", id, subject, ErrClosed)
		b.pub.lose(b, n, err)
		return err
	}
	if err := b.Failed(); err != nil {
		b.pub.lose(b, n, err)
		return err
	}
	// Waiting for a slot is the back-pressure a producer feels; it ends
	// with the caller's ctx, the Bus's Close and its outage limit, so no
	// producer waits for ever.
	select {
	case b.pub.sem <- struct{}{}:
	case <-ctx.Done():
		err := fmt.Errorf("publish %s to %s: %d messages in flight: %w", id, subject, cap(b.pub.sem), ctx.Err())
		b.pub.lose(b, n, err)
		return err
	case <-b.life.Done():
		err := fmt.Errorf("publish %s to %s: %w", id, subject, ErrClosed)
		b.pub.lose(b, n, err)
		return err
	case <-b.outage:
		b.pub.lose(b, n, b.outageErr)
		return b.outageErr
	}
	if b.cfg.MsgIDScope != "" {
		id = b.cfg.MsgIDScope + "." + id
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{jetstream.MsgIDHeader: []string{id}}}
	b.pub.mu.Lock()
	b.pub.inFlight[msg] = &sending{events: n}
	if b.pub.idle == nil {
		b.pub.idle = make(chan struct{})
		b.pub.progress = time.Now()
	}
	b.pub.mu.Unlock()

	if err := b.send(msg); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			b.finish(msg, err)
			return fmt.Errorf("publish %s to %s: %w", id, subject, err)
		}
		// Anything else (the reconnect buffer is full, say) is worth a retry.
		b.retry(msg, err)
	}
	return nil
}

func (b *Bus) send(msg *nats.Msg) error {
	_, err := b.js.PublishMsgAsync(msg)
	return err
}

// onPublishAck runs on the client's ack goroutine; it must not block.
func (b *Bus) onPublishAck(_ jetstream.JetStream, msg *nats.Msg, ack *jetstream.PubAck) {
	s := b.untrack(msg)
	if s == nil {
		return // already finished; a late ack for an earlier send
	}
	b.pub.mu.Lock()
	b.pub.progress = time.Now()
	b.pub.mu.Unlock()
	b.stats.published.Add(uint64(s.events))
	b.stats.publishedMessages.Add(1)
	if ack.Duplicate {
		b.stats.duplicates.Add(uint64(s.events))
	}
}

// onPublishErr runs on the client's ack, timer or status goroutine for an
// error ack, an ack timeout or a disconnect; it must not block.
func (b *Bus) onPublishErr(_ jetstream.JetStream, msg *nats.Msg, err error) {
	b.retry(msg, err)
}

// retry sends msg again after a backoff, with the same Nats-Msg-Id so that a
// copy the stream already stored is dropped as a duplicate.
func (b *Bus) retry(msg *nats.Msg, err error) {
	b.pub.mu.Lock()
	s := b.pub.inFlight[msg]
	attempts := 0
	if s != nil {
		s.attempts++
		attempts = s.attempts
	}
	b.pub.mu.Unlock()
	if s == nil {
		return // already finished; a late callback for an earlier send
	}
	id := msg.Header.Get(jetstream.MsgIDHeader)
	if b.cfg.PublishRetries > 0 && attempts > b.cfg.PublishRetries || b.closed.Load() || b.Failed() != nil {
		b.finish(msg, fmt.Errorf("publish %s to %s: gave up after %d attempts: %w", id, msg.Subject, attempts, err))
		return
	}
	b.stats.retries.Add(1)
	wait := backoff(attempts)
	b.log.Debug("publish failed, retrying", "subject", msg.Subject, "id", id, "attempt", attempts, "wait", wait, "err", err)
	time.AfterFunc(wait, func() {
		if b.closed.Load() {
			b.finish(msg, fmt.Errorf("publish %s to %s: %w (last error: %v)", id, msg.Subject, ErrClosed, err))
			return
		}
		if ferr := b.Failed(); ferr != nil {
			b.finish(msg, ferr)
			return
		}
		if err := b.send(msg); err != nil {
			b.retry(msg, err)
		}
	})
}

// finish ends the tracking of msg, failed for good.
func (b *Bus) finish(msg *nats.Msg, err error) {
	if s := b.untrack(msg); s != nil {
		b.pub.lose(b, s.events, err)
	}
}

// untrack ends the tracking of msg and frees its slot; it returns nil if msg
// was no longer tracked.
func (b *Bus) untrack(msg *nats.Msg) *sending {
	b.pub.mu.Lock()
	s := b.pub.inFlight[msg]
	if s == nil {
		b.pub.mu.Unlock()
		return nil
	}
	delete(b.pub.inFlight, msg)
	if len(b.pub.inFlight) == 0 && b.pub.idle != nil {
		close(b.pub.idle)
		b.pub.idle = nil
	}
	b.pub.mu.Unlock()
	<-b.pub.sem
	return s
}

// lose counts n events (or alerts) as failed for good, for Stats and the
// next Flush.
func (p *publisher) lose(b *Bus, n int, err error) {
	p.mu.Lock()
	p.failed += n
	p.lastErr = err
	p.mu.Unlock()
	if failedTotal := b.stats.failed.Add(uint64(n)); sampled(failedTotal) {
		b.log.Warn("publish failed", "failed_total", failedTotal, "err", err)
	}
}

// Flush sends the events still waiting for others to share their message,
// waits until every publish is acked or has failed for good, and reports
// the events and alerts that failed since the previous Flush.
func (b *Bus) Flush(ctx context.Context) error {
	b.batches.sendMu.Lock()
	_ = b.sendBatches(ctx, b.batches.take()) // a failure is counted and reported below
	b.batches.sendMu.Unlock()
	for {
		b.pub.mu.Lock()
		if len(b.pub.inFlight) == 0 {
			failed, lastErr := b.pub.failed, b.pub.lastErr
			b.pub.failed, b.pub.lastErr = 0, nil
			b.pub.mu.Unlock()
			if failed > 0 {
				return fmt.Errorf("flush to NATS at %s: %d events or alerts failed to publish, last: %w", b.where, failed, lastErr)
			}
			return nil
		}
		idle, pending := b.pub.idle, len(b.pub.inFlight)
		b.pub.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("flush to NATS at %s: %d messages unacked: %w", b.where, pending, ctx.Err())
		}
	}
}
