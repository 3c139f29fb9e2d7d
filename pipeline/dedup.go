package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/segmentio/encoding/json"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/sink"
	"github.com/mcpwatch/mcpwatch/sink/alertfeed"
)

// DefaultDedupWindow is how many event or alert ids each output of `run`
// remembers (Config.DedupWindow): 16 bytes each plus a map's overhead,
// about 100 MiB at the default for the events output.
const DefaultDedupWindow = 2_000_000

// idKey is an event or alert id: the 16 bytes of its 32 hex digits, or a
// SHA-256 prefix of any other id.
type idKey [16]byte

func keyOf(id string) idKey {
	var k idKey
	if len(id) == 32 {
		if _, err := hex.Decode(k[:], []byte(id)); err == nil {
			return k
		}
	}
	sum := sha256.Sum256([]byte(id))
	copy(k[:], sum[:16])
	return k
}

// idSet remembers the latest ids up to its window, in two generations: when
// the current one holds half the window, it becomes the old one and the
// one before is forgotten (counted in forgotten).
type idSet struct {
	window    int
	cur, old  map[idKey]struct{}
	forgotten int64
}

func newIDSet(window int) *idSet {
	return &idSet{window: max(window, 2), cur: map[idKey]struct{}{}}
}

func (s *idSet) has(k idKey) bool {
	if _, ok := s.cur[k]; ok {
		return true
	}
	_, ok := s.old[k]
	return ok
}

func (s *idSet) add(k idKey) {
	if s.has(k) {
		return
	}
	if len(s.cur) >= s.window/2 {
		s.forgotten += int64(len(s.old))
		s.old, s.cur = s.cur, make(map[idKey]struct{}, len(s.cur))
	}
	s.cur[k] = struct{}{}
}

func (s *idSet) len() int { return len(s.cur) + len(s.old) }

// idJournal appends the ids an output wrote to a file in the data dir, 16
// bytes each, so a resumed run knows them. It is rewritten from the set when
// it grows past twice the window.
type idJournal struct {
	path    string
	f       *os.File
	records int
}

func openIDJournal(path string, into *idSet) (*idJournal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dedup journal: %w", err)
	}
	j := &idJournal{path: path, f: f}
	r := bufio.NewReaderSize(f, 1<<16)
	var k idKey
	for {
		if _, err := io.ReadFull(r, k[:]); err != nil {
			break // EOF, or a record torn by a kill: cut below
		}
		into.add(k)
		j.records++
	}
	// A torn last record is dropped: its write had not returned.
	if err := f.Truncate(int64(j.records) * 16); err != nil {
		f.Close()
		return nil, fmt.Errorf("dedup journal %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("dedup journal %s: %w", path, err)
	}
	return j, nil
}

func (j *idJournal) append(keys []idKey, set *idSet) error {
	if j.records+len(keys) > 2*set.window {
		return j.compact(keys, set)
	}
	buf := make([]byte, 0, 16*len(keys))
	for _, k := range keys {
		buf = append(buf, k[:]...)
	}
	if _, err := j.f.Write(buf); err != nil {
		return fmt.Errorf("dedup journal %s: %w", j.path, err)
	}
	j.records += len(keys)
	return nil
}

// compact rewrites the journal as what set remembers (keys are in it).
func (j *idJournal) compact(_ []idKey, set *idSet) error {
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("dedup journal: %w", err)
	}
	w := bufio.NewWriter(f)
	n := 0
	for _, m := range []map[idKey]struct{}{set.old, set.cur} {
		for k := range m {
			w.Write(k[:])
			n++
		}
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("dedup journal %s: %w", j.path, err)
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return fmt.Errorf("dedup journal %s: %w", j.path, err)
	}
	old := j.f
	if j.f, err = os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		j.f = old
		return fmt.Errorf("dedup journal %s: %w", j.path, err)
	}
	old.Close()
	j.records = n
	return nil
}

func (j *idJournal) close() error { return j.f.Close() }

// dedupOutput stands in front of one output and passes on only the events
// (or alerts) it has not written within the dedup window, so a batch
// redelivered after a lost ack, or replayed by a run that resumes a killed
// one, is written once. Ids are remembered after the output confirmed the
// write: in the output file itself for a JSONL file (read back by a
// resumed run), in an id journal in the data dir otherwise (stdout,
// ClickHouse, webhook, syslog), where a kill between the write and the
// journal's append can leave one batch to be written twice.
type dedupOutput struct {
	name    string
	log     *slog.Logger
	mu      sync.Mutex
	seen    *idSet
	journal *idJournal // nil: in memory only, or a JSONL file
	pending []idKey    // written but not yet journaled (a failed append)
	skipped atomic.Int64
}

func (d *dedupOutput) fresh(ids []string) (keep []int, keys []idKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	inBatch := map[idKey]bool{}
	for i, id := range ids {
		k := keyOf(id)
		if d.seen.has(k) || inBatch[k] {
			d.skipped.Add(1)
			continue
		}
		inBatch[k] = true
		keep = append(keep, i)
		keys = append(keys, k)
	}
	return keep, keys
}

