package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// fakeWriter stores rows in memory. It fails the first `failures` writes with
// a transient error and refuses, with ErrBadData, any write that contains a
// poisoned id — the behaviour of ClickHouse.WriteEvents.
type fakeWriter struct {
	mu       sync.Mutex
	failures int
	poison   map[string]bool
	batches  [][]string
	stored   map[string]int
	dead     []*DeadLetter
}

func newFakeWriter(failures int, poison ...string) *fakeWriter {
	f := &fakeWriter{failures: failures, poison: map[string]bool{}, stored: map[string]int{}}
	for _, id := range poison {
		f.poison[id] = true
	}
	return f
}

func (f *fakeWriter) write(ids []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures != 0 {
		f.failures--
		return errors.New("dial tcp 127.0.0.1:9000: connect: connection refused")
	}
	for _, id := range ids {
		if f.poison[id] {
			return fmt.Errorf("row %s: %w", id, ErrBadData)
		}
	}
	f.batches = append(f.batches, ids)
	for _, id := range ids {
		f.stored[id]++
	}
	return nil
}

func (f *fakeWriter) WriteEvents(_ context.Context, evs []*event.Event) error {
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.EventID
	}
	return f.write(ids)
}

func (f *fakeWriter) WriteAlerts(_ context.Context, as []*event.Alert) error {
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.AlertID
	}
	return f.write(ids)
}

func (f *fakeWriter) WriteDeadLetters(_ context.Context, dls []*DeadLetter) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead = append(f.dead, dls...)
	return nil
}

func (f *fakeWriter) Close() error { return nil }

func (f *fakeWriter) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var sizes []int
	for _, b := range f.batches {
		sizes = append(sizes, len(b))
	}
	return sizes
}

// manyEvents returns n message events with distinct ids.
func manyEvents(n int) []*event.Event {
	evs := make([]*event.Event, n)
	t0 := time.Date(2026, 7, 28, 12, 0, 0, 0, time.UTC)
	for i := range evs {
		e := *sampleEvents(0)[0]
		e.EventID = event.NewID("many", fmt.Sprint(i))
		e.TS = t0.Add(time.Duration(i) * time.Microsecond)
		e.JSONRPCID = fmt.Sprint(i)
		evs[i] = &e
	}
	return evs
}

