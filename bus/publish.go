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
	attempts map[*nats.Msg]int // in flight → failed sends so far
	idle     chan struct{}     // closed when attempts empties; nil while empty
	failed   int               // failed for good since the last Flush
	lastErr  error
}

func (p *publisher) init(maxInFlight int) {
	p.sem = make(chan struct{}, maxInFlight)
	p.attempts = make(map[*nats.Msg]int)
}

func (p *publisher) inFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.attempts)
}

// PublishEvent publishes ev to mcpwatch.events.<kind>.<partition> with
// Nats-Msg-Id = event_id. It returns once the message is sent; the ack is
// awaited by Flush. It blocks while PublishAsyncMax publishes are in flight.
func (b *Bus) PublishEvent(ctx context.Context, ev *event.Event) error {
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	data, err := encode(ev)
	if err != nil {
		return fmt.Errorf("publish event %s: %w", ev.EventID, err)
	}
	return b.publish(ctx, Subject(ev, b.cfg.Partitions), ev.EventID, data)
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
	return b.publish(ctx, AlertSubject(a), a.AlertID, data)
}

func (b *Bus) publish(ctx context.Context, subject, id string, data []byte) error {
	if b.closed.Load() {
		return fmt.Errorf("publish %s to %s: %w", id, subject, ErrClosed)
	}
	select {
	case b.pub.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("publish %s to %s: %d publishes in flight: %w", id, subject, cap(b.pub.sem), ctx.Err())
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{jetstream.MsgIDHeader: []string{id}}}
	b.pub.mu.Lock()
	b.pub.attempts[msg] = 0
	if b.pub.idle == nil {
		b.pub.idle = make(chan struct{})
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
	b.stats.published.Add(1)
	if ack.Duplicate {
		b.stats.duplicates.Add(1)
	}
	b.finish(msg, nil)
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
	attempts, ok := b.pub.attempts[msg]
	if ok {
		attempts++
		b.pub.attempts[msg] = attempts
	}
	b.pub.mu.Unlock()
	if !ok {
		return // already finished; a late callback for an earlier send
	}
	id := msg.Header.Get(jetstream.MsgIDHeader)
	if attempts > b.cfg.PublishRetries || b.closed.Load() {
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
		if err := b.send(msg); err != nil {
			b.retry(msg, err)
		}
	})
}

// finish ends the tracking of msg, acked (err == nil) or failed for good.
func (b *Bus) finish(msg *nats.Msg, err error) {
	b.pub.mu.Lock()
	if _, ok := b.pub.attempts[msg]; !ok {
		b.pub.mu.Unlock()
		return
	}
	delete(b.pub.attempts, msg)
	var failedTotal uint64
	if err != nil {
		b.pub.failed++
		b.pub.lastErr = err
		failedTotal = b.stats.failed.Add(1)
	}
	if len(b.pub.attempts) == 0 && b.pub.idle != nil {
		close(b.pub.idle)
		b.pub.idle = nil
	}
	b.pub.mu.Unlock()
	<-b.pub.sem
	if err != nil && sampled(failedTotal) {
		b.log.Warn("publish failed", "failed_total", failedTotal, "err", err)
	}
}

// Flush waits until every publish is acked or has failed for good, and
// reports the publishes that failed since the previous Flush.
func (b *Bus) Flush(ctx context.Context) error {
	for {
		b.pub.mu.Lock()
		if len(b.pub.attempts) == 0 {
			failed, lastErr := b.pub.failed, b.pub.lastErr
			b.pub.failed, b.pub.lastErr = 0, nil
			b.pub.mu.Unlock()
			if failed > 0 {
				return fmt.Errorf("flush to NATS at %s: %d publishes failed, last: %w", b.where, failed, lastErr)
			}
			return nil
		}
		idle, pending := b.pub.idle, len(b.pub.attempts)
		b.pub.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("flush to NATS at %s: %d publishes unacked: %w", b.where, pending, ctx.Err())
		}
	}
}
