package bus_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/event"
)

// Publishing every event twice stores each once: the second copy carries the
// same Nats-Msg-Id and falls inside the duplicate window. The second pass
// runs from several goroutines, as several capture workers would.
func TestPublishTwiceStoresOnce(t *testing.T) {
	forEachServer(t, func(t *testing.T, url string) {
		r := newRun(t)
		b := connect(t, url, func(c *bus.Config) { c.PublishAsyncMax = 16 })
		evs := r.events(300)

		publishAll(t, b, evs)
		var wg sync.WaitGroup
		for part := range slices.Chunk(evs, 75) {
			wg.Go(func() {
				for _, ev := range part {
					if err := b.PublishEvent(context.Background(), ev); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := b.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}

		st := b.Stats()
		if st.Published != 600 || st.Duplicates != 300 || st.PublishFailed != 0 || st.InFlight != 0 {
			t.Errorf("stats after publishing 300 events twice: %+v, want 600 published, 300 duplicates", st)
		}

		rec := &recorder{run: r}
		consumeAll(t, b, bus.ConsumerConfig{Durable: r.durable("all"), StartAt: r.start}, rec)
		if d := diffIDs(rec.sorted(), ids(evs)); d != "" {
			t.Error(d)
		}
	})
}

func TestPublishAlert(t *testing.T) {
	forEachServer(t, func(t *testing.T, url string) {
		r := newRun(t)
		b := connect(t, url)
		ctx := context.Background()
		var want []string
		for i, sev := range event.Severities {
			a := &event.Alert{
				Schema: event.SchemaVersion, AlertID: event.NewID(r.name, sev), RuleID: "unexpected-server",
				RuleName: "Unexpected MCP server", Severity: sev, Category: "unexpected_server",
				Summary: "server not on the allowlist", ClientAddress: r.name, Count: int64(i),
			}
			if err := b.PublishAlert(ctx, a); err != nil {
				t.Fatal(err)
			}
			if sev == event.SeverityHigh || sev == event.SeverityCritical {
				want = append(want, a.AlertID)
			}
		}
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}

		// A filter on severities sees only those alerts.
		var got []string
		c := bus.ConsumerConfig{Durable: r.durable("high"), StartAt: r.start, FilterSubjects: bus.AlertSubjects(event.SeverityHigh, event.SeverityCritical)}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- b.ConsumeAlerts(cctx, c, func(_ context.Context, as []*event.Alert) error {
				for _, a := range as {
					if a.ClientAddress == r.name {
						got = append(got, a.AlertID)
					}
				}
				return nil
			})
		}()
		waitDrained(t, b, c.Durable)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if d := diffIDs(got, want); d != "" {
			t.Error(d)
		}
	})
}

// An event that fails validation is refused before it reaches NATS.
func TestPublishRejectsInvalid(t *testing.T) {
	b := connect(t, startEmbedded(t))
	ev := newRun(t).events(1)[0]
	ev.Kind = "bogus.kind"
	if err := b.PublishEvent(context.Background(), ev); err == nil {
		t.Fatal("publishing an event of an unknown kind succeeded")
	}
	if st := b.Stats(); st.InFlight != 0 || st.Published != 0 {
		t.Errorf("stats after a refused publish: %+v", st)
	}
}
