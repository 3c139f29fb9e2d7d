package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mcpwatch/mcpwatch/event"
)

// Publisher is what a producing stage needs from the bus.
type Publisher interface {
	PublishEvent(ctx context.Context, ev *event.Event) error
	PublishAlert(ctx context.Context, a *event.Alert) error
	Flush(ctx context.Context) error
}

var _ Publisher = (*Bus)(nil)

// ErrClosed is returned by operations on a closed Bus.
var ErrClosed = errors.New("bus closed")

// Bus is a connection to NATS JetStream with the mcpwatch streams in place.
// It is safe for concurrent use.
type Bus struct {
	cfg   Config
	log   *slog.Logger
	where string // the URL without credentials, for errors
	nc    *nats.Conn
	js    jetstream.JetStream

	pub     publisher
	batches batcher
	stats   counters
	closed  atomic.Bool
	life    context.Context // ends at Close; bounds the sends of lingering events
	end     context.CancelFunc

	// outage is closed when the Bus failed for good (OutageLimit);
	// outageErr says why.
	outage     chan struct{}
	outageOnce sync.Once
	outageErr  error
}

// ErrOutage is wrapped by the errors of a Bus that went without a publish
// ack for longer than Config.OutageLimit.
var ErrOutage = errors.New("NATS outage limit exceeded")

// Stats are counters since Connect.
type Stats struct {
	// Published is events and alerts acked by the stream, in
	// PublishedMessages messages; Duplicates of them were in messages the
	// stream had already stored (same Nats-Msg-Id within the duplicate
	// window).
	Published, PublishedMessages, Duplicates uint64
	// PublishRetries counts message re-sends after an error, timeout or
	// disconnect; PublishFailed counts events and alerts given up (after
	// PublishRetries, or when the Bus closed or the caller's ctx ended).
	PublishRetries, PublishFailed uint64
	// InFlight is messages not yet acked or failed.
	InFlight int
	// Consumed is events or alerts whose handler returned nil, in
	// ConsumedMessages messages (acked) and Batches handler calls;
	// FailedBatches were nacked for redelivery.
	Consumed, ConsumedMessages, Batches, FailedBatches uint64
	// Malformed is events and alerts that did not decode: they are skipped,
	// and a message with nothing else is terminated.
	Malformed uint64
}

type counters struct {
	published, publishedMessages, duplicates, retries, failed atomic.Uint64
	consumed, consumedMessages, batches, failedBatches        atomic.Uint64
	malformed                                                 atomic.Uint64
}

// Connect connects to cfg.URL and ensures the streams MCPWATCH_EVENTS and
// MCPWATCH_ALERTS exist with cfg's limits. An unreachable server fails within
// cfg.ConnectTimeout with "connect to NATS at <url>: …"; once connected, the
// connection reconnects forever.
func Connect(ctx context.Context, cfg Config) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	b := &Bus{cfg: cfg, log: cfg.Logger, where: redactURL(cfg.URL), outage: make(chan struct{})}
	if cfg.InProcess != nil {
		b.where = "embedded NATS (in-process)"
	}
	b.pub.init(cfg.PublishAsyncMax)
	b.batches.linger, b.batches.maxEvents = cfg.PublishLinger, cfg.EventsPerMessage
	b.batches.timer = time.AfterFunc(time.Hour, b.publishDue)
	b.batches.timer.Stop()

	timeout := cfg.ConnectTimeout
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < timeout {
		timeout = max(time.Until(deadline), time.Millisecond)
	}
	opts, err := cfg.Auth.options()
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", b.where, err)
	}
	if cfg.InProcess != nil {
		opts = append(opts, nats.InProcessServer(cfg.InProcess))
	}
	nc, err := nats.Connect(cfg.URL, append(opts,
		nats.Name("mcpwatch"),
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(2*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("NATS disconnected, reconnecting", "url", b.where, "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			b.log.Info("NATS reconnected", "url", b.where)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			b.log.Warn("NATS error", "url", b.where, "err", err)
		}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", b.where, err)
	}
	b.nc = nc
	b.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncAckHandler(b.onPublishAck),
		jetstream.WithPublishAsyncErrHandler(b.onPublishErr),
		// Our own semaphore bounds what is in flight and blocks with a ctx;
		// the client's limit only has to stay out of its way.
		jetstream.WithPublishAsyncMaxPending(cfg.PublishAsyncMax+1),
		jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout),
	)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("JetStream at %s: %w", b.where, err)
	}
	if err := b.ensureStreams(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	b.life, b.end = context.WithCancel(context.Background())
	if cfg.OutageLimit > 0 {
		go b.watchOutage()
	}
	return b, nil
}

