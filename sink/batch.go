package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// BatchConfig configures a BatchWriter. Zero fields take the defaults
// documented on each; Validate fills them in.
type BatchConfig struct {
	// MaxRows flushes a batch when it holds this many rows. Default 10000.
	// The rows of one WriteEvents or WriteAlerts call are never split
	// between batches, so a batch may hold more.
	MaxRows int
	// MaxDelay flushes a batch at the latest this long after its first row
	// arrived, so a trickle of rows is not held back. Default 1s.
	MaxDelay time.Duration
	// QueueRows is how many rows may wait behind the batches being written
	// before Add blocks, which is the back-pressure that stops the caller's
	// consumer while the destination is down. A WriteEvents or WriteAlerts
	// call takes one place however many rows it holds: it waits for them to
	// be stored anyway. Default 2 × MaxRows.
	QueueRows int
	// MaxInFlight is how many batches may be written at once. Default 2: the
	// next batch is converted and sent while the destination stores the one
	// before, instead of the two sides taking turns.
	MaxInFlight int
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// retries of a failed write. Default 30ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives retries and dead letters. Default slog.Default().
	Logger *slog.Logger
}

// Defaults of BatchConfig.
const (
	DefaultBatchMaxRows  = 10000
	DefaultBatchMaxDelay = time.Second
	DefaultMaxInFlight   = 2
	DefaultMinBackoff    = 30 * time.Millisecond
	DefaultMaxBackoff    = 5 * time.Second
)

// Validate fills in defaults and reports the first invalid setting.
func (c *BatchConfig) Validate() error {
	if c.MaxRows == 0 {
		c.MaxRows = DefaultBatchMaxRows
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = DefaultBatchMaxDelay
	}
	if c.QueueRows == 0 {
		c.QueueRows = 2 * c.MaxRows
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.MaxRows < 0 || c.QueueRows < 0:
		return errors.New("batch: row counts must not be negative")
	case c.MaxInFlight < 0:
		return errors.New("batch: max in flight must not be negative")
	case c.MaxDelay < 0:
		return errors.New("batch: max delay must not be negative")
	case c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("batch: backoff %v..%v: want 0 < min <= max", c.MinBackoff, c.MaxBackoff)
	}
	return nil
}

// ErrClosed is returned by Add and Write calls on a closed BatchWriter.
var ErrClosed = errors.New("batch writer closed")

// BatchWriter batches rows for a Writer by size or deadline and writes each
// batch until it is stored: transient failures are retried with exponential
// backoff, and a batch refused with ErrBadData is split in halves until the
// refused rows are alone, and those go to the DeadLetterWriter. Each row's
// done callback runs once the row is stored or dead-lettered, which is when
// the caller may acknowledge it. Rows of a batch that was never stored (the
// writer's context ended first) never get their callback, so their source
// delivers them again.
//
// Batches are filled in arrival order, as in a single Prometheus remote-write
// shard (one ClickHouse insert of many rows beats several small ones), and up
// to MaxInFlight of them are written at once; the destinations deduplicate,
// so the order in which they land does not matter.
type BatchWriter struct {
	w        Writer
	dead     DeadLetterWriter
	cfg      BatchConfig
	counters batchCounters

	// mu orders Add against Close: Adds hold it shared while they enqueue,
	// Close takes it exclusively to close the queue.
	mu     sync.RWMutex
	closed bool
	queue  chan pending
	// loopDone is closed when the loop and every batch write it started
	// have returned.
	loopDone chan struct{}
	loopErr  error
}

// pending is one queued group of rows, events or alerts, from one Add or
// Write call; done runs once all of them are stored or dead-lettered.
type pending struct {
	evs  []*event.Event
	als  []*event.Alert
	done func()
}

func (p pending) rows() int { return len(p.evs) + len(p.als) }

var _ Writer = (*BatchWriter)(nil)

