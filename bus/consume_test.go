package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/event"
)

// A handler that fails once gets the same batch again; every event is
// committed exactly once.
func TestHandlerErrorRedelivers(t *testing.T) {
	forEachServer(t, func(t *testing.T, url string) {
		r := newRun(t)
		b := connect(t, url)
		evs := r.events(200)
		publishAll(t, b, evs)

		rec := &recorder{run: r}
		var failed atomic.Bool
		var mu sync.Mutex
		var refused []string
		c := bus.ConsumerConfig{Durable: r.durable("retry"), StartAt: r.start, BatchSize: 50}
		consumer(t, b, c, func(_ context.Context, evs []*event.Event) error {
			if !failed.Load() {
				mu.Lock()
				defer mu.Unlock()
				for _, ev := range evs {
					if ev.Sensor == r.name {
						refused = append(refused, ev.EventID)
					}
				}
				if len(refused) > 0 {
					failed.Store(true)
					return errors.New("downstream unavailable")
				}
			}
			rec.add(evs)
			return nil
		})
		waitDrained(t, b, c.Durable)

		got := rec.sorted()
		if d := diffIDs(got, ids(evs)); d != "" {
			t.Error(d)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(refused) == 0 {
			t.Fatal("the handler never failed")
		}
		for _, id := range refused {
			if _, found := slices.BinarySearch(got, id); !found {
				t.Errorf("event %s of the failed batch was not redelivered", id)
			}
		}
		if st := b.Stats(); st.FailedBatches != 1 || st.Consumed < uint64(len(evs)) {
			t.Errorf("stats: %+v, want 1 failed batch and ≥ %d consumed", st, len(evs))
		}
	})
}

// Two processes sharing a durable split its messages: together they see
// every message once.
func TestSharedDurableSplitsWork(t *testing.T) {
	forEachServer(t, func(t *testing.T, url string) {
		r := newRun(t)
		c := bus.ConsumerConfig{Durable: r.durable("shared"), StartAt: r.start, BatchSize: 10, MaxWait: 100 * time.Millisecond}
		recs := []*recorder{{run: r}, {run: r}}
		for _, rec := range recs {
			b := connect(t, url)
			consumer(t, b, c, func(_ context.Context, evs []*event.Event) error {
				rec.add(evs)
				// Hold the batch a little, as a real write would, so the
				// other process gets to fetch too.
				time.Sleep(5 * time.Millisecond)
				return nil
			})
		}
		pub := connect(t, url)
		evs := r.events(400)
		publishAll(t, pub, evs)
		waitDrained(t, pub, c.Durable)

		a, b := recs[0].sorted(), recs[1].sorted()
		if d := diffIDs(append(a, b...), ids(evs)); d != "" {
			t.Error(d)
		}
		if len(a) == 0 || len(b) == 0 {
			t.Errorf("work not shared: %d and %d events", len(a), len(b))
		}
	})
}

// A process killed (SIGKILL) while it holds a batch loses nothing: the server
// redelivers the unacked messages to the process sharing the durable.
func TestKilledConsumerRedeliversToOther(t *testing.T) {
	forEachServer(t, func(t *testing.T, url string) {
		r := newRun(t)
		c := bus.ConsumerConfig{Durable: r.durable("failover"), StartAt: r.start, BatchSize: 25, AckWait: time.Second}
		evs := r.events(200)

		victim, held := startVictim(t, victimSpec{URL: url, Run: r.name, Consumer: c})
		publishAll(t, connect(t, url), evs)
		var heldIDs []string
		select {
		case heldIDs = <-held:
		case <-time.After(30 * time.Second):
			t.Fatal("the victim process got no batch in 30s")
		}

		survivor := connect(t, url)
		rec := &recorder{run: r}
		consumer(t, survivor, c, func(_ context.Context, evs []*event.Event) error {
			rec.add(evs)
			return nil
		})
		if err := victim.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		victim.Wait() // killed: its exit status is the signal
		waitDrained(t, survivor, c.Durable)

		got := rec.sorted()
		if d := diffIDs(got, ids(evs)); d != "" {
			t.Error(d)
		}
		for _, id := range heldIDs {
			if _, found := slices.BinarySearch(got, id); !found {
				t.Errorf("event %s held by the killed process was not redelivered", id)
			}
		}
	})
}

// A consumer whose process was killed while it held a batch is resumed by
// its successor at its ack floor: the held messages are delivered at once,
// not after their ack wait (an hour here), and nothing is lost.
func TestResumeConsumerAfterKill(t *testing.T) {
	forEachServer(t, func(t *testing.T, url string) {
		r := newRun(t)
		c := bus.ConsumerConfig{Durable: r.durable("resume"), StartAt: r.start, BatchSize: 25, AckWait: time.Hour}
		evs := r.events(200)
		victim, held := startVictim(t, victimSpec{URL: url, Run: r.name, Consumer: c})
		publishAll(t, connect(t, url), evs)
		select {
		case <-held:
		case <-time.After(30 * time.Second):
			t.Fatal("the victim process got no batch in 30s")
		}
		if err := victim.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		victim.Wait()

		successor := connect(t, url)
		due, err := successor.ResumeConsumer(context.Background(), bus.EventsStream, c)
		if err != nil || due == 0 {
			t.Fatalf("resume: %d messages due, %v", due, err)
		}
		rec := &recorder{run: r}
		consumeAll(t, successor, c, rec)
		if d := diffIDs(rec.sorted(), ids(evs)); d != "" {
			t.Error(d)
		}
		if due, err := successor.ResumeConsumer(context.Background(), bus.EventsStream, bus.ConsumerConfig{Durable: r.durable("never-made")}); err != nil || due != 0 {
			t.Errorf("resume of a consumer that does not exist: %d due, %v; want 0, nil", due, err)
		}
	})
}

// Garbage and events that fail validation are skipped and counted, a
// message with nothing else is terminated; the events around them, in their
// message or others, arrive and the consumer drains.
func TestMalformedTerminated(t *testing.T) {
	forEachServer(t, func(t *testing.T, url string) {
		r := newRun(t)
		b := connect(t, url)
		evs := r.events(40)
		publishAll(t, b, evs[:20])

		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		good, err := json.Marshal(evs[20])
		if err != nil {
			t.Fatal(err)
		}
		for i, data := range []string{
			`not json at all`,
			`{"schema":2,"event_id":"x","kind":"message","ts":"2026-07-28T12:00:00Z"}`,
			"",
			"{\"truncated\n" + string(good),
		} {
			msg := &nats.Msg{Subject: "mcpwatch.events.message.3", Data: []byte(data), Header: nats.Header{}}
			msg.Header.Set("Nats-Msg-Id", r.name+"-bad-"+string(rune('a'+i)))
			if _, err := nc.RequestMsg(msg, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		publishAll(t, b, evs[21:])

		rec := &recorder{run: r}
		c := bus.ConsumerConfig{Durable: r.durable("malformed"), StartAt: r.start, BatchSize: 7}
		consumeAll(t, b, c, rec)
		if d := diffIDs(rec.sorted(), ids(evs)); d != "" {
			t.Error(d)
		}
		if got := b.Stats().Malformed; got != 4 {
			t.Errorf("malformed = %d, want 4", got)
		}
	})
}

// WaitDrained does not return while a batch is unacked, waits for a durable
// that does not exist yet, and returns once everything is acked.
func TestWaitDrained(t *testing.T) {
	forEachServer(t, func(t *testing.T, url string) {
		r := newRun(t)
		b := connect(t, url)
		evs := r.events(50)
		publishAll(t, b, evs)
		c := bus.ConsumerConfig{Durable: r.durable("drain"), StartAt: r.start}

		short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if err := b.WaitDrained(short, c.Durable); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitDrained on a durable that does not exist: %v, want deadline exceeded", err)
		}
		if _, err := b.Backlog(context.Background(), c.Durable); !errors.Is(err, bus.ErrNoConsumer) {
			t.Fatalf("Backlog of a durable that does not exist: %v, want ErrNoConsumer", err)
		}

		release := make(chan struct{})
		var once sync.Once
		entered := make(chan struct{})
		rec := &recorder{run: r}
		consumer(t, b, c, func(ctx context.Context, evs []*event.Event) error {
			once.Do(func() { close(entered) })
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			rec.add(evs)
			return nil
		})
		<-entered
		short, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if err := b.WaitDrained(short, c.Durable); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitDrained with a batch in the handler: %v, want deadline exceeded", err)
		}
		if backlog, err := b.Backlog(context.Background(), c.Durable); err != nil || backlog.Unacked == 0 {
			t.Fatalf("Backlog with a batch in the handler: %+v, %v; want unacked messages", backlog, err)
		}
		close(release)
		waitDrained(t, b, c.Durable)
		if backlog, err := b.Backlog(context.Background(), c.Durable); err != nil || backlog != (bus.Backlog{}) {
			t.Errorf("Backlog after WaitDrained: %+v, %v; want none", backlog, err)
		}
		if d := diffIDs(rec.sorted(), ids(evs)); d != "" {
			t.Error(d)
		}
	})
}

// Detect replicas owning partitions: each sees exactly the events of the
// servers in its partitions, and together all events.
func TestPartitionOwnership(t *testing.T) {
	forEachServer(t, func(t *testing.T, url string) {
		r := newRun(t)
		const partitions, replicas = 16, 3
		pub := connect(t, url)
		evs := r.events(300)
		publishAll(t, pub, evs)

		var all []string
		for replica := range replicas {
			owned, err := bus.OwnedPartitions(partitions, replica, replicas)
			if err != nil {
				t.Fatal(err)
			}
			var want []*event.Event
			for _, ev := range evs {
				if slices.Contains(owned, bus.Partition(ev.ServerKey, partitions)) {
					want = append(want, ev)
				}
			}
			if len(want) == 0 {
				t.Fatalf("replica %d owns partitions %v, which hold none of the test's servers", replica, owned)
			}
			b := connect(t, url)
			rec := &recorder{run: r}
			c := bus.ConsumerConfig{Durable: r.durable("detect-" + string(rune('0'+replica))), StartAt: r.start, FilterSubjects: bus.EventSubjects(nil, owned)}
			consumeAll(t, b, c, rec)
			got := rec.sorted()
			if d := diffIDs(got, ids(want)); d != "" {
				t.Errorf("replica %d (partitions %v): %s", replica, owned, d)
			}
			all = append(all, got...)
		}
		if d := diffIDs(all, ids(evs)); d != "" {
			t.Errorf("all replicas: %s", d)
		}
	})
}

// StartAt skips what the stream held before; a restart with a later StartAt
// keeps the durable's position instead of failing or skipping more.
func TestStartAt(t *testing.T) {
	r := newRun(t)
	b := connect(t, startEmbedded(t))
	evs := r.events(30)
	publishAll(t, b, evs[:10])
	start := time.Now()
	publishAll(t, b, evs[10:20])

	rec := &recorder{run: r}
	c := bus.ConsumerConfig{Durable: r.durable("late"), StartAt: start}
	stop := consumeAll(t, b, c, rec)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	publishAll(t, b, evs[20:])
	c.StartAt = time.Now()
	consumeAll(t, b, c, rec)
	if d := diffIDs(rec.sorted(), ids(evs[10:])); d != "" {
		t.Error(d)
	}
}

// A handler slower than AckWait keeps its batch: the consumer tells the
// server the batch is in progress, so the process sharing the durable does
// not get it too.
func TestSlowHandlerKeepsBatch(t *testing.T) {
	forEachServer(t, func(t *testing.T, url string) {
		r := newRun(t)
		c := bus.ConsumerConfig{Durable: r.durable("slow"), StartAt: r.start, BatchSize: 20, AckWait: time.Second}
		evs := r.events(60)
		var slowOnce atomic.Bool
		deliveries := &recorder{run: r} // every delivery, committed or not
		for range 2 {
			b := connect(t, url)
			consumer(t, b, c, func(_ context.Context, evs []*event.Event) error {
				deliveries.add(evs)
				if !slowOnce.Swap(true) {
					time.Sleep(3 * c.AckWait)
				}
				return nil
			})
		}
		pub := connect(t, url)
		publishAll(t, pub, evs)
		waitDrained(t, pub, c.Durable)
		if d := diffIDs(deliveries.sorted(), ids(evs)); d != "" {
			t.Errorf("deliveries: %s", d)
		}
		if !slowOnce.Load() {
			t.Fatal("no handler ran")
		}
	})
}

// Close ends a running consumer with ErrClosed and refuses later publishes.
func TestCloseStopsConsumer(t *testing.T) {
	b := connect(t, startEmbedded(t))
	r := newRun(t)
	c := bus.ConsumerConfig{Durable: r.durable("closing"), MaxWait: 100 * time.Millisecond}
	done := make(chan error, 1)
	go func() {
		done <- b.ConsumeEvents(context.Background(), c, func(context.Context, []*event.Event) error { return nil })
	}()
	waitDrained(t, b, c.Durable) // the consumer exists and has nothing to do

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, bus.ErrClosed) {
			t.Errorf("ConsumeEvents after Close: %v, want ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ConsumeEvents still running 30s after Close")
	}
	if err := b.PublishEvent(context.Background(), r.events(1)[0]); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("PublishEvent after Close: %v, want ErrClosed", err)
	}
}
