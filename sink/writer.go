package sink

import (
	"context"
	"errors"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// Writer stores events and alerts. A call returns nil only when the whole
// batch is stored, so the caller may then acknowledge its input; on error
// nothing may be assumed about which rows were stored, and writing the batch
// again must be harmless (ids are deterministic, destinations deduplicate).
type Writer interface {
	WriteEvents(ctx context.Context, evs []*event.Event) error
	WriteAlerts(ctx context.Context, as []*event.Alert) error
	Close() error
}

// ErrBadData marks a write refused because of the rows themselves (a value
// out of a column's range, an invalid event, a type the server rejects):
// writing the same rows again fails the same way, so they must be set aside,
// not retried. Any other write error is taken as transient.
var ErrBadData = errors.New("bad data")

// DeadLetter is a row a Writer refused as bad data, kept with the reason so
// that it can be inspected, fixed and replayed.
type DeadLetter struct {
	// TS is when the row was set aside.
	TS time.Time
	// ID is the event_id or alert_id.
	ID string
	// Kind is the event kind, or "alert".
	Kind string
	// Error is why the row was refused.
	Error string
	// Payload is the row's schema-v1 JSON.
	Payload []byte
}

// DeadLetterWriter stores dead letters. Like Writer, it returns nil only when
// all are stored, and storing one twice must be harmless.
type DeadLetterWriter interface {
	WriteDeadLetters(ctx context.Context, dls []*DeadLetter) error
}
