package sink

import (
	"context"
	"errors"

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
