package bus_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/event"
)

// With LocalEvents the events consumer gets what it would from the stream:
// every event, in publish order, after a failed batch the same batch
// again, text as JSON decoding gives it; the publisher waits out a full
// queue; WaitDrained waits for the handler, and Backlog is empty after.
func TestLocalEvents(t *testing.T) {
	r := newRun(t)
	b := connect(t, startEmbedded(t), func(c *bus.Config) { c.LocalEvents = true })
	c := bus.ConsumerConfig{Durable: r.durable("local")}
	ctx := context.Background()
	if err := b.EnsureConsumer(ctx, bus.EventsStream, c); err != nil {
		t.Fatal(err)
	}
	evs := r.events(10000) // more than the queue holds
	evs[7].ToolName = "bad \xff\xfe utf-8"
	var mu sync.Mutex
	var got []string
	failed := false
	stop := consumer(t, b, c, func(_ context.Context, batch []*event.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if !failed {
			failed = true
			return context.DeadlineExceeded // a downstream that fails once
		}
		for _, ev := range batch {
			got = append(got, ev.EventID)
		}
		return nil
	})
	publishAll(t, b, evs)
	waitDrained(t, b, c.Durable)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want := make([]string, len(evs))
	for i, ev := range evs {
		want[i] = ev.EventID
	}
	if !slices.Equal(got, want) {
		t.Errorf("consumed %d events, not the %d published in their order", len(got), len(want))
	}
	var decoded string
	data, _ := json.Marshal("bad \xff\xfe utf-8")
	if err := json.Unmarshal(data, &decoded); err != nil || evs[7].ToolName != decoded {
		t.Errorf("tool name %q, want %q as decoding the stream gives it", evs[7].ToolName, decoded)
	}
	if backlog, err := b.Backlog(ctx, c.Durable); err != nil || backlog != (bus.Backlog{}) {
		t.Errorf("Backlog after WaitDrained: %+v, %v; want none", backlog, err)
	}
	if s := b.Stats(); s.Published != uint64(len(evs)) || s.Consumed != uint64(len(evs)) || s.FailedBatches != 1 || s.PublishedMessages != 0 {
		t.Errorf("stats %+v: want every event published and consumed, one failed batch, no stream message", s)
	}
}
