package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/capture/logtap"
	"github.com/mcpwatch/mcpwatch/decode"
)

// tapInput is a proxy log read by capture/logtap: FORMAT:FILE, FILE "-"
// being standard input.
type tapInput struct {
	format logtap.Format
	path   string
}

// formatAuto is the --tap format told from the file's content.
const formatAuto = "auto"

// parseTap parses a --tap value, FORMAT:FILE; FORMAT auto is left empty
// for openTap to fill in.
func parseTap(spec string) (tapInput, error) {
	format, path, ok := strings.Cut(spec, ":")
	if !ok || path == "" {
		return tapInput{}, fmt.Errorf("--tap %q: want FORMAT:FILE with FORMAT one of %s", spec, formatList())
	}
	if format == formatAuto {
		return tapInput{path: path}, nil
	}
	for _, f := range logtap.Formats() {
		if string(f) == format {
			return tapInput{format: f, path: path}, nil
		}
	}
	return tapInput{}, fmt.Errorf("--tap %q: unknown format %q, want one of %s", spec, format, formatList())
}

func formatList() string {
	names := []string{formatAuto}
	for _, f := range logtap.Formats() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// openTap checks the log can be read now, so a typo fails before any
// server starts, and tells its format from its first record: the format
// of an auto input, or a usage error when the given format is plainly
// another (a HAR file read as an access log would be all bad records).
// The reader opens the file again itself.
func openTap(spec string, follow bool) (input, error) {
	tap, err := parseTap(spec)
	if err != nil {
		return input{}, err
	}
	if tap.path == "-" {
		switch {
		case follow:
			return input{}, errors.New("--tap-follow needs files: standard input cannot be followed")
		case tap.format == "":
			return input{}, errors.New("--tap auto:-: standard input cannot be sniffed; give its format")
		}
	} else {
		f, err := os.Open(tap.path)
		if err != nil {
			return input{}, fmt.Errorf("open log tap: %w", err)
		}
		sniffed, strong, known := logtap.Sniff(f)
		f.Close()
		switch {
		case tap.format == "" && !known:
			return input{}, fmt.Errorf("%s: cannot tell its log format (not JSON?); give one of %s", tap.path, formatList())
		case tap.format == "":
			tap.format = sniffed
		case strong && sniffed != tap.format:
			return input{}, fmt.Errorf("%s is a %s log, not %s: give --format %s (or auto)", tap.path, sniffed, tap.format, sniffed)
		}
	}
	return input{name: "tap:" + string(tap.format) + ":" + filepath.Base(tap.path), tap: &tap}, nil
}

// tapRun is what reading one proxy log gave.
type tapRun struct {
	stats logtap.Stats
	// firstBad is the first record skipped, "file:line: why".
	firstBad string
}

// senseTap feeds one proxy log to the decoder. Following a file, the
// checkpoint is written only after the bus acknowledged what was read, so a
// restart resumes without loss or duplicates. Its counters are in metrics
// (stage logtap) while it reads.
func senseTap(ctx context.Context, cfg Config, in input, h capture.Handler, pub bus.Publisher, metrics *tapStats, faults *faultTally) (tapRun, error) {
	lcfg := cfg.Tap
	lcfg.Format = in.tap.format
	bad := &badRecordLog{log: cfg.Log, input: in.name, dumpDir: cfg.FailureDumps.Dir, faults: faults}
	lcfg.OnBadRecord = bad.record
	defer bad.close()
	var run tapRun
	var stats func() logtap.Stats
	var err error
	switch {
	case cfg.TapFollow && in.tap.path != "-":
		lcfg.Flush = pub.Flush
		if err := os.MkdirAll(cfg.TapCheckpointDir, 0o755); err != nil {
			return run, fmt.Errorf("checkpoint dir: %w", err)
		}
		abs, err := filepath.Abs(in.tap.path)
		if err != nil {
			return run, err
		}
		checkpoint := filepath.Join(cfg.TapCheckpointDir, strings.ReplaceAll(strings.Trim(abs, "/"), "/", "_")+".checkpoint")
		f := logtap.NewFollower(lcfg, in.tap.path, checkpoint)
		stats = f.Stats
		done := metrics.reading(stats)
		err = f.Run(ctx, h)
		done()
	default:
		src, name := io.Reader(os.Stdin), "-"
		if in.tap.path != "-" {
			f, err := os.Open(in.tap.path)
			if err != nil {
				return run, fmt.Errorf("open log tap: %w", err)
			}
			defer f.Close()
			src, name = f, in.tap.path
		}
		r := logtap.NewReader(lcfg, name, src)
		stats = r.Stats
		done := metrics.reading(stats)
		err = r.Run(ctx, h)
		done()
	}
	run.stats, run.firstBad = stats(), bad.first
	return run, err
}

// tapStats sums the counters of every log tap input: those being read and
// those done. Readers' Stats may be read from any goroutine.
type tapStats struct {
	mu   sync.Mutex
	done logtap.Stats
	live map[int]func() logtap.Stats
	next int
}

// reading adds a reader's counters; the returned func moves them to the
// finished ones.
func (t *tapStats) reading(stats func() logtap.Stats) (done func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live == nil {
		t.live = map[int]func() logtap.Stats{}
	}
	k := t.next
	t.next++
	t.live[k] = stats
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.live, k)
		t.done = t.done.Add(stats())
	}
}

