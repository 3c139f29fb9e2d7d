package logtap

import (
	"context"
	"encoding/json"
	"fmt"
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

// logWriter appends Envoy-style access-log lines, numbered, a second of
// log time apart.
type logWriter struct {
	t    *testing.T
	path string
	n    int
	base time.Time
}

func (w *logWriter) append(k int) {
	w.t.Helper()
	f, err := os.OpenFile(w.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	for range k {
		line, _ := json.Marshal(map[string]any{
			"start_time": w.base.Add(time.Duration(w.n) * time.Second).Format(time.RFC3339Nano),
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
	cfg := Config{Format: FormatAccessLog, PollInterval: time.Millisecond, CheckpointEvery: 3,
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
