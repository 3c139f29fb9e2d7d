package logtap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
)

// Follower reads a growing log file like `tail -F`: records appended to it,
// across rotation (the file renamed away and a new one created) and
// truncation (copytruncate), with a checkpoint so that a restart resumes
// where the last run left off.
//
// The checkpoint (JSON, replaced atomically: temp file, fsync, rename) holds
// the file's identity (device, inode and a checksum of its first bytes),
// the offset and line to resume from, the file generation, and the offsets
// of records already handed on beyond that point (held back by reordering
// or an unfinished streamed trace), which a restart skips. It is written
// only after the records before it were handed to the Handler and
// Config.Flush returned, every CheckpointEvery records, whenever the
// Follower catches up with the writer, and when it stops. Stopped by its
// context, a Follower therefore loses and repeats nothing; killed, it
// repeats at most the records since the last checkpoint.
//
// On restart, if the file at the path is no longer the checkpointed one, the
// Follower looks for it among the rotated siblings (path.*, path-*) by
// identity, reads what was appended to it before the rotation, then starts
// the new file from its beginning.
type Follower struct {
	path, checkpoint string
	st               *state
	orig             Config
}

// NewFollower returns a Follower of path that keeps its checkpoint in
// checkpointPath. cfg is checked by Run.
func NewFollower(cfg Config, path, checkpointPath string) *Follower {
	return &Follower{path: path, checkpoint: checkpointPath, st: newState(cfg.withDefaults(), cfg), orig: cfg}
}

// Follow runs a Follower until ctx is done.
func Follow(ctx context.Context, path, checkpointPath string, cfg Config, h capture.Handler) error {
	return NewFollower(cfg, path, checkpointPath).Run(ctx, h)
}

// Stats returns a snapshot of the counters; it may be called while Run is
// going.
func (f *Follower) Stats() Stats { return f.st.stats.snapshot() }

// checkpoint is the file Follower keeps.
type checkpoint struct {
	Path   string  `json:"path"`
	Dev    uint64  `json:"dev"`
	Ino    uint64  `json:"ino"`
	Head   uint32  `json:"head_crc32"` // of the first HeadLen bytes
	HeadN  int64   `json:"head_len"`
	Offset int64   `json:"offset"`
	Line   int     `json:"line"`
	Gen    uint64  `json:"gen"`
	Skip   []int64 `json:"skip,omitempty"`
}

// headLen is how much of a file's beginning identifies it beside its inode:
// an inode reused for a new file, or a file rewritten in place, has other
// first bytes.
const headLen = 1024

// tailFile is the file being followed.
type tailFile struct {
	f   *os.File
	id  fileID
	pos position // just past the last record read
	// rotated is set for a rotated file found by its checkpoint after a
	// restart: it is read to its end, then the current file follows.
	rotated bool
}