// load is the sum, for metrics; nil until a tap is read.
func (t *tapStats) load() any {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live == nil {
		return (*logtap.Stats)(nil) // not reported yet: no metrics rather than zeros
	}
	sum := t.done
	for _, s := range t.live {
		sum = sum.Add(s())
	}
	return &sum
}

// badRecordLog logs the records a tap skips: the first badLogBurst each
// with its file:line, then at most one line per badLogEvery with how many
// more were skipped and the latest, and at the end what was left unsaid.
// A log that is all junk thus costs a few lines, not one per record.
//
// With dumpDir set, a record whose reading panicked is written there as
// record-INPUT-LINE.log, the reproducer of a contained fault.
type badRecordLog struct {
	log        *slog.Logger
	input      string
	dumpDir    string
	faults     *faultTally
	first      string
	n          int
	suppressed int
	dumps      int
	last       logtap.BadRecord
	lastLine   time.Time
}

const (
	badLogBurst = 10
	badLogEvery = 10 * time.Second
)

func (b *badRecordLog) record(br logtap.BadRecord) {
	if br.Panicked && b.dumpDir != "" && len(br.Record) > 0 {
		b.dump(br)
	}
	b.n++
	if b.first == "" {
		b.first = br.String()
	}
	if b.n <= badLogBurst {
		b.log.Warn("bad log record skipped", "input", b.input, "at", br.String())
		return
	}
	b.suppressed++
	b.last = br
	if time.Since(b.lastLine) >= badLogEvery {
		b.flush()
	}
}

func (b *badRecordLog) flush() {
	if b.suppressed == 0 {
		return
	}
	b.log.Warn("more bad log records skipped", "input", b.input, "count", b.suppressed, "latest", b.last.String())
	b.suppressed, b.lastLine = 0, time.Now()
}

func (b *badRecordLog) close() { b.flush() }

// tapClock advances the decoder's clock by log time, as the packet engine
// does by packet time, so that idle sessions end. Every exchange logtap
// hands on has a time: its record's, or one logtap filled in.
type tapClock struct {
	*decode.Decoder
	last time.Time
}

func (c *tapClock) Request(req *capture.Request) {
	if req.Time.Sub(c.last) >= time.Second {
		c.last = req.Time
		c.Decoder.Tick(req.Time)
	}
	c.Decoder.Request(req)
}

// dump writes a record that panicked, at most maxRecordDumps per input.
func (b *badRecordLog) dump(br logtap.BadRecord) {
	if b.dumps >= maxRecordDumps {
		return
	}
	b.dumps++
	name := fmt.Sprintf("record-%s-%d.log", strings.Map(safeFileRune, filepath.Base(br.Name)), br.Line)
	path := filepath.Join(b.dumpDir, name)
	err := os.MkdirAll(b.dumpDir, 0o755)
	if err == nil {
		err = os.WriteFile(path, br.Record, 0o600)
	}
	if err != nil {
		b.log.Warn("cannot write the record that panicked", "input", b.input, "at", br.String(), "err", err)
		return
	}
	b.faults.addDump(path)
}

// maxRecordDumps bounds the records one tap input dumps.
const maxRecordDumps = 100

// safeFileRune keeps a file name to letters, digits, '.', '-' and '_'.
func safeFileRune(r rune) rune {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
		return r
	}
	return '_'
}
