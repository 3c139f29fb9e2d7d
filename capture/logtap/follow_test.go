package logtap

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
)

// countingHandler counts each request it is handed, by target.
type countingHandler struct {
	mu    sync.Mutex
	seen  map[string]int
	total int
}

func (c *countingHandler) Request(r *capture.Request) {
	c.mu.Lock()
	c.seen[r.Target]++
	c.total++
	c.mu.Unlock()
}
func (*countingHandler) Response(*capture.Request, *capture.Response)                    {}
func (*countingHandler) SSEEvent(*capture.Request, *capture.Response, *capture.SSEEvent) {}
func (*countingHandler) ResponseEnd(*capture.Request, *capture.Response)                 {}
func (*countingHandler) ConnEnd(*capture.Conn, *capture.ConnEnd)                         {}

func (c *countingHandler) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// logWriter appends Envoy-style access-log lines, numbered, 10ms of
// log time apart.
type logWriter struct {
	t    *testing.T
	path string
	n    int
	base time.Time
	// skew, when set, shifts record n's start time: a record logged
	// after another may have started before it.
	skew func(n int) time.Duration
}

func (w *logWriter) append(k int) {
	w.t.Helper()
	f, err := os.OpenFile(w.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	for range k {
		start := w.base.Add(time.Duration(w.n) * 10 * time.Millisecond)
		if w.skew != nil {
			start = start.Add(w.skew(w.n))
		}
		line, _ := json.Marshal(map[string]any{
			"start_time": start.Format(time.RFC3339Nano),
			"method":     "POST", "path": fmt.Sprintf("/mcp?n=%d", w.n), "status": 200,
			"authority": "mcp.example:443", "client": "10.1.0.7:5000", "duration": 3,
		})
		if _, err := f.Write(append(line, '\n')); err != nil {
			w.t.Fatal(err)
		}
		w.n++
	}
}

// waitFor polls until cond holds; the deadline only bounds a hung test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Append, rotate and truncate a file while it is followed; stop the
// follower, append and rotate while it is down, start it again: every
// record is handed on exactly once.
func TestFollowExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	path, cpPath := filepath.Join(dir, "access.log"), filepath.Join(dir, "access.checkpoint")
	w := &logWriter{t: t, path: path, base: time.Date(2026, 7, 28, 9, 0, 0, 0, time.UTC)}
	h := &countingHandler{seen: map[string]int{}}
	// Log time runs 10ms per record, so most records pass the reorder
	// window as the next arrives; the last waits for the window of quiet.
	cfg := Config{Format: FormatAccessLog, PollInterval: time.Millisecond, CheckpointEvery: 3, ReorderWindow: 25 * time.Millisecond,
		OnBadRecord: func(b BadRecord) { t.Errorf("bad record %s", b) }}

	start := func() (*Follower, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		f := NewFollower(cfg, path, cpPath)
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx, h) }()
		return f, func() {
			cancel()
			if err := <-done; err != context.Canceled {
				t.Errorf("Run ended with %v, want context.Canceled", err)
			}
		}
	}

	w.append(5)
	f, stop := start()
	waitFor(t, "first records", func() bool { return h.count() == 5 })
	w.append(4)
	waitFor(t, "appended records", func() bool { return h.count() == 9 })

	// Rotation: rename, then the writer appends a last line to the old
	// file (it still has it open) and starts a new one.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	w.path = path + ".1"
	w.append(1)
	w.path = path
	w.append(3)
	waitFor(t, "rotated records", func() bool { return h.count() == 13 })
	if f.Stats().Rotations != 1 {
		t.Errorf("rotations %d, want 1", f.Stats().Rotations)
	}

	// copytruncate: the file is emptied in place; once the follower has
	// noticed, the writer goes on from the start.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "truncation", func() bool { return f.Stats().Truncations == 1 })
	w.append(2)
	waitFor(t, "records after truncation", func() bool { return h.count() == 15 })
	stop()

	// While it is down: more records, and another rotation.
	w.append(2)
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	w.append(3)

	f, stop = start()
	waitFor(t, "records written while down", func() bool { return h.count() == 20 })
	w.append(1)
	waitFor(t, "records after restart", func() bool { return h.count() == 21 })
	stop()

	if h.total != w.n {
		t.Errorf("handed on %d records, wrote %d", h.total, w.n)
	}
	for i := range w.n {
		if n := h.seen[fmt.Sprintf("/mcp?n=%d", i)]; n != 1 {
			t.Errorf("record %d handed on %d times", i, n)
		}
	}
	if st := f.Stats(); st.BadRecords != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A checkpoint written while exchanges are held for reordering lies
// before them, and lists the records after it that were already handed
// on. A follower killed right after such a checkpoint, restarted from it,
// hands on exactly what the first had not.
func TestFollowResumeSkipsHandedOn(t *testing.T) {
	dir := t.TempDir()
	path, cpPath := filepath.Join(dir, "access.log"), filepath.Join(dir, "access.checkpoint")
	// Odd records started 15ms before the even record logged ahead of
	// them: each is handed on before its predecessor in the file.
	w := &logWriter{t: t, path: path, base: time.Date(2026, 7, 28, 9, 0, 0, 0, time.UTC),
		skew: func(n int) time.Duration { return -time.Duration(n%2) * 15 * time.Millisecond }}
	w.append(10)

	first := &countingHandler{seen: map[string]int{}}
	var snapshot map[string]int // what the first follower had handed on at checkpoint 2
	var killedAt []byte         // checkpoint 2, as a kill right after it leaves it
	flushes := 0
	cfg := Config{Format: FormatAccessLog, PollInterval: time.Millisecond, CheckpointEvery: 3, ReorderWindow: 25 * time.Millisecond}
	cfg.Flush = func(context.Context) error {
		flushes++
		switch flushes {
		case 2:
			first.mu.Lock()
			snapshot = maps.Clone(first.seen)
			first.mu.Unlock()
		case 3:
			killedAt, _ = os.ReadFile(cpPath)
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewFollower(cfg, path, cpPath).Run(ctx, first) }()
	waitFor(t, "first follower", func() bool { return first.count() == 10 })
	cancel()
	<-done
	var cp checkpoint
	if err := json.Unmarshal(killedAt, &cp); err != nil {
		t.Fatal(err)
	}
	if len(cp.Skip) == 0 {
		t.Fatalf("checkpoint 2 %s lists no records handed on past it: nothing was held", killedAt)
	}

	if err := os.WriteFile(cpPath, killedAt, 0o644); err != nil {
		t.Fatal(err)
	}
	second := &countingHandler{seen: map[string]int{}}
	cfg.Flush = nil
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- NewFollower(cfg, path, cpPath).Run(ctx, second) }()
	waitFor(t, "second follower", func() bool { return len(snapshot)+second.count() >= 10 })
	cancel()
	<-done
	for i := range 10 {
		k := fmt.Sprintf("/mcp?n=%d", i)
		if n := snapshot[k] + second.seen[k]; n != 1 {
			t.Errorf("record %d handed on %d times (before the kill %d, after %d)", i, n, snapshot[k], second.seen[k])
		}
	}
}
