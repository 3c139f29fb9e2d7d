package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/decode"
	"github.com/mcpwatch/mcpwatch/detect"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/rules"
	"github.com/mcpwatch/mcpwatch/sink"
)

// Config is the configuration of a run.
type Config struct {
	// Sensor names this sensor in every event (default: the hostname).
	Sensor string
	// Pcaps are capture files to analyse, in order.
	Pcaps []string
	// Bus configures NATS; an empty URL runs the embedded server.
	Bus bus.Config
	// DataDir holds the embedded server's JetStream store; empty means a
	// temporary directory removed when the run ends.
	DataDir string
	// AllowlistPath is the allowlist of approved servers; empty disables
	// the rules that need one. The file is reloaded when it changes and
	// whenever ReloadAllowlist delivers (SIGHUP).
	AllowlistPath   string
	ReloadAllowlist <-chan os.Signal
	// RulesDir overrides the embedded default rule pack.
	RulesDir string
	// EventsOut and AlertsOut are JSONL destinations ("-" = stdout,
	// empty = none).
	EventsOut, AlertsOut string
	// ClickHouse is used when its Addr is set.
	ClickHouse sink.ClickHouseConfig
	// TokenKeyFile holds the HMAC key for token fingerprints; it is created
	// with a random key when missing, so fingerprints stay stable across runs.
	TokenKeyFile string
	// MetricsAddr serves Prometheus metrics at /metrics when set.
	MetricsAddr string
	Capture     capture.Config
	Decode      decode.Config
	Detect      detect.Config
	Log         *slog.Logger
}

// DefaultConfig returns a configuration with every stage at its defaults
// and no input.
func DefaultConfig() Config {
	return Config{Capture: capture.DefaultConfig(), Detect: detect.DefaultConfig()}
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	if len(c.Pcaps) == 0 {
		return errors.New("nothing to read: give --pcap FILE")
	}
	if c.Sensor == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("sensor name: %w", err)
		}
		c.Sensor = host
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.ClickHouse.Addr != "" {
		if err := c.ClickHouse.Validate(); err != nil {
			return err
		}
	}
	if err := c.Capture.Validate(); err != nil {
		return err
	}
	return c.Detect.Validate()
}

// runFetchWait is how long a consumer of Run waits to fill a batch.
const runFetchWait = time.Second

