package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
)

// DefaultDataDirReserve is the free space the data dir's file system must
// keep (Config.DataDirReserve): below it the run stops reading its inputs
// until space is freed.
const DefaultDataDirReserve = 64 << 20

// diskGate pauses the producers of a run while the file system of its
// JetStream store is short of space. nats-server shuts JetStream down when
// a write to its store fails (ENOSPC), so the run should stop writing before
// the disk is full rather than after; the consumers go on, and what they
// have acked stays in the store until the stream's limits drop it. A check
// is a statfs every interval, not per event. Should the disk fill anyway
// (no reserve, or a burst between two checks), reviveStore starts the
// embedded server's JetStream again once space is freed.
type diskGate struct {
	dir      string
	reserve  uint64
	interval time.Duration
	log      *slog.Logger
	statfs   func(dir string) (free uint64, err error) // a seam for tests

	mu      sync.Mutex
	checked time.Time
	low     bool

	pauses atomic.Int64
	paused atomic.Int64 // nanoseconds spent paused
	// storeRestarts counts the times JetStream was started again after the
	// server had shut it down.
	storeRestarts atomic.Int64
}

// newDiskGate watches dir's file system; a reserve of 0 or less never
// pauses (reviveStore still works).
func newDiskGate(dir string, reserve int64, log *slog.Logger) *diskGate {
	return &diskGate{dir: dir, reserve: uint64(max(reserve, 0)), interval: 250 * time.Millisecond, log: log, statfs: freeBytes}
}

// minReviveSpace is the least free space on which a stopped JetStream is
// started again.
const minReviveSpace = 32 << 20

// reviveStore watches the embedded server emb until ctx ends. When a write
// to its store failed, it says so, waits until the file system has 1.5 times the reserve free (at least
// minReviveSpace) and starts JetStream again, which recovers the streams and
// consumers from the store; meanwhile publishes and fetches fail and are
// retried, within the bus's outage limit.
func (g *diskGate) reviveStore(ctx context.Context, emb *bus.Embedded) {
	t := time.NewTicker(g.interval)
	defer t.Stop()
	down := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !emb.StoreFailed() {
			continue
		}
		if !down {
			down = true
			g.log.Error("JetStream cannot store: a write to the data dir failed (file system full?); restarting it when space is freed", "dir", g.dir)
		}
		if free, err := g.statfs(g.dir); err != nil || free < max(g.reserve*3/2, minReviveSpace) {
			continue
		}
		if err := emb.Revive(); err != nil {
			g.log.Warn("JetStream not restarted yet", "dir", g.dir, "err", err)
			continue
		}
		down = false
		g.storeRestarts.Add(1)
		g.log.Warn("JetStream restarted: the data dir has space again", "dir", g.dir)
	}
}

func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// wait returns at once while the data dir has its reserve free, and blocks
// while it has not, until it has again or ctx ends.
func (g *diskGate) wait(ctx context.Context) error {
	if g == nil || g.reserve == 0 || !g.short() {
		return nil
	}
	start := time.Now()
	g.pauses.Add(1)
	free, _ := g.statfs(g.dir)
	g.log.Warn("data dir short of space: input paused until space is freed", "dir", g.dir, "free_mib", free>>20, "reserve_mib", g.reserve>>20)
	t := time.NewTicker(g.interval)
	defer t.Stop()
	for g.short() {
		select {
		case <-ctx.Done():
			g.paused.Add(int64(time.Since(start)))
			return fmt.Errorf("paused for space in data dir %s: %w", g.dir, ctx.Err())
		case <-t.C:
		}
	}
	g.paused.Add(int64(time.Since(start)))
	g.log.Info("data dir has space again: input resumed", "dir", g.dir, "paused", time.Since(start).Round(time.Millisecond))
	return nil
}

// short reports whether free space is below the reserve, looking at most
// every interval. Resuming needs 1.5 times the reserve, so the run does not
// flap at the edge.
func (g *diskGate) short() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.checked) < g.interval {
		return g.low
	}
	g.checked = time.Now()
	free, err := g.statfs(g.dir)
	if err != nil {
		return g.low // keep the last verdict; the store reports real errors
	}
	need := g.reserve
	if g.low {
		need += g.reserve / 2
	}
	g.low = free < need
	return g.low
}
