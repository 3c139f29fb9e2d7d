package alertfeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/sink"
)

// Output delivers alerts.
type Output interface {
	WriteAlerts(ctx context.Context, as []*event.Alert) error
	Close() error
}

var (
	_ Output = (sink.Writer)(nil)
	_ Output = (*Queue)(nil)
)

// Format is how an alert is encoded on the wire.
type Format string

const (
	// FormatJSON is the schema-v1 alert JSON of docs/events.md.
	FormatJSON Format = "json"
	// FormatOCSF is an OCSF 1.x Detection Finding (class 2004).
	FormatOCSF Format = "ocsf"
)

func (f Format) validate() error {
	switch f {
	case FormatJSON, FormatOCSF:
		return nil
	}
	return fmt.Errorf("alert format %q: want %q or %q", f, FormatJSON, FormatOCSF)
}

// encode renders one alert in the format.
func (f Format) encode(a *event.Alert) ([]byte, error) {
	if f == FormatOCSF {
		return MarshalOCSF(a)
	}
	return marshalJSON(a)
}

// Retry is how an output retries one alert that failed: exponential backoff
// between attempts, as in Prometheus' remote-write queues. Zero fields take
// the defaults on each.
type Retry struct {
	// Attempts is how many times one alert is tried, the first included.
	// The default depends on the output.
	Attempts int
	// MinBackoff and MaxBackoff bound the wait between attempts.
	// Default 30ms and 5s.
	MinBackoff, MaxBackoff time.Duration
}

func (r *Retry) validate(what string, defaultAttempts int) error {
	if r.Attempts == 0 {
		r.Attempts = defaultAttempts
	}
	if r.MinBackoff == 0 {
		r.MinBackoff = 30 * time.Millisecond
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = 5 * time.Second
	}
	switch {
	case r.Attempts < 0:
		return fmt.Errorf("%s: attempts must not be negative", what)
	case r.MinBackoff < 0 || r.MaxBackoff < r.MinBackoff:
		return fmt.Errorf("%s: backoff %v..%v: want 0 < min <= max", what, r.MinBackoff, r.MaxBackoff)
	}
	return nil
}

func (r Retry) backoff() backoff {
	return backoff{min: r.MinBackoff, max: r.MaxBackoff, attempts: r.Attempts}
}

// backoff runs the attempts of a Retry.
type backoff struct {
	min, max time.Duration
	attempts int // total tries, the first included
}

// do calls f until it succeeds, returns a permanent error, the attempts are
// used up, or ctx ends.
func (b backoff) do(ctx context.Context, f func() error) error {
	wait := b.min
	for attempt := 1; ; attempt++ {
		err := f()
		var perm permanentError
		if err == nil || errors.As(err, &perm) || attempt >= b.attempts {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
		wait = min(2*wait, b.max)
	}
}

// permanentError is a failure that retrying cannot fix (a 4xx answer).
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// QueueConfig configures a Queue. Zero fields take the defaults on each.
type QueueConfig struct {
	// Capacity is how many alerts may wait; more are dropped. Default 1000.
	Capacity int
	// Timeout bounds one delivery of one alert by the output. Default 30s.
	Timeout time.Duration
	// Logger receives delivery failures. Default slog.Default().
	Logger *slog.Logger
}

// Validate fills in defaults and reports the first invalid setting.
func (c *QueueConfig) Validate() error {
	if c.Capacity == 0 {
		c.Capacity = 1000
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Capacity < 0 || c.Timeout < 0 {
		return errors.New("alert queue: capacity and timeout must not be negative")
	}
	return nil
}

// QueueStats count what a Queue did with the alerts it was given.
type QueueStats struct {
	Delivered int64 // written by the output
	Failed    int64 // the output gave up on them
	Dropped   int64 // did not fit in the queue
}

// Queue hands alerts to an Output in the background, one at a time, from a
// bounded buffer. WriteAlerts never blocks on the output.
type Queue struct {
	out Output
	cfg QueueConfig

	mu     sync.RWMutex // orders WriteAlerts against Close
	closed bool
	ch     chan *event.Alert
	done   chan struct{}

	delivered, failed, dropped atomic.Int64
}

// NewQueue starts delivering to out.
func NewQueue(out Output, cfg QueueConfig) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	q := &Queue{out: out, cfg: cfg, ch: make(chan *event.Alert, cfg.Capacity), done: make(chan struct{})}
	go q.run()
	return q, nil
}

// WriteAlerts queues the alerts, dropping those that do not fit. It returns
// an error only after Close.
func (q *Queue) WriteAlerts(_ context.Context, as []*event.Alert) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return errors.New("alert queue closed")
	}
	for _, a := range as {
		select {
		case q.ch <- a:
		default:
			q.dropped.Add(1)
			q.cfg.Logger.Warn("alert queue full, dropping alert", "alert_id", a.AlertID, "rule_id", a.RuleID)
		}
	}
	return nil
}

func (q *Queue) run() {
	defer close(q.done)
	for a := range q.ch {
		ctx, cancel := context.WithTimeout(context.Background(), q.cfg.Timeout)
		err := q.out.WriteAlerts(ctx, []*event.Alert{a})
		cancel()
		if err != nil {
			q.failed.Add(1)
			q.cfg.Logger.Error("alert not delivered", "alert_id", a.AlertID, "error", err)
			continue
		}
		q.delivered.Add(1)
	}
}

// Close delivers what is queued, then closes the output.
func (q *Queue) Close() error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	<-q.done
	return q.out.Close()
}

// Stats returns the queue's counters.
func (q *Queue) Stats() QueueStats {
	return QueueStats{Delivered: q.delivered.Load(), Failed: q.failed.Load(), Dropped: q.dropped.Load()}
}