// Run analyses the configured inputs with every stage in one process and
// returns when every event and alert has reached every writer.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Open inputs and load rules first: a typo should fail before any
	// server starts.
	sources, err := openPcaps(cfg.Pcaps)
	if err != nil {
		return nil, err
	}
	defer closeAll(sources)
	engine, err := newDetectEngine(cfg)
	if err != nil {
		return nil, err
	}
	tokenKey, err := loadTokenKey(cfg.TokenKeyFile)
	if err != nil {
		return nil, err
	}
	eventWriters, alertWriters, closeWriters, err := openWriters(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer closeWriters()

	b, stopBus, err := connectBus(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer stopBus()

	var stages stageStats
	if cfg.MetricsAddr != "" {
		err := serveMetrics(ctx, cfg.MetricsAddr, cfg.Log, map[string]func() any{
			"capture": stages.capture.load,
			"decode":  stages.decode.load,
			"bus":     func() any { return b.Stats() },
			"detect":  func() any { return engine.Stats() },
		})
		if err != nil {
			return nil, err
		}
	}

	if cfg.AllowlistPath != "" {
		go watchAllowlist(ctx, cfg, engine)
	}

	inv := newInventory()
	// Consumers are named per run and start at this run's messages, so an
	// external server's older contents are not replayed.
	started := time.Now()
	runID := event.NewID(cfg.Sensor, started.String())[:12]
	// A short fetch wait bounds the latency each stage adds when traffic
	// trickles; under load batches fill long before it.
	consumer := func(name string) bus.ConsumerConfig {
		return bus.ConsumerConfig{Durable: name + "-" + runID, StartAt: started, MaxWait: runFetchWait}
	}
	storeEvents, detectEvents, storeAlerts := consumer("run-events"), consumer("run-detect"), consumer("run-alerts")

	consumeCtx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	var consumers errgroup.Group
	consumers.Go(func() error {
		return b.ConsumeEvents(consumeCtx, storeEvents, func(ctx context.Context, evs []*event.Event) error {
			if err := writeEvents(ctx, eventWriters, evs); err != nil {
				return err
			}
			inv.addEvents(evs)
			return nil
		})
	})
	consumers.Go(func() error {
		return b.ConsumeEvents(consumeCtx, detectEvents, func(ctx context.Context, evs []*event.Event) error {
			return detectBatch(ctx, engine, b, evs)
		})
	})
	consumers.Go(func() error {
		return b.ConsumeAlerts(consumeCtx, storeAlerts, func(ctx context.Context, as []*event.Alert) error {
			if err := writeAlerts(ctx, alertWriters, as); err != nil {
				return err
			}
			inv.addAlerts(as)
			return nil
		})
	})

	summary := &Summary{}
	for i, src := range sources {
		if err := sense(ctx, cfg, tokenKey, cfg.Pcaps[i], src, b, summary, &stages); err != nil {
			return nil, err
		}
	}
	cfg.Log.Debug("input read", "elapsed", time.Since(started), "packets", summary.Packets)
	if err := b.Flush(ctx); err != nil {
		return nil, fmt.Errorf("publish events: %w", err)
	}
	cfg.Log.Debug("events published", "elapsed", time.Since(started))
	if err := b.WaitDrained(ctx, storeEvents.Durable, detectEvents.Durable); err != nil {
		return nil, fmt.Errorf("deliver events: %w", err)
	}
	cfg.Log.Debug("events delivered", "elapsed", time.Since(started))
	if err := b.WaitDrained(ctx, storeAlerts.Durable); err != nil {
		return nil, fmt.Errorf("deliver alerts: %w", err)
	}
	cfg.Log.Debug("alerts delivered", "elapsed", time.Since(started), "bus", fmt.Sprintf("%+v", b.Stats()))
	stopConsumers()
	if err := consumers.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	inv.fill(summary)
	return summary, nil
}

func openPcaps(paths []string) ([]*capture.PcapFile, error) {
	var out []*capture.PcapFile
	for _, p := range paths {
		src, err := capture.OpenPcap(p)
		if err != nil {
			closeAll(out)
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

func closeAll(srcs []*capture.PcapFile) {
	for _, s := range srcs {
		s.Close()
	}
}

// sense replays one capture file through capture and decode and publishes
// every event.
func sense(ctx context.Context, cfg Config, tokenKey []byte, path string, src *capture.PcapFile, b *bus.Bus, summary *Summary, stages *stageStats) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	dcfg := cfg.Decode
	dcfg.Sensor = cfg.Sensor
	dcfg.Source = "pcap:" + filepath.Base(path)
	dcfg.TokenKey = tokenKey
	dec, err := decode.New(dcfg, func(ev *event.Event) {
		if err := b.PublishEvent(ctx, ev); err != nil {
			cancel(fmt.Errorf("publish event: %w", err))
		}
	})
	if err != nil {
		return err
	}
	ccfg := cfg.Capture
	var eng *capture.Engine
	progress := newProgress(cfg.Log, path)
	ccfg.Tick = dec.Tick
	// The engine's goroutine reads the source, so the hook may read the
	// engine's and decoder's stats.
	metered := &meteredSource{Source: src, every: time.Second, hook: func() {
		st := eng.Stats()
		progress.report(st)
		stages.capture.store(st)
		stages.decode.store(dec.Stats())
	}}
	eng, err = capture.NewEngine(ccfg, dec)
	if err != nil {
		return err
	}
	runErr := eng.Run(ctx, metered)
	eng.Finish()
	// The zero time leaves the decoder on its own clock, the last packet it
	// saw, to end the sessions still open.
	dec.Finish(time.Time{})
	stats := eng.Stats()
	stages.capture.store(stats)
	stages.decode.store(dec.Stats())
	summary.Packets += int64(stats.Packets)
	summary.Flows += int64(stats.FlowsCreated)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	switch {
	case errors.Is(runErr, capture.ErrTruncated):
		warn := fmt.Sprintf("%s: %v (processed what was readable)", path, runErr)
		cfg.Log.Warn("truncated capture", "file", path, "err", runErr)
		summary.Warnings = append(summary.Warnings, warn)
	case runErr != nil:
		return fmt.Errorf("read %s: %w", path, runErr)
	}
	return nil
}

// stageStats holds the latest snapshots of the stages whose Stats may only
// be read on their own goroutine. With several capture files they show the
// file being read.
type stageStats struct {
	capture snapshot[capture.Stats]
	decode  snapshot[decode.Stats]
}

// detectBatch runs a batch of events through the rules and publishes the
// alerts before the batch is acked, so an alert is never lost with its
// evidence already consumed.
func detectBatch(ctx context.Context, engine *detect.Engine, b *bus.Bus, evs []*event.Event) error {
	for _, ev := range evs {
		for _, a := range engine.Process(ev) {
			if err := b.PublishAlert(ctx, a); err != nil {
				return fmt.Errorf("publish alert: %w", err)
			}
		}
	}
	return b.Flush(ctx)
}

func newDetectEngine(cfg Config) (*detect.Engine, error) {
	var rulesFS fs.FS = rules.Default
	if cfg.RulesDir != "" {
		rulesFS = os.DirFS(cfg.RulesDir)
	}
	rs, err := detect.LoadRules(rulesFS)
	if err != nil {
		return nil, err
	}
	var allow *detect.Allowlist
	if cfg.AllowlistPath != "" {
		if allow, err = detect.LoadAllowlist(cfg.AllowlistPath); err != nil {
			return nil, err
		}
	}
	return detect.NewEngine(cfg.Detect, rs, allow)
}

// watchAllowlist swaps the engine's allowlist when the file changes or a
// reload is asked for; a broken file keeps the old allowlist in force.
func watchAllowlist(ctx context.Context, cfg Config, engine *detect.Engine) {
	apply := func(a *detect.Allowlist, err error) {
		if err != nil {
			cfg.Log.Warn("allowlist not reloaded, keeping the previous one", "err", err)
			return
		}
		engine.SetAllowlist(a)
		cfg.Log.Info("allowlist reloaded", "file", cfg.AllowlistPath)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-cfg.ReloadAllowlist:
				apply(detect.LoadAllowlist(cfg.AllowlistPath))
			}
		}
	}()
	if err := detect.WatchAllowlist(ctx, cfg.AllowlistPath, apply); err != nil && ctx.Err() == nil {
		cfg.Log.Warn("allowlist watch stopped", "err", err)
	}
}

func connectBus(ctx context.Context, cfg Config) (*bus.Bus, func(), error) {
	bcfg := cfg.Bus
	var cleanup []func()
	stop := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	if bcfg.URL == "" {
		dir := cfg.DataDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "mcpwatch-nats-")
			if err != nil {
				return nil, nil, fmt.Errorf("data dir: %w", err)
			}
			dir = tmp
			cleanup = append(cleanup, func() { os.RemoveAll(tmp) })
		}
		emb, err := bus.StartEmbedded(ctx, dir)
		if err != nil {
			stop()
			return nil, nil, err
		}
		cleanup = append(cleanup, emb.Shutdown)
		bcfg.URL = emb.ClientURL()
	}
	b, err := bus.Connect(ctx, bcfg)
	if err != nil {
		stop()
		return nil, nil, err
	}
	cleanup = append(cleanup, func() { b.Close() })
	return b, stop, nil
}
