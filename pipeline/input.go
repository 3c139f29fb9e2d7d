package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/decode"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/counters"
)

// input is one opened packet source.
type input struct {
	// name is the event envelope's source: pcap:<file> or iface:<name>.
	name string
	// path is the capture file, for progress; empty for an interface.
	path string
	src  capture.Source
	// tap is set, and src nil, for a proxy log.
	tap *tapInput
}

// openInputs opens every capture file and interface, so that a typo fails
// before any server starts (a UsageError).
func openInputs(cfg Config) ([]input, error) {
	var out []input
	fail := func(err error) ([]input, error) {
		closeInputs(out)
		return nil, usageError(err)
	}
	for _, p := range cfg.Pcaps {
		src, err := openPcap(p, cfg.BPF)
		if err != nil {
			return fail(err)
		}
		out = append(out, input{name: "pcap:" + filepath.Base(p), path: p, src: src})
	}
	for _, iface := range cfg.Ifaces {
		src, err := openLive(iface, cfg)
		if err != nil {
			return fail(err)
		}
		out = append(out, input{name: "iface:" + iface, src: src})
	}
	for _, spec := range cfg.Taps {
		in, err := openTap(spec, cfg.TapFollow)
		if err != nil {
			return fail(err)
		}
		out = append(out, in)
	}
	// Every capture socket is open: what opening them took (CAP_NET_RAW)
	// goes, for the rest of the run. A sensor parsing hostile traffic
	// keeps no privilege it does not use.
	if len(cfg.Ifaces) > 0 {
		if err := capture.DropCaptureCapabilities(); err != nil {
			return fail(fmt.Errorf("after opening %v: %w", cfg.Ifaces, err))
		}
	}
	return out, nil
}

// openPcap reads a capture file in pure Go, or through libpcap when a BPF
// expression is given.
func openPcap(path, bpf string) (capture.Source, error) {
	if bpf != "" {
		return capture.OpenLibpcapFile(path, bpf)
	}
	return capture.OpenPcap(path)
}

// openLive captures with AF_PACKET, or through libpcap when a BPF
// expression is given.
func openLive(iface string, cfg Config) (capture.Source, error) {
	var src capture.Source
	var err error
	if cfg.BPF != "" {
		src, err = capture.OpenLibpcapLive(iface, cfg.BPF)
	} else {
		src, err = capture.OpenLive(iface, cfg.Live)
	}
	if errors.Is(err, syscall.EPERM) {
		return nil, fmt.Errorf("%w: capturing needs CAP_NET_RAW: run as root, or once: sudo setcap cap_net_raw+ep %s", err, executable())
	}
	return src, err
}

// executable is this program's path, for a command line to copy.
func executable() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "mcpwatch"
}

func closeInputs(ins []input) {
	for _, in := range ins {
		if in.src != nil {
			in.src.Close()
		}
	}
}

// live reports whether the input runs until stopped rather than to its end.
func (in input) live(cfg Config) bool {
	return in.src != nil && in.path == "" || in.tap != nil && cfg.TapFollow
}

// senseAll reads the capture files and logs one after the other while
// every interface and followed log is read in its own goroutine, and
// returns when the files are done and the live inputs stopped (ctx ended).
func senseAll(ctx context.Context, cfg Config, tokenKey []byte, ins []input, pub bus.Publisher, stages *stageStats) (*Summary, error) {
	summary := &Summary{}
	faults := newFaultTally(cfg.Log)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(ins))
	for i, in := range ins {
		if !in.live(cfg) {
			continue
		}
		wg.Go(func() { errs[i] = sense(ctx, cfg, tokenKey, in, pub, summary, &mu, stages, faults) })
	}
	for i, in := range ins {
		if in.live(cfg) || ctx.Err() != nil {
			continue
		}
		errs[i] = sense(ctx, cfg, tokenKey, in, pub, summary, &mu, stages, faults)
		if errs[i] != nil {
			break
		}
	}
	wg.Wait()
	faults.fill(summary)
	return summary, errors.Join(errs...)
}

