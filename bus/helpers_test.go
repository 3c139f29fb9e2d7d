package bus_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/testenv"
)

// forEachServer runs f against an in-process server on a temp dir, against
// the external server in MCPWATCH_TEST_NATS_URL and against a server of
// the oldest release supported (testenv.OldestNATSServer, Debian's 2.9).
// Under CI the external ones are required: a missing one fails rather than
// skips.
//
// The external server may hold other runs' messages, so tests tag their events
// with a unique sensor name, ignore foreign ones and use unique durables.
func forEachServer(t *testing.T, f func(t *testing.T, url string)) {
	t.Run("embedded", func(t *testing.T) {
		f(t, startEmbedded(t))
	})
	t.Run("external", func(t *testing.T) {
		f(t, testenv.NATSURL(t))
	})
	t.Run("oldest", func(t *testing.T) {
		f(t, testenv.StartNATS(t, testenv.OldestNATSServer(t)))
	})
}

func startEmbedded(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := bus.StartEmbeddedListener(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e.ClientURL()
}

func connect(t testing.TB, url string, modify ...func(*bus.Config)) *bus.Bus {
	t.Helper()
	cfg := bus.Config{URL: url, Logger: testLogger(t)}
	for _, m := range modify {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// testLogger logs warnings to the test log, so a failing test shows why.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// run is one test's namespace on a possibly shared server.
type run struct {
	name  string    // sensor name on every event of the run
	start time.Time // before the run published anything
}

func newRun(t *testing.T) run {
	now := time.Now()
	return run{name: "t" + event.NewID(t.Name(), now.String())[:12], start: now}
}

// durable names a durable consumer of this run. Its ConsumerConfig sets
// StartAt: r.start to skip what earlier runs left on a shared server.
func (r run) durable(suffix string) string { return r.name + "-" + suffix }

// events makes n valid events of every kind over several servers.
func (r run) events(n int) []*event.Event {
	ts := time.Date(2026, 7, 28, 12, 0, 0, 0, time.UTC)
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = &event.Event{
			Schema:    event.SchemaVersion,
			EventID:   event.NewID(r.name, fmt.Sprint(i)),
			Kind:      event.Kinds[i%len(event.Kinds)],
			TS:        ts.Add(time.Duration(i) * time.Millisecond),
			Sensor:    r.name,
			Source:    "pcap:test.pcap",
			ServerKey: fmt.Sprintf("http://10.0.0.%d:8080/mcp", i%11),
			Method:    "tools/call",
			ToolName:  "echo",
		}
	}
	return evs
}

func ids(evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.EventID
	}
	slices.Sort(out)
	return out
}

func publishAll(t *testing.T, b *bus.Bus, evs []*event.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ev := range evs {
		if err := b.PublishEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// recorder keeps the event ids a consumer committed (handler returned nil).
type recorder struct {
	run run
	mu  sync.Mutex
	ids []string
}

func (r *recorder) add(evs []*event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range evs {
		if ev.Sensor == r.run.name {
			r.ids = append(r.ids, ev.EventID)
		}
	}
}

// inOrder is the ids in the order they were committed.
func (r *recorder) inOrder() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

func (r *recorder) sorted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(slices.Values(r.ids))
}

// consumer runs ConsumeEvents in the background until the test ends or stop
// is called; stop returns what ConsumeEvents returned.
func consumer(t testing.TB, b *bus.Bus, c bus.ConsumerConfig, handle func(context.Context, []*event.Event) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.ConsumeEvents(ctx, c, handle) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = fmt.Errorf("consumer %s did not return 30s after cancel", c.Durable)
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// consumeAll runs c on b, recording into rec, until c has drained its
// stream; the consumer goes on until stop or the end of the test.
func consumeAll(t testing.TB, b *bus.Bus, c bus.ConsumerConfig, rec *recorder) (stop func() error) {
	t.Helper()
	stop = consumer(t, b, c, func(_ context.Context, evs []*event.Event) error {
		rec.add(evs)
		return nil
	})
	waitDrained(t, b, c.Durable)
	return stop
}

func waitDrained(t testing.TB, b *bus.Bus, durables ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.WaitDrained(ctx, durables...); err != nil {
		t.Fatal(err)
	}
}

// diffIDs describes how got differs from want as sets with multiplicity.
func diffIDs(got, want []string) string {
	count := map[string]int{}
	for _, id := range got {
		count[id]++
	}
	var missing, dup, extra int
	for _, id := range want {
		switch c := count[id]; {
		case c == 0:
			missing++
		case c > 1:
			dup += c - 1
		}
		delete(count, id)
	}
	for _, c := range count {
		extra += c
	}
	if missing == 0 && dup == 0 && extra == 0 {
		return ""
	}
	return fmt.Sprintf("got %d ids for %d events: %d missing, %d duplicated, %d unexpected", len(got), len(want), missing, dup, extra)
}
