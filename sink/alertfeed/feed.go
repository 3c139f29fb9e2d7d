package alertfeed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// FeedConfig configures a Feed. Zero fields take the defaults on each.
type FeedConfig struct {
	// Name names the feed in logs, metrics and dead letters ("webhook").
	Name string
	// DeadLetterPath is the JSONL file that receives the alerts the feed
	// gives up on; it is created on the first dead letter.
	DeadLetterPath string
	// Remember is how many alert ids, delivered or dead-lettered, the feed
	// remembers so that a redelivered batch does not send them twice.
	// Default 65536.
	Remember int
	// Logger receives dead letters and give-ups. Default slog.Default().
	Logger *slog.Logger
}

// Validate fills in defaults and reports the first invalid setting.
func (c *FeedConfig) Validate() error {
	if c.Remember == 0 {
		c.Remember = 1 << 16
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.Name == "":
		return errors.New("alert feed: a name is required")
	case c.DeadLetterPath == "":
		return fmt.Errorf("alert feed %s: a dead-letter file is required", c.Name)
	case c.Remember < 0:
		return fmt.Errorf("alert feed %s: remember must not be negative", c.Name)
	}
	return nil
}

// FeedStats count what a Feed did with the alerts it was given. Every
// alert is counted once, however often the bus redelivered it.
type FeedStats struct {
	Delivered int64
	// DeadLettered counts the alerts written to the dead-letter file, by
	// why: refused for good by the receiver, or still undelivered when
	// the feed gave up (GiveUp).
	DeadLettered struct{ Permanent, Undelivered int64 }
	// TransientErrors counts deliveries that failed after the output's own
	// retries and were handed back for redelivery.
	TransientErrors int64
	// DeadLetterErrors counts dead letters that could not be written; the
	// alert is then handed back for redelivery.
	DeadLetterErrors int64
}

// Feed puts an Output between the bus and a receiver: an alert the
// receiver refuses for good (a permanent error: HTTP 4xx other than 408
// and 429, a message too big for the transport) is written to the
// dead-letter file and not retried; a transient failure is returned, so
// the bus redelivers the batch after a backoff. After GiveUp, what is
// still undelivered goes to the dead-letter file too, so a job that must
// finish (run --pcap) can stop waiting without losing an alert.
type Feed struct {
	out Output
	cfg FeedConfig

	giveUp    context.Context
	stop      context.CancelCauseFunc
	gaveUp    atomic.Bool
	lastError atomic.Pointer[string]

	mu   sync.Mutex // guards done, dead
	done *idRing
	dead *os.File

	delivered, permanent, undelivered, transient, deadErrors atomic.Int64
}

var _ Output = (*Feed)(nil)

// NewFeed wraps out.
func NewFeed(out Output, cfg FeedConfig) (*Feed, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancelCause(context.Background())
	return &Feed{out: out, cfg: cfg, giveUp: ctx, stop: stop, done: newIDRing(cfg.Remember)}, nil
}

// Name is the feed's name.
func (f *Feed) Name() string { return f.cfg.Name }

// DeadLetterPath is where the feed writes what it gives up on.
func (f *Feed) DeadLetterPath() string { return f.cfg.DeadLetterPath }

// WriteAlerts delivers the alerts in order. It returns an error only for a
// transient failure (or a dead letter it could not write); the alerts
// before the failing one are delivered and remembered, so a redelivery of
// the batch does not send them again.
func (f *Feed) WriteAlerts(ctx context.Context, as []*event.Alert) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(f.giveUp, func() { cancel(context.Cause(f.giveUp)) })()
	for _, a := range as {
		if f.seen(a.AlertID) {
			continue
		}
		if f.gaveUp.Load() {
			if err := f.deadLetter(a, reasonUndelivered, f.undeliveredError()); err != nil {
				return err
			}
			continue
		}
		err := f.out.WriteAlerts(ctx, []*event.Alert{a})
		switch {
		case err == nil:
			f.remember(a.AlertID)
			f.delivered.Add(1)
		case IsPermanent(err):
			if err := f.deadLetter(a, reasonPermanent, err); err != nil {
				return err
			}
		case f.gaveUp.Load():
			if err := f.deadLetter(a, reasonUndelivered, f.undeliveredError()); err != nil {
				return err
			}
		default:
			f.noteError(err)
			f.transient.Add(1)
			return err
		}
	}
	return nil
}

