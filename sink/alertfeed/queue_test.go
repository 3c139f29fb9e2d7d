package alertfeed

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
)

// gatedOutput blocks each write until the test lets it through, and fails
// the alerts it is told to.
type gatedOutput struct {
	started chan string // alert id, when a write begins
	release chan struct{}
	fail    map[string]bool

	mu        sync.Mutex
	delivered []string
	closed    bool
}

func (g *gatedOutput) WriteAlerts(_ context.Context, as []*event.Alert) error {
	for _, a := range as {
		g.started <- a.AlertID
		<-g.release
		if g.fail[a.AlertID] {
			return errors.New("collector refused")
		}
		g.mu.Lock()
		g.delivered = append(g.delivered, a.AlertID)
		g.mu.Unlock()
	}
	return nil
}

func (g *gatedOutput) Close() error {
	g.closed = true
	return nil
}

func TestQueueDropsWhatDoesNotFit(t *testing.T) {
	alerts := []*event.Alert{testAlert(1), testAlert(2), testAlert(3), testAlert(4), testAlert(5)}
	out := &gatedOutput{started: make(chan string, 10), release: make(chan struct{}), fail: map[string]bool{alerts[1].AlertID: true}}
	q, err := NewQueue(out, QueueConfig{Capacity: 2, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The first alert is taken by the output and held there ...
	if err := q.WriteAlerts(ctx, alerts[:1]); err != nil {
		t.Fatal(err)
	}
	<-out.started
	// ... so two more fill the queue and the last two are dropped.
	if err := q.WriteAlerts(ctx, alerts[1:]); err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.Dropped != 2 {
		t.Errorf("dropped %d, want 2", st.Dropped)
	}
	go func() {
		for range 3 {
			out.release <- struct{}{}
		}
	}()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{alerts[0].AlertID, alerts[2].AlertID}
	if len(out.delivered) != 2 || out.delivered[0] != want[0] || out.delivered[1] != want[1] {
		t.Errorf("delivered %v, want %v", out.delivered, want)
	}
	if st := q.Stats(); st != (QueueStats{Delivered: 2, Failed: 1, Dropped: 2}) {
		t.Errorf("stats %+v, want 2 delivered, 1 failed, 2 dropped", st)
	}
	if !out.closed {
		t.Error("Close did not close the output")
	}
	if err := q.WriteAlerts(ctx, alerts[:1]); err == nil {
		t.Error("WriteAlerts after Close succeeded")
	}
}