// written remembers keys; a journal that cannot be appended to (a full
// disk) keeps them pending for the next batch: this run still skips them.
func (d *dedupOutput) written(keys []idKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range keys {
		d.seen.add(k)
	}
	if d.journal == nil {
		return
	}
	d.pending = append(d.pending, keys...)
	if err := d.journal.append(d.pending, d.seen); err != nil {
		d.log.Warn("dedup journal not written; a resumed run may write this output's latest ids again", "output", d.name, "err", err)
		return
	}
	d.pending = d.pending[:0]
}

func (d *dedupOutput) close() {
	if d.journal != nil {
		d.journal.close()
	}
}

// dedupEvents is a sink.Writer of events behind a dedupOutput.
type dedupEvents struct {
	*dedupOutput
	w sink.Writer
}

func (d *dedupEvents) WriteEvents(ctx context.Context, evs []*event.Event) error {
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.EventID
	}
	keep, keys := d.fresh(ids)
	if len(keep) == 0 {
		return nil
	}
	out := evs
	if len(keep) < len(evs) {
		out = make([]*event.Event, len(keep))
		for i, j := range keep {
			out[i] = evs[j]
		}
	}
	if err := d.w.WriteEvents(ctx, out); err != nil {
		return err
	}
	d.written(keys)
	return nil
}

func (d *dedupEvents) WriteAlerts(ctx context.Context, as []*event.Alert) error {
	return errors.New("dedup: alerts written to an events output")
}

func (d *dedupEvents) Close() error { d.close(); return nil }

// dedupAlerts is an alertfeed.Output behind a dedupOutput.
type dedupAlerts struct {
	*dedupOutput
	w alertfeed.Output
}

func (d *dedupAlerts) WriteAlerts(ctx context.Context, as []*event.Alert) error {
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.AlertID
	}
	keep, keys := d.fresh(ids)
	if len(keep) == 0 {
		return nil
	}
	out := as
	if len(keep) < len(as) {
		out = make([]*event.Alert, len(keep))
		for i, j := range keep {
			out[i] = as[j]
		}
	}
	if err := d.w.WriteAlerts(ctx, out); err != nil {
		return err
	}
	d.written(keys)
	return nil
}

func (d *dedupAlerts) Close() error { d.close(); return nil }

// jsonlFile is a JSONL output file written a batch at a time: a batch
// reaches the file whole or, when the write fails (a full disk), not at
// all, the file cut back to where the batch began; so a file never holds a
// torn line except after a kill in the middle of a write, which
// readIDs cuts off.
type jsonlFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
	off  int64
	// batch holds the lines of the batch being written, encoded by lines;
	// both are reused from batch to batch (under encodeMu).
	encodeMu sync.Mutex
	batch    bytes.Buffer
	lines    *sink.JSONL
}

var _ sink.Writer = (*jsonlFile)(nil)

func openJSONLFile(path string) (*jsonlFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open JSONL output: %w", err)
	}
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open JSONL output %s: %w", path, err)
	}
	return &jsonlFile{path: path, f: f, off: off}, nil
}

func (j *jsonlFile) WriteEvents(ctx context.Context, evs []*event.Event) error {
	return j.writeBatch(func() error { return j.lines.WriteEvents(ctx, evs) })
}

func (j *jsonlFile) WriteAlerts(ctx context.Context, as []*event.Alert) error {
	return j.writeBatch(func() error { return j.lines.WriteAlerts(ctx, as) })
}

// writeBatch writes the lines encode puts into j.batch.
func (j *jsonlFile) writeBatch(encode func() error) error {
	j.encodeMu.Lock()
	defer j.encodeMu.Unlock()
	j.batch.Reset()
	if j.lines == nil {
		j.lines = sink.NewJSONLWriter(j.path, &j.batch)
	}
	if err := encode(); err != nil {
		j.lines = nil // it may hold part of the failed batch
		return err
	}
	return j.write(j.batch.Bytes())
}

func (j *jsonlFile) write(data []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	n, err := j.f.WriteAt(data, j.off)
	if err != nil {
		if terr := j.f.Truncate(j.off); terr != nil {
			err = errors.Join(err, fmt.Errorf("cut back the partial batch: %w", terr))
		}
		return fmt.Errorf("write JSONL to %s: %w", j.path, err)
	}
	j.off += int64(n)
	return nil
}

// readIDs adds the ids of the lines after offset to set and cuts off a
// torn last line (a run killed while writing). field is "event_id" or
// "alert_id". It returns how many ids it read.
func (j *jsonlFile) readIDs(offset int64, field string, set *idSet) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if offset > j.off {
		offset = 0 // the file was replaced or cut since the epoch began
	}
	r := bufio.NewReaderSize(io.NewSectionReader(j.f, offset, j.off-offset), 1<<20)
	pos, n := offset, 0
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			if len(line) > 0 { // torn: no newline
				if terr := j.f.Truncate(pos); terr != nil {
					return n, fmt.Errorf("cut torn line of %s: %w", j.path, terr)
				}
				j.off = pos
			}
			if err == io.EOF {
				return n, nil
			}
			return n, fmt.Errorf("read %s: %w", j.path, err)
		}
		pos += int64(len(line))
		var ids struct {
			EventID string `json:"event_id"`
			AlertID string `json:"alert_id"`
		}
		if json.Unmarshal(line, &ids) != nil {
			continue // not ours
		}
		id := ids.EventID
		if field == "alert_id" {
			id = ids.AlertID
		}
		if id != "" {
			set.add(keyOf(id))
			n++
		}
	}
}

func (j *jsonlFile) Close() error { return j.f.Close() }