// GiveUp stops delivering: the delivery in progress is cancelled, and this
// and every later alert not yet delivered is dead-lettered, with why as
// the reason.
func (f *Feed) GiveUp(why string) {
	if f.gaveUp.Swap(true) {
		return
	}
	f.cfg.Logger.Warn("alert feed gives up, dead-lettering what is undelivered", "feed", f.cfg.Name, "why", why, "dead_letters", f.cfg.DeadLetterPath)
	f.stop(errors.New(why))
}

// Stats returns the feed's counters.
func (f *Feed) Stats() FeedStats {
	var s FeedStats
	s.Delivered = f.delivered.Load()
	s.DeadLettered.Permanent = f.permanent.Load()
	s.DeadLettered.Undelivered = f.undelivered.Load()
	s.TransientErrors = f.transient.Load()
	s.DeadLetterErrors = f.deadErrors.Load()
	return s
}

// Close closes the output and the dead-letter file.
func (f *Feed) Close() error {
	f.stop(errors.New("feed closed"))
	err := f.out.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead != nil {
		if cerr := f.dead.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close dead-letter file: %w", cerr)
		}
		f.dead = nil
	}
	return err
}

// Dead-letter reasons.
const (
	reasonPermanent   = "permanent"
	reasonUndelivered = "undelivered"
)

// DeadLetter is one line of a dead-letter file.
type DeadLetter struct {
	// TS is when the feed gave up on the alert.
	TS     time.Time    `json:"ts"`
	Feed   string       `json:"feed"`
	Reason string       `json:"reason"` // "permanent" or "undelivered"
	Error  string       `json:"error"`
	Alert  *event.Alert `json:"alert"`
}

func (f *Feed) deadLetter(a *event.Alert, reason string, cause error) error {
	line, err := json.Marshal(DeadLetter{TS: time.Now().UTC(), Feed: f.cfg.Name, Reason: reason, Error: cause.Error(), Alert: a})
	if err != nil {
		return permanentError{err} // an alert that does not encode: never happens
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writeDead(append(line, '\n')); err != nil {
		f.deadErrors.Add(1)
		f.cfg.Logger.Error("dead letter not written, alert will be redelivered", "feed", f.cfg.Name, "alert_id", a.AlertID, "file", f.cfg.DeadLetterPath, "err", err)
		return fmt.Errorf("alert feed %s: dead letter for alert %s: %w", f.cfg.Name, a.AlertID, err)
	}
	f.done.add(a.AlertID)
	if reason == reasonPermanent {
		f.permanent.Add(1)
	} else {
		f.undelivered.Add(1)
	}
	f.cfg.Logger.Warn("alert dead-lettered", "feed", f.cfg.Name, "alert_id", a.AlertID, "rule_id", a.RuleID, "reason", reason, "err", cause, "file", f.cfg.DeadLetterPath)
	return nil
}

// writeDead appends line to the dead-letter file and syncs it: a dead
// letter is the only copy the feed keeps. f.mu is held.
func (f *Feed) writeDead(line []byte) error {
	if f.dead == nil {
		if err := os.MkdirAll(filepath.Dir(f.cfg.DeadLetterPath), 0o700); err != nil {
			return err
		}
		file, err := os.OpenFile(f.cfg.DeadLetterPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		f.dead = file
	}
	if _, err := f.dead.Write(line); err != nil {
		return err
	}
	return f.dead.Sync()
}

func (f *Feed) seen(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done.has(id)
}

func (f *Feed) remember(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done.add(id)
}

func (f *Feed) noteError(err error) {
	s := err.Error()
	f.lastError.Store(&s)
}

// undeliveredError says why an alert is dead-lettered after GiveUp.
func (f *Feed) undeliveredError() error {
	err := context.Cause(f.giveUp)
	if last := f.lastError.Load(); last != nil {
		return fmt.Errorf("%w; last delivery error: %s", err, *last)
	}
	return err
}

// IsPermanent reports whether err is a failure that retrying cannot fix.
func IsPermanent(err error) bool {
	var perm permanentError
	return errors.As(err, &perm)
}

// idRing is a set of the last n ids added.
type idRing struct {
	ids  map[string]struct{}
	ring []string
	next int
}

func newIDRing(n int) *idRing {
	return &idRing{ids: map[string]struct{}{}, ring: make([]string, n)}
}

func (r *idRing) has(id string) bool {
	_, ok := r.ids[id]
	return ok
}

func (r *idRing) add(id string) {
	if len(r.ring) == 0 || r.has(id) {
		return
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.ids, old)
	}
	r.ring[r.next] = id
	r.ids[id] = struct{}{}
	r.next = (r.next + 1) % len(r.ring)
}
