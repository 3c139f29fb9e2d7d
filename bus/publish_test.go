package bus_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/event"
)

// Publishing the same events twice stores each once: they fill the same
// messages (sent when full or at Flush; the linger is longer than the
// test), which carry the same Nats-Msg-Id and fall inside the duplicate
// window.
func TestPublishTwiceStoresOnce(t *testing.T) {
	forEachServer(t, func(t *testing.T, url string) {
		r := newRun(t)
		b := connect(t, url, func(c *bus.Config) { c.PublishAsyncMax = 16; c.PublishLinger = time.Second })
		evs := bySubject(r.events(300))

		publishAll(t, b, evs)
		publishAll(t, b, evs)

		st := b.Stats()
		if st.Published != 600 || st.Duplicates != 300 || st.PublishFailed != 0 || st.InFlight != 0 {
			t.Errorf("stats after publishing 300 events twice: %+v, want 600 published, 300 duplicates", st)
		}
		if st.PublishedMessages >= 300 {
			t.Errorf("300 events in runs of one subject twice took %d messages, want them to share messages", st.PublishedMessages)
		}

		rec := &recorder{run: r}
		consumeAll(t, b, bus.ConsumerConfig{Durable: r.durable("all"), StartAt: r.start}, rec)
		if d := diffIDs(rec.sorted(), ids(evs)); d != "" {
			t.Error(d)
		}
	})
}

// Several goroutines publishing at once (a log tap and a capture input of
// one sensor); every event arrives, and each once in a first pass. A second pass fills messages
// differently, so the stream may keep copies: consumers deduplicate by
// event_id.
func TestConcurrentPublishers(t *testing.T) {
	forEachServer(t, func(t *testing.T, url string) {
		r := newRun(t)
		b := connect(t, url)
		evs := bySubject(r.events(400))
		publishConcurrently := func() {
			var wg sync.WaitGroup
			for part := range slices.Chunk(evs, 100) {
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
		}

		publishConcurrently()
		rec := &recorder{run: r}
		stop := consumeAll(t, b, bus.ConsumerConfig{Durable: r.durable("first"), StartAt: r.start}, rec)
		if d := diffIDs(rec.sorted(), ids(evs)); d != "" {
			t.Error(d)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}

		publishConcurrently()
		rec = &recorder{run: r}
		consumeAll(t, b, bus.ConsumerConfig{Durable: r.durable("second"), StartAt: r.start}, rec)
		if d := diffIDs(slices.Compact(rec.sorted()), ids(evs)); d != "" {
			t.Error(d)
		}
		if st := b.Stats(); st.Published != 800 || st.PublishFailed != 0 {
			t.Errorf("stats after 800 publishes of 400 events: %+v, want 800 published", st)
		}
	})
}

// An event nobody joins is sent after PublishLinger, without a Flush.
func TestLingeringEventIsSent(t *testing.T) {
	r := newRun(t)
	b := connect(t, startEmbedded(t), func(c *bus.Config) { c.PublishLinger = 50 * time.Millisecond })
	ev := r.events(1)[0]
	if err := b.PublishEvent(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{run: r}
	consumeAll(t, b, bus.ConsumerConfig{Durable: r.durable("linger"), StartAt: r.start, MaxWait: 100 * time.Millisecond}, rec)
	for deadline := time.Now().Add(30 * time.Second); len(rec.sorted()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the lingering event did not arrive in 30s")
		}
	}
	if d := diffIDs(rec.sorted(), []string{ev.EventID}); d != "" {
		t.Error(d)
	}
	if st := b.Stats(); st.Published != 1 || st.PublishedMessages != 1 {
		t.Errorf("stats: %+v, want the event published without Flush", st)
	}
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

// Only consecutive events of one subject share a message, so the stream
// holds the events in the order they were published, across subjects.
func TestPublishKeepsOrderAcrossSubjects(t *testing.T) {
	r := newRun(t)
	b := connect(t, startEmbedded(t))
	evs := r.events(200) // kinds and servers interleaved
	publishAll(t, b, evs)
	rec := &recorder{run: r}
	consumeAll(t, b, bus.ConsumerConfig{Durable: r.durable("order"), StartAt: r.start}, rec)
	if got, want := rec.inOrder(), idsInOrder(evs); !slices.Equal(got, want) {
		t.Errorf("events arrived in another order than published:\n got %v\nwant %v", got, want)
	}
	sorted := bySubject(r.events(200))
	before := b.Stats().PublishedMessages
	publishAll(t, b, sorted)
	if n := b.Stats().PublishedMessages - before; n >= 100 {
		t.Errorf("200 events in runs of one subject took %d messages", n)
	}
}

// bySubject orders events so that those of one subject follow each other.
func bySubject(evs []*event.Event) []*event.Event {
	slices.SortStableFunc(evs, func(a, b *event.Event) int {
		return strings.Compare(bus.Subject(a, bus.DefaultPartitions), bus.Subject(b, bus.DefaultPartitions))
	})
	return evs
}

func idsInOrder(evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.EventID
	}
	return out
}