// watchOutage fails the Bus when messages have waited OutageLimit for an
// ack without any publish being acked meanwhile.
func (b *Bus) watchOutage() {
	limit := b.cfg.OutageLimit
	t := time.NewTicker(min(max(limit/20, 10*time.Millisecond), time.Second))
	defer t.Stop()
	for {
		select {
		case <-b.life.Done():
			return
		case <-b.outage:
			return
		case <-t.C:
		}
		stalled, waiting := b.pub.stalled()
		if waiting == 0 || stalled < limit {
			continue
		}
		b.fail(fmt.Errorf("NATS at %s: no publish acknowledged for %s with %d messages waiting (outage limit %s): %w",
			b.where, stalled.Round(time.Second), waiting, limit, ErrOutage))
	}
}

// fail ends the Bus for good: messages in flight are counted as failed,
// blocked and later publishes return err.
func (b *Bus) fail(err error) {
	b.outageOnce.Do(func() {
		b.outageErr = err
		close(b.outage)
		b.log.Error("giving up on NATS", "err", err)
		for _, msg := range b.pub.tracked() {
			b.finish(msg, err)
		}
	})
}

// Failed returns the error that ended the Bus (wrapping ErrOutage), or nil.
func (b *Bus) Failed() error {
	select {
	case <-b.outage:
		return b.outageErr
	default:
		return nil
	}
}

func (b *Bus) ensureStreams(ctx context.Context) error {
	for _, s := range []struct{ name, subjects string }{
		{EventsStream, eventsRoot + ".>"},
		{AlertsStream, alertsRoot + ".>"},
	} {
		_, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:        s.name,
			Description: "mcpwatch " + strings.ToLower(strings.TrimPrefix(s.name, "MCPWATCH_")) + " (docs/events.md)",
			Subjects:    []string{s.subjects},
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			Storage:     jetstream.FileStorage,
			Replicas:    b.cfg.Replicas,
			MaxAge:      b.cfg.MaxAge,
			MaxBytes:    b.cfg.MaxBytes,
			Duplicates:  b.cfg.DuplicateWindow,
		})
		if err != nil {
			return fmt.Errorf("ensure stream %s at %s: %w", s.name, b.where, err)
		}
	}
	return nil
}

// Stats returns the counters since Connect.
func (b *Bus) Stats() Stats {
	return Stats{
		Published:         b.stats.published.Load(),
		PublishedMessages: b.stats.publishedMessages.Load(),
		Duplicates:        b.stats.duplicates.Load(),
		PublishRetries:    b.stats.retries.Load(),
		PublishFailed:     b.stats.failed.Load(),
		InFlight:          b.pub.messagesInFlight(),
		Consumed:          b.stats.consumed.Load(),
		ConsumedMessages:  b.stats.consumedMessages.Load(),
		Batches:           b.stats.batches.Load(),
		FailedBatches:     b.stats.failedBatches.Load(),
		Malformed:         b.stats.malformed.Load(),
	}
}

// NextSeq is the sequence number the next message stored in stream
// (EventsStream or AlertsStream) will get: a durable started there
// (ConsumerConfig.StartSeq) sees exactly what is published from now on.
func (b *Bus) NextSeq(ctx context.Context, stream string) (uint64, error) {
	s, err := b.js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s at %s: %w", stream, b.where, err)
	}
	return s.CachedInfo().State.LastSeq + 1, nil
}

// Close closes the connection. Publishes not yet acked and events waiting
// to share a message are abandoned and counted as failed (call Flush
// first); consumers return ErrClosed; unacked messages are redelivered to
// other processes after their AckWait.
func (b *Bus) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.end()
	for _, bt := range b.batches.take() {
		b.pub.lose(b, len(bt.ids), fmt.Errorf("publish %s: %w", bt.subject, ErrClosed))
	}
	b.nc.Close()
	return nil
}