func newTestBatchWriter(t *testing.T, ctx context.Context, w Writer, dead DeadLetterWriter, cfg BatchConfig) *BatchWriter {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = time.Millisecond, 4*time.Millisecond
	}
	b, err := NewBatchWriter(ctx, w, dead, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBatchWriterFlushesBySize(t *testing.T) {
	f := newFakeWriter(0)
	// A deadline that never comes during the test: only size may flush.
	b := newTestBatchWriter(t, context.Background(), f, f, BatchConfig{MaxRows: 3, MaxDelay: time.Hour})
	done := make(chan string, 7)
	for _, e := range manyEvents(7) {
		if err := b.AddEvent(context.Background(), e, func() { done <- e.EventID }); err != nil {
			t.Fatal(err)
		}
	}
	for range 6 {
		<-done
	}
	if got := f.batchSizes(); !slices.Equal(got, []int{3, 3}) {
		t.Errorf("batches before Close: %v, want [3 3]", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	if got := f.batchSizes(); !slices.Equal(got, []int{3, 3, 1}) {
		t.Errorf("batches after Close: %v, want [3 3 1]", got)
	}
	if err := b.AddEvent(context.Background(), manyEvents(1)[0], nil); !errors.Is(err, ErrClosed) {
		t.Errorf("AddEvent after Close = %v, want ErrClosed", err)
	}
}

// The rows of one WriteEvents call, a consumer's batch, go into one batch
// however many they are: splitting them would only make more, smaller
// inserts.
func TestBatchWriterKeepsAWriteInOneBatch(t *testing.T) {
	f := newFakeWriter(0)
	b := newTestBatchWriter(t, context.Background(), f, f, BatchConfig{MaxRows: 3, MaxDelay: time.Hour})
	defer b.Close()
	if err := b.WriteEvents(context.Background(), manyEvents(7)); err != nil {
		t.Fatal(err)
	}
	if got := f.batchSizes(); !slices.Equal(got, []int{7}) {
		t.Errorf("batches: %v, want [7]", got)
	}
}

// gatedWriter holds every write until the test releases it, reporting each
// one as it starts.
type gatedWriter struct {
	*fakeWriter
	started chan int
	release chan struct{}
}

func (g *gatedWriter) WriteEvents(ctx context.Context, evs []*event.Event) error {
	g.started <- len(evs)
	<-g.release
	return g.fakeWriter.WriteEvents(ctx, evs)
}

// MaxInFlight batches are written at once, and no more: the next one waits
// for a write to end.
func TestBatchWriterWritesMaxInFlightBatchesAtOnce(t *testing.T) {
	g := &gatedWriter{fakeWriter: newFakeWriter(0), started: make(chan int, 10), release: make(chan struct{})}
	b := newTestBatchWriter(t, context.Background(), g, g, BatchConfig{MaxRows: 2, MaxDelay: time.Hour, MaxInFlight: 2})
	for _, e := range manyEvents(6) {
		if err := b.AddEvent(context.Background(), e, nil); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if n := <-g.started; n != 2 {
			t.Errorf("write of %d rows, want 2", n)
		}
	}
	select {
	case n := <-g.started:
		t.Errorf("a third write (%d rows) started while two were in flight", n)
	case <-time.After(50 * time.Millisecond):
	}
	close(g.release)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := g.batchSizes(); !slices.Equal(got, []int{2, 2, 2}) {
		t.Errorf("batches: %v, want [2 2 2]", got)
	}
}

func TestBatchWriterFlushesByDeadline(t *testing.T) {
	f := newFakeWriter(0)
	b := newTestBatchWriter(t, context.Background(), f, f, BatchConfig{MaxRows: 1000, MaxDelay: 5 * time.Millisecond})
	defer b.Close()
	// Two rows never fill a batch of 1000: only the deadline can store them.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.WriteEvents(ctx, manyEvents(2)); err != nil {
		t.Fatal(err)
	}
	if got := f.batchSizes(); !slices.Equal(got, []int{2}) {
		t.Errorf("batches: %v, want [2]", got)
	}
}

func TestBatchWriterRetriesTransientFailures(t *testing.T) {
	f := newFakeWriter(3)
	b := newTestBatchWriter(t, context.Background(), f, f, BatchConfig{MaxRows: 10, MaxDelay: time.Millisecond})
	defer b.Close()
	evs := manyEvents(10)
	if err := b.WriteEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAlerts(context.Background(), sampleAlerts(0)); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if f.stored[e.EventID] != 1 {
			t.Errorf("event %s stored %d times", e.EventID, f.stored[e.EventID])
		}
	}
	st := b.Stats()
	if st.Retries != 3 || st.EventsWritten != 10 || st.AlertsWritten != 2 || st.DeadLetters != 0 {
		t.Errorf("stats %+v: want 3 retries, 10 events, 2 alerts, no dead letters", st)
	}
}

func TestBatchWriterDeadLettersPoisonRows(t *testing.T) {
	evs := manyEvents(16)
	poison := []string{evs[3].EventID, evs[11].EventID}
	f := newFakeWriter(0, poison...)
	b := newTestBatchWriter(t, context.Background(), f, f, BatchConfig{MaxRows: 16, MaxDelay: time.Hour})
	if err := b.WriteEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		want := 1
		if slices.Contains(poison, e.EventID) {
			want = 0
		}
		if f.stored[e.EventID] != want {
			t.Errorf("event %s stored %d times, want %d", e.EventID, f.stored[e.EventID], want)
		}
	}
	var deadIDs []string
	for _, d := range f.dead {
		deadIDs = append(deadIDs, d.ID)
		back, err := event.DecodeEvent(d.Payload)
		if err != nil {
			t.Errorf("dead letter %s payload: %v", d.ID, err)
		} else if back.EventID != d.ID || d.Kind != string(event.KindMessage) || d.Error == "" {
			t.Errorf("dead letter %+v does not describe event %s", d, back.EventID)
		}
	}
	slices.Sort(deadIDs)
	slices.Sort(poison)
	if !slices.Equal(deadIDs, poison) {
		t.Errorf("dead letters %v, want %v", deadIDs, poison)
	}
	if st := b.Stats(); st.DeadLetters != 2 || st.EventsWritten != 14 {
		t.Errorf("stats %+v: want 2 dead letters, 14 events", st)
	}
}

func TestBatchWriterCancelledLeavesRowsUnacknowledged(t *testing.T) {
	f := newFakeWriter(-1) // fails for ever: the destination never comes back
	ctx, cancel := context.WithCancel(context.Background())
	b := newTestBatchWriter(t, ctx, f, f, BatchConfig{MaxRows: 2, MaxDelay: time.Hour})
	var calls atomic.Int32
	for _, e := range manyEvents(2) {
		if err := b.AddEvent(context.Background(), e, func() { calls.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := b.Close(); !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v, want context.Canceled", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d rows acknowledged without being stored", n)
	}
	if len(f.batchSizes()) != 0 {
		t.Errorf("fake stored %v", f.batchSizes())
	}
}

// A poison event among good ones, through the real server: the good rows are
// stored, the poison row is in dead_letters.
func TestBatchWriterClickHouseDeadLetters(t *testing.T) {
	c := openTestClickHouse(t)
	evs := manyEvents(20)
	evs[7].TS = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC) // beyond DateTime
	b := newTestBatchWriter(t, context.Background(), c, c, BatchConfig{MaxRows: 20, MaxDelay: time.Hour})
	if err := b.WriteEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	db := quoteIdent(c.Database())
	if n := queryUint64(t, c, "SELECT uniqExact(event_id) FROM "+db+".messages"); n != 19 {
		t.Errorf("%d messages stored, want 19", n)
	}
	var id, kind, payload string
	if err := c.conn.QueryRow(context.Background(), "SELECT id, kind, payload FROM "+db+".dead_letters FINAL").Scan(&id, &kind, &payload); err != nil {
		t.Fatal(err)
	}
	if id != evs[7].EventID || kind != "message" {
		t.Errorf("dead letter %s (%s), want %s (message)", id, kind, evs[7].EventID)
	}
	if _, err := event.DecodeEvent([]byte(payload)); err != nil {
		t.Errorf("dead letter payload: %v", err)
	}
}