// sense reads one input through capture and decode and publishes every
// event; summary is updated under mu. A panic in a decoder callback or in
// decoding a frame is contained (capture.Contain, capture.Config.Fault)
// and reported to faults.
func sense(ctx context.Context, cfg Config, tokenKey []byte, in input, pub bus.Publisher, summary *Summary, mu *sync.Mutex, stages *stageStats, faults *faultTally) error {
	// Publishing must outlive a stop of the reading (Ctrl-C): what was
	// read is still delivered.
	pubCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	dcfg := cfg.Decode
	dcfg.Sensor = cfg.Sensor
	dcfg.Source = in.name
	dcfg.TokenKey = tokenKey
	emit := func(ev *event.Event) {
		// A data dir short of space pauses the reading here (Run only).
		if err := cfg.gate.wait(ctx); err != nil {
			cancel(err)
			return
		}
		if err := pub.PublishEvent(pubCtx, ev); err != nil {
			cancel(fmt.Errorf("publish event: %w", err))
		}
	}
	if in.tap != nil {
		dec, err := decode.New(dcfg, emit)
		if err != nil {
			return err
		}
		h := capture.Contain(&tapClock{Decoder: dec}, faults.tapReporter(in.name, cfg.FailureDumps.Dir))
		run, err := senseTap(ctx, cfg, in, h, pub, &stages.logtap, faults)
		h.Finish(time.Time{})
		mu.Lock()
		defer mu.Unlock()
		summary.addTap(in.name, run, in.live(cfg))
		if cause := context.Cause(pubCtx); cause != nil && !errors.Is(cause, context.Canceled) {
			return cause
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("read %s: %w", in.name, err)
		}
		return nil
	}
	// With several shards, their events are put back into the input's
	// order before they are published.
	var shards *capture.Shards
	var order *inputOrder
	shardEmit := func(k int) func(*event.Event) {
		if cfg.CaptureShards == 1 {
			return emit
		}
		return func(ev *event.Event) { order.add(k, shards.Stamp(k), ev) }
	}
	src := in.src
	var dumper *capture.FaultDumper
	if cfg.FailureDumps.Dir != "" {
		var err error
		dumps := cfg.FailureDumps
		dumps.Keep = cfg.Capture.Keeps
		if dumper, err = capture.NewFaultDumper(in.src, dumps); err != nil {
			return err
		}
		src = dumper
	}
	report := faults.reporter(in.name, dumper)
	decs, err := newShardDecoders(cfg.CaptureShards, dcfg, shardEmit, report, cfg.wrapHandler)
	if err != nil {
		return err
	}
	shards, err = capture.NewShards(cfg.CaptureShards, cfg.Capture, func(k int, c *capture.Config) capture.Handler {
		c.Tick = decs.tick(k)
		c.Fault = report
		return decs.handlers[k]
	})
	if err != nil {
		return err
	}
	shards.Live = in.live(cfg)
	if cfg.CaptureShards > 1 {
		order = newInputOrder(cfg.CaptureShards, emit)
		shards.Progress = order.progress
	}
	progress := newProgress(cfg.Log, in)
	// The hook runs on the goroutine that reads the source, which may read
	// the kernel's counters; the shards' and decoders' are snapshots.
	live, _ := in.src.(capture.KernelCounted)
	metered := &meteredSource{Source: src, every: time.Second, hook: func() {
		st := shards.Stats()
		progress.report(st)
		stages.capture.store(st)
		stages.decode.store(decs.tickedStats())
		if dumper != nil {
			stages.dump.store(dumper.Stats())
		}
		if live != nil {
			if ks, err := live.KernelStats(); err == nil {
				stages.kernel.store(ks)
			}
		}
	}}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go func() { // a failed publish stops the reading too
		select {
		case <-pubCtx.Done():
			stopRun()
		case <-runCtx.Done():
		}
	}()
	runErr := shards.Run(runCtx, metered)
	shards.Finish()
	stages.decode.store(decs.finish(shards.Now()))
	if order != nil {
		order.flush()
	}
	stats := shards.Stats()
	stages.capture.store(stats)
	if dumper != nil {
		stages.dump.store(dumper.Stats())
	}

	mu.Lock()
	defer mu.Unlock()
	summary.Packets += int64(stats.Packets)
	summary.Flows += int64(stats.FlowsCreated)
	if cause := context.Cause(pubCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	captured := CaptureSummary{Input: in.path, Stats: stats}
	if rs, ok := in.src.(interface{ ReadStats() capture.ReadStats }); ok {
		read := rs.ReadStats()
		captured.Read = &read
		summary.addReadStats(cfg.Log, in.path, read)
	}
	summary.Captures = append(summary.Captures, captured)
	switch {
	case errors.Is(runErr, capture.ErrTruncated):
		// As a damaged record: what came before was read (exit status 3).
		cfg.Log.Warn("truncated capture", "file", in.path, "err", runErr)
		summary.DamagedInputs = append(summary.DamagedInputs, fmt.Sprintf("%s: %v (everything before was read)", in.path, runErr))
	case runErr != nil && !errors.Is(runErr, context.Canceled):
		// What was read before the failure is delivered and the next
		// inputs are read; the summary names the file (exit status 1).
		cfg.Log.Error("reading a capture failed part way", "file", in.path, "err", runErr)
		summary.FailedInputs = append(summary.FailedInputs, fmt.Sprintf("read %s: %v", in.name, runErr))
	}
	return nil
}

// shardDecoders are the decoders of one input's capture shards: decoder k
// is called only from shard k's goroutine (Run) and, once the shards are
// done, from the caller's (Finish), always through handlers[k], which
// contains its panics.
type shardDecoders struct {
	decs     []*decode.Decoder
	handlers []*capture.Contained
	// ticked holds each decoder's Stats as of its shard's last tick, for
	// readers on other goroutines.
	ticked []snapshot[decode.Stats]
}

// newShardDecoders builds n decoders from cfg, each behind a
// capture.Contain that reports its faults. Like the capture caps,
// MaxSessions bounds the whole input: each decoder gets its share, rounded
// up. wrap, if set, stands between a decoder and its containment.
func newShardDecoders(n int, cfg decode.Config, emit func(shard int) func(*event.Event), report func(capture.Fault), wrap func(int, *decode.Decoder) capture.Handler) (*shardDecoders, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.MaxSessions = (cfg.MaxSessions + n - 1) / n
	d := &shardDecoders{ticked: make([]snapshot[decode.Stats], n)}
	for k := range n {
		dec, err := decode.New(cfg, emit(k))
		if err != nil {
			return nil, err
		}
		var h capture.Handler = dec
		if wrap != nil {
			h = wrap(k, dec)
		}
		d.decs = append(d.decs, dec)
		d.handlers = append(d.handlers, capture.Contain(h, report))
	}
	return d, nil
}

// tick is shard k's capture tick: decoder k expires idle sessions, then
// its counters are taken for the metrics.
func (d *shardDecoders) tick(k int) func(time.Time) {
	return func(now time.Time) {
		d.handlers[k].Tick(now)
		d.ticked[k].store(d.decs[k].Stats())
	}
}

// tickedStats sums the decoders' counters as of their last ticks.
func (d *shardDecoders) tickedStats() decode.Stats {
	var sum decode.Stats
	for k := range d.ticked {
		if st := d.ticked[k].p.Load(); st != nil {
			counters.Add(&sum, *st)
		}
	}
	return sum
}

// finish ends the sessions still open in every decoder at now, the end of
// the input, and returns their summed counters.
func (d *shardDecoders) finish(now time.Time) decode.Stats {
	var sum decode.Stats
	for k, dec := range d.decs {
		d.handlers[k].Finish(now)
		counters.Add(&sum, dec.Stats())
	}
	return sum
}