// WaitDrained blocks until every named durable consumer has acked everything
// in its stream that matches its filter, or ctx ends. A durable that does not
// exist yet is waited for, because consumers are created by their own
// goroutine or process. Call Flush first so that what was published is in
// the stream.
func (b *Bus) WaitDrained(ctx context.Context, durables ...string) error {
	for _, d := range durables {
		if err := b.waitDrained(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// drainProgressEvery is how often a long wait for a consumer to drain says
// what it waits for.
const drainProgressEvery = 5 * time.Second

func (b *Bus) waitDrained(ctx context.Context, durable string) error {
	const minPoll, maxPoll = 10 * time.Millisecond, 250 * time.Millisecond
	poll := minPoll
	var failingSince time.Time
	lastSaid := time.Now()
	for {
		backlog, err := b.Backlog(ctx, durable)
		if err == nil && backlog.Pending == 0 && backlog.Unacked == 0 {
			return nil
		}
		switch {
		case err == nil:
			failingSince = time.Time{}
		case failingSince.IsZero():
			failingSince = time.Now()
		case b.cfg.OutageLimit > 0 && time.Since(failingSince) > b.cfg.OutageLimit:
			return fmt.Errorf("wait for consumer %s at %s to drain: failing for %s (outage limit): %w (%w)", durable, b.where, b.cfg.OutageLimit, err, ErrOutage)
		}
		if ferr := b.Failed(); ferr != nil {
			return fmt.Errorf("wait for consumer %s to drain: %w", durable, ferr)
		}
		status := fmt.Sprintf("%d pending, %d unacked", backlog.Pending, backlog.Unacked)
		if err != nil {
			status = err.Error()
		}
		if time.Since(lastSaid) >= drainProgressEvery {
			lastSaid = time.Now()
			b.log.Info("waiting for delivery", "consumer", durable, "backlog", status)
		}
		if errors.Is(err, ErrClosed) || !sleep(ctx, poll) {
			return fmt.Errorf("wait for consumer %s at %s to drain (%s): %w", durable, b.where, status, cmp.Or(ctx.Err(), err))
		}
		poll = min(2*poll, maxPoll)
	}
}

// ErrNoConsumer is returned by Backlog for a durable that exists in neither
// stream.
var ErrNoConsumer = errors.New("no such durable consumer")

// Backlog is the work a durable consumer has not finished.
type Backlog struct {
	// Pending is messages matching its filter not yet delivered; Unacked is
	// messages delivered but not yet acked (including nacked ones waiting for
	// redelivery).
	Pending, Unacked uint64
}

// Backlog returns the backlog of a durable consumer, summed over the streams
// it exists in: the consume lag to export as a metric.
func (b *Bus) Backlog(ctx context.Context, durable string) (Backlog, error) {
	if b.closed.Load() {
		return Backlog{}, ErrClosed
	}
	var backlog Backlog
	found := false
	for _, stream := range []string{EventsStream, AlertsStream} {
		// The stream's last sequence is read first: the server acks a
		// publish before it tells the consumers, so a consumer's pending
		// count can lag what the stream already holds.
		st, err := b.js.Stream(ctx, stream)
		if err != nil {
			return Backlog{}, fmt.Errorf("stream %s at %s: %w", stream, b.where, err)
		}
		last := st.CachedInfo().State.LastSeq
		cons, err := b.js.Consumer(ctx, stream, durable)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue
		}
		if err != nil {
			return Backlog{}, fmt.Errorf("consumer %s on %s at %s: %w", durable, stream, b.where, err)
		}
		info := cons.CachedInfo()
		found = true
		pending := info.NumPending
		if behind := last - min(last, info.AckFloor.Stream); unfiltered(info.Config) && behind > 0 {
			// Every message after the ack floor is unacked or not yet
			// delivered, whether or not the consumer heard of it.
			pending = max(pending, behind-min(behind, uint64(info.NumAckPending)))
		}
		backlog.Pending += pending
		backlog.Unacked += uint64(info.NumAckPending)
	}
	if !found {
		return Backlog{}, fmt.Errorf("consumer %s at %s: %w", durable, b.where, ErrNoConsumer)
	}
	return backlog, nil
}

// unfiltered reports whether a consumer reads its whole stream.
func unfiltered(c jetstream.ConsumerConfig) bool {
	return c.FilterSubject == "" && len(c.FilterSubjects) == 0
}

// redactURL drops passwords and tokens from a (comma-separated) NATS URL so it
// can appear in errors and logs.
func redactURL(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		if err != nil || u.User == nil {
			parts[i] = p
			continue
		}
		if _, hasPassword := u.User.Password(); !hasPassword {
			// A bare user part is a token.
			u.User = url.User("REDACTED")
		}
		parts[i] = u.Redacted()
	}
	return strings.Join(parts, ",")
}

// backoff is the wait before retry number attempt (1-based): 30 ms doubling to
// 5 s, like Prometheus' remote-write queues.
func backoff(attempt int) time.Duration {
	const first, limit = 30 * time.Millisecond, 5 * time.Second
	d := first
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// sampled reports whether the n-th occurrence of a per-message problem is
// logged: the first ten, then every power of two, so a flood of garbage or
// failures shows in the log without drowning it; Stats has the exact count.
func sampled(n uint64) bool {
	return n <= 10 || n&(n-1) == 0
}

// sleep waits d or until ctx ends, reporting whether it waited the full d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
