package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultDataDirReserve is the free space the data dir's file system must
// keep (Config.DataDirReserve): below it the run stops reading its inputs
// until space is freed.
const DefaultDataDirReserve = 64 << 20

// diskGate pauses the producers of a run while the file system of its
// JetStream store is short of space. nats-server's file store treats a
// failed write (ENOSPC) as fatal for the stream until the server restarts,
// so the run must stop writing before the disk is full rather than after;
// the consumers go on, and what they have acked stays in the store until
// the stream's limits drop it. A check is a statfs every interval, not per
// event.
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
}

func newDiskGate(dir string, reserve int64, log *slog.Logger) *diskGate {
	if dir == "" || reserve <= 0 {
		return nil
	}
	return &diskGate{dir: dir, reserve: uint64(reserve), interval: 250 * time.Millisecond, log: log, statfs: freeBytes}
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
	if g == nil || !g.short() {
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