// Run follows the file until ctx is done (it then returns ctx's error after
// a last checkpoint) or reading or checkpointing fails. A missing file is
// waited for.
func (f *Follower) Run(ctx context.Context, h capture.Handler) error {
	if err := f.orig.Validate(); err != nil {
		return err
	}
	if f.orig.Format == FormatHAR {
		return errors.New("logtap: a HAR file is one JSON document, rewritten whole: it cannot be followed")
	}
	st := f.st
	st.h = h
	st.delivered = []int64{}
	cur, err := f.resume(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if cur != nil {
			cur.f.Close()
		}
	}()
	for {
		// A followed file grows: a record without a time gets the
		// file's modification time when it is read, not when the file
		// was opened.
		tf := cur.f
		st.clock.newFile(func() (time.Time, bool) { return modTime(tf) })
		t := &tailer{fo: f, cur: cur, ctx: ctx, off: cur.pos.off}
		err := st.read(ctx, f.path, t, cur.pos, t.recordDone)
		if err == nil && t.next == nil && !cur.rotated {
			err = errors.New("log ended unexpectedly") // a tailer ends only by switching files
		}
		if err != nil {
			st.drain()
			if cerr := f.save(context.WithoutCancel(ctx), cur); cerr != nil && ctx.Err() == nil {
				return cerr
			}
			st.endAll(capture.ConnEndInputEnd)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		// The file was rotated away or truncated and all of it read:
		// hand on what is held, since nothing of it comes back.
		st.drain()
		next := t.next
		if next == nil { // a rotated file drained after a restart
			if next, err = f.open(ctx); err != nil {
				return err
			}
		}
		if next.f != cur.f {
			cur.f.Close()
		}
		cur = next
		st.gen++
		st.delivered, st.skip = st.delivered[:0], nil
		if err := f.save(ctx, cur); err != nil {
			return err
		}
	}
}

// resume opens the file the checkpoint names, or the file at the path.
func (f *Follower) resume(ctx context.Context) (*tailFile, error) {
	b, err := os.ReadFile(f.checkpoint)
	if errors.Is(err, os.ErrNotExist) {
		return f.open(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint %q: %w", f.checkpoint, err)
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint %q: %w", f.checkpoint, err)
	}
	f.st.gen = cp.Gen
	candidates := []string{f.path}
	for _, pat := range []string{f.path + ".*", f.path + "-*"} {
		m, _ := filepath.Glob(pat)
		candidates = append(candidates, m...)
	}
	for i, p := range candidates {
		tf, err := openTail(p)
		if err != nil {
			continue
		}
		if tf.id == (fileID{cp.Dev, cp.Ino}) && tf.headMatches(cp) && tf.size() >= cp.Offset {
			if _, err := tf.f.Seek(cp.Offset, io.SeekStart); err != nil {
				tf.f.Close()
				return nil, fmt.Errorf("seek %q to checkpoint: %w", p, err)
			}
			tf.pos = position{line: cp.Line, off: cp.Offset}
			f.st.skip = map[int64]bool{}
			for _, o := range cp.Skip {
				f.st.skip[o] = true
			}
			if i > 0 {
				tf.rotated = true // drain it, then the current file
			}
			return tf, nil
		}
		tf.f.Close()
	}
	// The checkpointed file is gone: start the current one afresh.
	f.st.gen = cp.Gen + 1
	return f.open(ctx)
}

// open waits for the file at the path to exist and opens it.
func (f *Follower) open(ctx context.Context) (*tailFile, error) {
	for {
		tf, err := openTail(f.path)
		if err == nil {
			tf.pos = position{line: 1}
			return tf, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if err := sleep(ctx, f.st.cfg.PollInterval); err != nil {
			return nil, err
		}
	}
}

func openTail(path string) (*tailFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open log %q: %w", path, err)
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("stat log %q: %w", path, err)
	}
	return &tailFile{f: fh, id: identity(fi)}, nil
}

func (t *tailFile) size() int64 {
	fi, err := t.f.Stat()
	if err != nil {
		return -1
	}
	return fi.Size()
}

// headSum checksums the first n bytes.
func (t *tailFile) headSum(n int64) (uint32, int64) {
	b := make([]byte, n)
	m, _ := t.f.ReadAt(b, 0)
	return crc32.ChecksumIEEE(b[:m]), int64(m)
}

func (t *tailFile) headMatches(cp checkpoint) bool {
	sum, n := t.headSum(cp.HeadN)
	return n == cp.HeadN && sum == cp.Head
}

// save hands what the Handler holds downstream (Config.Flush) and writes
// the checkpoint atomically.
func (f *Follower) save(ctx context.Context, cur *tailFile) error {
	st := f.st
	if st.cfg.Flush != nil {
		if err := st.cfg.Flush(ctx); err != nil {
			return fmt.Errorf("flush before checkpoint: %w", err)
		}
	}
	resume := st.resumeAt(cur.pos)
	head, n := cur.headSum(min(headLen, resume.off))
	cp := checkpoint{Path: f.path, Dev: cur.id.dev, Ino: cur.id.ino, Head: head, HeadN: n, Offset: resume.off, Line: resume.line, Gen: st.gen}
	// Records at or past the resume point that were already handed on.
	kept := st.delivered[:0]
	for _, o := range st.delivered {
		if o >= resume.off {
			kept = append(kept, o)
		}
	}
	st.delivered = kept
	cp.Skip = slices.Clone(kept)
	for o := range st.skip { // skips of the previous run not yet reached
		cp.Skip = append(cp.Skip, o)
	}
	slices.Sort(cp.Skip)
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	return writeAtomic(f.checkpoint, b)
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write checkpoint %q: %w", path, err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write checkpoint %q: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() // make the rename itself durable
		d.Close()
	}
	return nil
}

// tailer is the io.Reader the splitter reads while following one file: at
// the end of the data it waits for more, and it ends (io.EOF) when the file
// has been rotated away and read to its end, or truncated.
type tailer struct {
	fo  *Follower
	cur *tailFile
	ctx context.Context
	off int64 // file offset of the next byte read
	// next is the file to go on with: the new file after a rotation, the
	// same one from its start after a truncation.
	next *tailFile
	// rotating is set once the path names another file: the old one is
	// read to its end once more (the writer may have appended to it
	// between our last read and the rename) before switching.
	rotating *tailFile
	pending  int // records handed on since the last checkpoint
	// idleSince is when the writer was last caught up with and nothing
	// new came since; zero while data flows.
	idleSince time.Time
}

func (t *tailer) Read(p []byte) (int, error) {
	fo, st := t.fo, t.fo.st
	for {
		n, err := t.cur.f.Read(p)
		if n > 0 {
			t.off += int64(n)
			t.idleSince = time.Time{}
			return n, nil
		}
		if err != nil && err != io.EOF {
			return 0, fmt.Errorf("read log %q: %w", fo.path, err)
		}
		// Caught up with the writer. Exchanges held for reordering go
		// on once the log has been quiet for the reorder window (an
		// exchange that started earlier may still be logged until then);
		// the checkpoint covers what is still held.
		if t.idleSince.IsZero() {
			t.idleSince = time.Now()
		}
		if time.Since(t.idleSince) >= st.cfg.ReorderWindow && st.reorder.items.Len() > 0 {
			st.drain()
			t.pending++
		}
		if t.pending > 0 {
			if err := fo.save(t.ctx, t.cur); err != nil {
				return 0, err
			}
			t.pending = 0
		}
		// A switch of file hands on all that is held (Run drains) before
		// the checkpoint moves to the next generation.
		switch {
		case t.rotating != nil:
			st.stats.rotations.Add(1)
			t.next = t.rotating
			t.next.pos = position{line: 1}
			return 0, io.EOF
		case t.cur.rotated:
			return 0, io.EOF
		}
		if size := t.cur.size(); size >= 0 && size < t.off {
			st.stats.truncations.Add(1)
			if _, err := t.cur.f.Seek(0, io.SeekStart); err != nil {
				return 0, fmt.Errorf("seek truncated log %q: %w", fo.path, err)
			}
			again := *t.cur
			again.pos = position{line: 1}
			t.next = &again
			return 0, io.EOF
		}
		if nf, err := openTail(fo.path); err == nil {
			if nf.id != t.cur.id {
				t.rotating = nf
				continue // read the old file to its end once more
			}
			nf.f.Close()
		}
		if err := sleep(t.ctx, st.cfg.PollInterval); err != nil {
			return 0, err
		}
	}
}

// recordDone is called after each record with the position past it.
func (t *tailer) recordDone(p position) error {
	t.cur.pos = p
	t.pending++
	if t.pending >= t.fo.st.cfg.CheckpointEvery {
		t.pending = 0
		return t.fo.save(t.ctx, t.cur)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