// NewBatchWriter starts a BatchWriter in front of w. It runs until Close, or
// until ctx ends, which abandons queued rows without their callbacks.
func NewBatchWriter(ctx context.Context, w Writer, dead DeadLetterWriter, cfg BatchConfig) (*BatchWriter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if w == nil || dead == nil {
		return nil, errors.New("batch writer: a Writer and a DeadLetterWriter are required")
	}
	b := &BatchWriter{
		w: w, dead: dead, cfg: cfg,
		queue:    make(chan pending, cfg.QueueRows),
		loopDone: make(chan struct{}),
	}
	go b.loop(ctx)
	return b, nil
}

// AddEvent queues an event, blocking while the queue is full. done, if not
// nil, runs once the event is stored or dead-lettered.
func (b *BatchWriter) AddEvent(ctx context.Context, e *event.Event, done func()) error {
	return b.add(ctx, pending{evs: []*event.Event{e}, done: done})
}

// AddAlert queues an alert like AddEvent.
func (b *BatchWriter) AddAlert(ctx context.Context, a *event.Alert, done func()) error {
	return b.add(ctx, pending{als: []*event.Alert{a}, done: done})
}

func (b *BatchWriter) add(ctx context.Context, p pending) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	select {
	case b.queue <- p:
		b.counters.queued.Add(int64(p.rows()))
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.loopDone:
		return fmt.Errorf("batch writer stopped: %w", b.loopErr)
	}
}

// WriteEvents queues the events and waits until all are stored or
// dead-lettered, so a BatchWriter can stand wherever a Writer is expected.
func (b *BatchWriter) WriteEvents(ctx context.Context, evs []*event.Event) error {
	return b.writeAndWait(ctx, pending{evs: evs})
}

// WriteAlerts queues the alerts and waits like WriteEvents.
func (b *BatchWriter) WriteAlerts(ctx context.Context, as []*event.Alert) error {
	return b.writeAndWait(ctx, pending{als: as})
}

func (b *BatchWriter) writeAndWait(ctx context.Context, p pending) error {
	if p.rows() == 0 {
		return nil
	}
	// Buffered, so the callback never blocks a batch write even after this
	// call has given up waiting.
	stored := make(chan struct{}, 1)
	p.done = func() { stored <- struct{}{} }
	if err := b.add(ctx, p); err != nil {
		return err
	}
	select {
	case <-stored:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.loopDone:
		// Batches run their callbacks before the loop stops, so the rows
		// were stored if and only if the signal is there now.
		select {
		case <-stored:
			return nil
		default:
			return fmt.Errorf("batch writer stopped: %w", b.loopErr)
		}
	}
}

// Close stops accepting rows, writes what is queued, and returns when that is
// stored or the writer's context has ended. It does not close the Writer.
func (b *BatchWriter) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.mu.Unlock()
	<-b.loopDone
	if b.loopErr != nil {
		return fmt.Errorf("flush batch writer: %w", b.loopErr)
	}
	return nil
}

// loop fills batches from the queue and starts a write of each, at most
// MaxInFlight at a time. It stops reading the queue while a full batch waits
// for its turn, which is what makes Add block when the destination is slow or
// away.
func (b *BatchWriter) loop(ctx context.Context) {
	var (
		writes   sync.WaitGroup
		errOnce  sync.Once
		writeErr error
		// inFlight holds a token per batch being written.
		inFlight = make(chan struct{}, b.cfg.MaxInFlight)
		batch    []pending
		rows     int
		due      bool // the batch's MaxDelay has passed
		queue    = b.queue
		timer    = time.NewTimer(b.cfg.MaxDelay)
	)
	timer.Stop()
	defer func() {
		timer.Stop()
		writes.Wait()
		if b.loopErr == nil {
			b.loopErr = writeErr
		}
		close(b.loopDone)
	}()
	for {
		var start chan<- struct{}
		if rows > 0 && (due || rows >= b.cfg.MaxRows || queue == nil) {
			start = inFlight
		}
		var next <-chan pending
		if rows < b.cfg.MaxRows {
			next = queue
		}
		if start == nil && next == nil {
			return // the queue is closed and everything in it started
		}
		select {
		case p, ok := <-next:
			if !ok {
				queue = nil
				continue
			}
			b.counters.queued.Add(-int64(p.rows()))
			if rows == 0 {
				timer.Reset(b.cfg.MaxDelay)
			}
			batch, rows = append(batch, p), rows+p.rows()
		case start <- struct{}{}:
			timer.Stop()
			writes.Add(1)
			go func(batch []pending) {
				defer writes.Done()
				if err := b.writeBatch(ctx, batch); err != nil {
					errOnce.Do(func() { writeErr = err })
				}
				<-inFlight
			}(batch)
			batch, rows, due = nil, 0, false
		case <-timer.C:
			due = true
		case <-ctx.Done():
			b.loopErr = ctx.Err()
			return
		}
	}
}

