package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/decode"
	"github.com/mcpwatch/mcpwatch/event"
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
// before any server starts.
func openInputs(cfg Config) ([]input, error) {
	var out []input
	fail := func(err error) ([]input, error) {
		closeInputs(out)
		return nil, err
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
	if cfg.BPF != "" {
		return capture.OpenLibpcapLive(iface, cfg.BPF)
	}
	return capture.OpenLive(iface, cfg.Live)
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
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(ins))
	for i, in := range ins {
		if !in.live(cfg) {
			continue
		}
		wg.Go(func() { errs[i] = sense(ctx, cfg, tokenKey, in, pub, summary, &mu, stages) })
	}
	for i, in := range ins {
		if in.live(cfg) || ctx.Err() != nil {
			continue
		}
		errs[i] = sense(ctx, cfg, tokenKey, in, pub, summary, &mu, stages)
		if errs[i] != nil {
			break
		}
	}
	wg.Wait()
	return summary, errors.Join(errs...)
}

// sense reads one input through capture and decode and publishes every
// event; summary is updated under mu.
func sense(ctx context.Context, cfg Config, tokenKey []byte, in input, pub bus.Publisher, summary *Summary, mu *sync.Mutex, stages *stageStats) error {
	// Publishing must outlive a stop of the reading (Ctrl-C): what was
	// read is still delivered.
	pubCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	dcfg := cfg.Decode
	dcfg.Sensor = cfg.Sensor
	dcfg.Source = in.name
	dcfg.TokenKey = tokenKey
	dec, err := decode.New(dcfg, func(ev *event.Event) {
		if err := pub.PublishEvent(pubCtx, ev); err != nil {
			cancel(fmt.Errorf("publish event: %w", err))
		}
	})
	if err != nil {
		return err
	}
	if in.tap != nil {
		st, err := senseTap(ctx, cfg, in, dec, pub)
		dec.Finish(time.Time{})
		mu.Lock()
		defer mu.Unlock()
		summary.LogRecords += st.Records
		summary.BadLogRecords += st.BadRecords
		if cause := context.Cause(pubCtx); cause != nil && !errors.Is(cause, context.Canceled) {
			return cause
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("read %s: %w", in.name, err)
		}
		return nil
	}
	ccfg := cfg.Capture
	ccfg.Tick = dec.Tick
	var eng *capture.Engine
	progress := newProgress(cfg.Log, in.path)
	// The engine's goroutine reads the source, so the hook may read the
	// engine's and decoder's stats.
	live, _ := in.src.(*capture.Live)
	metered := &meteredSource{Source: in.src, every: time.Second, hook: func() {
		st := eng.Stats()
		progress.report(st)
		stages.capture.store(st)
		stages.decode.store(dec.Stats())
		if live != nil {
			if ks, err := live.KernelStats(); err == nil {
				stages.kernel.store(ks)
			}
		}
	}}
	eng, err = capture.NewEngine(ccfg, dec)
	if err != nil {
		return err
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go func() { // a failed publish stops the reading too
		select {
		case <-pubCtx.Done():
			stopRun()
		case <-runCtx.Done():
		}
	}()
	runErr := eng.Run(runCtx, metered)
	eng.Finish()
	// The zero time leaves the decoder on its own clock, the last packet it
	// saw, to end the sessions still open.
	dec.Finish(time.Time{})
	stats := eng.Stats()
	stages.capture.store(stats)
	stages.decode.store(dec.Stats())

	mu.Lock()
	defer mu.Unlock()
	summary.Packets += int64(stats.Packets)
	summary.Flows += int64(stats.FlowsCreated)
	if cause := context.Cause(pubCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	switch {
	case errors.Is(runErr, capture.ErrTruncated):
		cfg.Log.Warn("truncated capture", "file", in.path, "err", runErr)
		summary.Warnings = append(summary.Warnings, fmt.Sprintf("%s: %v (processed what was readable)", in.path, runErr))
	case runErr != nil && !errors.Is(runErr, context.Canceled):
		return fmt.Errorf("read %s: %w", in.name, runErr)
	}
	return nil
}