// writeBatch stores a batch, events then alerts, and then runs its callbacks.
// It returns an error only when ctx ended first.
func (b *BatchWriter) writeBatch(ctx context.Context, batch []pending) error {
	var evs []*event.Event
	var als []*event.Alert
	for _, p := range batch {
		evs = append(evs, p.evs...)
		als = append(als, p.als...)
	}
	start := time.Now()
	if err := storeRows(ctx, b, "events", evs, b.w.WriteEvents, eventDeadLetter); err != nil {
		return err
	}
	if err := storeRows(ctx, b, "alerts", als, b.w.WriteAlerts, alertDeadLetter); err != nil {
		return err
	}
	b.counters.batches.Add(1)
	b.counters.batchNanos.Add(int64(time.Since(start)))
	for _, p := range batch {
		if p.done != nil {
			p.done()
		}
	}
	return nil
}

// storeRows writes rows until they are stored, splitting on bad data down to
// single rows, which are dead-lettered.
func storeRows[R any](ctx context.Context, b *BatchWriter, what string, rows []R,
	write func(context.Context, []R) error, deadLetter func(R, error) *DeadLetter) error {
	if len(rows) == 0 {
		return nil
	}
	err := b.retry(ctx, "write "+what, func() error { return write(ctx, rows) })
	switch {
	case err == nil:
		b.counters.rowsWritten(what, len(rows))
		return nil
	case !errors.Is(err, ErrBadData):
		return err
	case len(rows) > 1:
		half := len(rows) / 2
		if err := storeRows(ctx, b, what, rows[:half], write, deadLetter); err != nil {
			return err
		}
		return storeRows(ctx, b, what, rows[half:], write, deadLetter)
	}
	dl := deadLetter(rows[0], err)
	b.cfg.Logger.Warn("dead-lettering a row the destination refused", "kind", dl.Kind, "id", dl.ID, "error", err)
	if err := b.retry(ctx, "write dead letter", func() error {
		err := b.dead.WriteDeadLetters(ctx, []*DeadLetter{dl})
		if errors.Is(err, ErrBadData) {
			// Nowhere left to set the row aside: keep trying, loudly,
			// rather than lose it; its source keeps it meanwhile.
			return fmt.Errorf("dead letter refused: %v", err)
		}
		return err
	}); err != nil {
		return err
	}
	b.counters.deadLetters.Add(1)
	return nil
}

// retry calls f until it succeeds, fails with ErrBadData, or ctx ends,
// sleeping between attempts with exponential backoff.
func (b *BatchWriter) retry(ctx context.Context, what string, f func() error) error {
	backoff := b.cfg.MinBackoff
	for {
		err := f()
		if err == nil || errors.Is(err, ErrBadData) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.counters.retries.Add(1)
		b.cfg.Logger.Warn("retrying", "op", what, "in", backoff, "error", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff = min(2*backoff, b.cfg.MaxBackoff)
	}
}

func eventDeadLetter(e *event.Event, err error) *DeadLetter {
	return newDeadLetter(e.EventID, string(e.Kind), e, err)
}

func alertDeadLetter(a *event.Alert, err error) *DeadLetter {
	return newDeadLetter(a.AlertID, "alert", a, err)
}

func newDeadLetter(id, kind string, row any, cause error) *DeadLetter {
	// The row came out of JSON or was built from the schema types, so it
	// encodes; if it somehow does not, the error says so in its place.
	payload, err := json.Marshal(row)
	if err != nil {
		payload = fmt.Appendf(nil, "%q", err.Error())
	}
	return &DeadLetter{TS: time.Now().UTC(), ID: id, Kind: kind, Error: cause.Error(), Payload: payload}
}
