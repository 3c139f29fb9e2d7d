package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/capture/logtap"
	"github.com/mcpwatch/mcpwatch/decode"
	"github.com/mcpwatch/mcpwatch/detect"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/rules"
	"github.com/mcpwatch/mcpwatch/sink"
	"github.com/mcpwatch/mcpwatch/sink/alertfeed"
)

// Config is the configuration of every job; each job reads the parts it
// needs.
type Config struct {
	// Sensor names this sensor in every event (default: the hostname).
	Sensor string
	// Pcaps are capture files to analyse, in order.
	Pcaps []string
	// Ifaces are network interfaces to capture live (Linux, AF_PACKET)
	// until the job is stopped.
	Ifaces []string
	Live   capture.LiveOptions
	// BPF, when set, reads files and interfaces through libpcap with this
	// filter expression (builds with -tags libpcap only).
	BPF string
	// Taps are proxy logs, FORMAT:FILE (FILE "-" = standard input), read
	// by capture/logtap into the same events; with TapFollow each file is
	// followed like tail -F, resuming from a checkpoint in TapCheckpointDir.
	Taps             []string
	TapFollow        bool
	TapCheckpointDir string
	Tap              logtap.Config
	// Bus configures NATS; an empty URL runs the embedded server (Run only).
	Bus bus.Config
	// DataDir holds the embedded server's JetStream store; empty means a
	// temporary directory removed when the run ends. Run locks it (one run
	// per directory) and keeps in it what a run that resumes an interrupted
	// one needs to write every event and alert once (datadir.go).
	DataDir string
	// DataDirReserve is the free space Run keeps on the store's file system:
	// below it the inputs pause until space is freed (diskGate). Zero
	// means DefaultDataDirReserve, negative none.
	DataDirReserve int64
	// DedupWindow is how many ids each output of Run remembers to skip
	// events and alerts it already wrote (zero: DefaultDedupWindow).
	DedupWindow int
	// AllowlistPath is the allowlist of approved servers; empty disables
	// the rules that need one. The file is reloaded when it changes and
	// whenever ReloadAllowlist delivers (SIGHUP).
	AllowlistPath   string
	ReloadAllowlist <-chan os.Signal
	// RulesDir overrides the embedded default rule pack; RulesExtra are
	// packs loaded after it, each adding rules, replacing those of the same
	// id and disabling others (detect.LoadRules).
	RulesDir   string
	RulesExtra []string
	// Replica and Replicas split the event partitions between detect
	// processes: replica i of R owns the partitions p with p mod R == i.
	Replica, Replicas int
	// ConsumerName names the durable consumers of detect and store
	// (default "detect" and "store"): processes with the same name share
	// the work, pipelines with different names each get every message.
	ConsumerName string
	// BatchSize and AckWait tune the durable consumers of detect and store
	// (zero: the bus defaults, but storeEventsBatch for the store job's
	// events consumer). AckWait is how long a stopped process's
	// unacknowledged batch waits before a standby gets it.
	BatchSize int
	AckWait   time.Duration
	// EventsOut and AlertsOut are JSONL destinations ("-" = stdout,
	// empty = none).
	EventsOut, AlertsOut string
	// ClickHouse is used when its Addr is set.
	ClickHouse sink.ClickHouseConfig
	// PostureEvery is how often run and store re-grade the servers from
	// the stored events into the posture tables (refreshPosture); 0 never.
	// A run with ClickHouse also grades once when everything is delivered.
	PostureEvery time.Duration
	// Webhook and Syslog feed alerts to a SOC when their URL / Addr is set.
	Webhook alertfeed.WebhookConfig
	Syslog  alertfeed.SyslogConfig
	// FeedWait bounds how long Run waits, once every alert is stored, for
	// the alert feeds to deliver theirs; then what is undelivered goes to
	// the feeds' dead-letter files and the Summary counts it. Default 30s.
	FeedWait time.Duration
	// DeadLetterDir holds the feeds' dead-letter files,
	// alerts-<feed>.jsonl. Default: DataDir/dead-letters, else
	// mcpwatch/dead-letters in the user's config directory.
	DeadLetterDir string
	// TokenKeyFile holds the HMAC key for token fingerprints; it is created
	// with a random key when missing, so fingerprints stay stable across runs.
	TokenKeyFile string
	// MetricsAddr serves Prometheus metrics at /metrics when set, and with
	// Pprof Go's runtime profiles at /debug/pprof/ (heap, goroutines, CPU).
	MetricsAddr string
	Pprof       bool
	// StatsOut, when set, gets a JSON line of every metric each StatsEvery
	// and at the end ({"kind":"stats",…}; "-" is standard output).
	StatsOut   string
	StatsEvery time.Duration
	// DrainTimeout bounds the delivery of what was read after the input
	// ended or the job was stopped.
	DrainTimeout time.Duration
	// CaptureShards is how many goroutines reassemble and decode each
	// packet input (capture.Shards, one decoder each): one goroutine reads
	// the input and deals its packets by IP address pair. Zero means one.
	// The capture caps on all connections (MaxFlows, MaxPages) and decode's
	// MaxSessions bound the whole input: every shard gets its share. Events
	// are the same whatever the number, unless an MCP session is used from
	// several client addresses, and are published in the input's order
	// (inputOrder), so detect gives the same alerts.
	CaptureShards int
	Capture       capture.Config
	// FailureDumps, when its Dir is set, keeps the latest packets of every
	// connection of a packet input (within its caps) and writes those of a
	// connection whose decoding panicked to a pcap in Dir, to reproduce
	// the fault with.
	FailureDumps capture.DumpConfig
	Decode       decode.Config
	Detect       detect.Config
	Log          *slog.Logger

	// wrapHandler, when set, stands between capture and shard k's decoder
	// (tests inject faults with it).
	wrapHandler func(shard int, d *decode.Decoder) capture.Handler
	// gate pauses the inputs while the data dir is short of space (Run).
	gate *diskGate
}

// DefaultConfig returns a configuration with every stage at its defaults
// and no input.
func DefaultConfig() Config {
	return Config{Capture: capture.DefaultConfig(), CaptureShards: 1, Detect: detect.DefaultConfig(), DrainTimeout: 5 * time.Minute, Replicas: 1}
}

// validate checks what every job needs and fills defaults.
// validate fills in defaults and checks the settings (a UsageError).
func (c *Config) validate() error { return usageError(c.settle()) }

func (c *Config) settle() error {
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
	if c.DedupWindow < 0 {
		return fmt.Errorf("dedup window %d: want 0 (default) or more", c.DedupWindow)
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = DefaultDedupWindow
	}
	if c.DataDirReserve == 0 {
		c.DataDirReserve = DefaultDataDirReserve
	}
	if c.DrainTimeout <= 0 {
		return fmt.Errorf("drain timeout %s: want > 0", c.DrainTimeout)
	}
	if c.FeedWait == 0 {
		c.FeedWait = DefaultFeedWait
	}
	if c.FeedWait < 0 {
		return fmt.Errorf("feed wait %s: want > 0", c.FeedWait)
	}
	c.Detect.Logger = cmp.Or(c.Detect.Logger, c.Log)
	if c.ClickHouse.Addr != "" {
		if err := c.ClickHouse.Validate(); err != nil {
			return err
		}
	}
	if c.CaptureShards < 0 {
		return fmt.Errorf("capture shards %d: want 1 or more", c.CaptureShards)
	}
	c.CaptureShards = max(c.CaptureShards, 1)
	if err := c.Capture.Validate(); err != nil {
		return err
	}
	return c.Detect.Validate()
}

func (c *Config) validateInputs() error {
	if len(c.Pcaps) == 0 && len(c.Ifaces) == 0 && len(c.Taps) == 0 {
		return usageError(errors.New("nothing to read: give --pcap FILE, --iface NAME or --tap FORMAT:FILE"))
	}
	return nil
}

func (c *Config) validateExternalBus(job string) error {
	if c.Bus.URL == "" {
		return fmt.Errorf("%s needs --nats URL: it shares the bus with other processes", job)
	}
	return nil
}

// fetchWait is how long a consumer waits to fill a batch.
const fetchWait = time.Second

// Run analyses the configured inputs with every stage in one process. With
// capture files only it returns when they are read and every event and
// alert has reached every writer; with interfaces it runs until ctx ends,
// then delivers what was read.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := cfg.validateInputs(); err != nil {
		return nil, err
	}
	// The data dir is locked before anything else: a second run on it
	// fails at once instead of sharing its store.
	var dd *dataDir
	if cfg.DataDir != "" && cfg.Bus.URL == "" {
		var err error
		if dd, err = openDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
		defer dd.close()
	}
	ins, err := openInputs(cfg)
	if err != nil {
		return nil, err
	}
	defer closeInputs(ins)
	engine, err := newDetectEngine(cfg)
	if err != nil {
		return nil, err
	}
	tokenKey, err := loadTokenKey(cfg.TokenKeyFile)
	if err != nil {
		return nil, err
	}
	feeds, err := openFeeds(cfg)
	if err != nil {
		return nil, err
	}
	defer closeFeeds(feeds)
	// Delivery goes on after ctx ends (Ctrl-C on a live capture), bounded
	// by the drain timeout; the run's helpers end with the run.
	deliverCtx, endRun := context.WithCancel(context.WithoutCancel(ctx))
	defer endRun()
	out, err := openWriters(deliverCtx, cfg)
	if err != nil {
		return nil, err
	}
	defer out.close()
	// Consumers are named per run and start at this run's messages, so an
	// external server's older contents are not replayed.
	started := time.Now()
	runID := event.NewID(cfg.Sensor, started.String())[:12]
	resumed, consumersID, err := beginRun(cfg, dd, runID, ins)
	if err != nil {
		return nil, err
	}
	outFeeds, err := out.dedup(feeds, dd, cfg.DedupWindow, cfg.Log)
	if err != nil {
		return nil, err
	}
	// Each run stores every event it publishes, even one an interrupted run
	// published a moment ago (its consumers are new): the stream's duplicate
	// window catches only this run's retries, the outputs the rest.
	cfg.Bus.MsgIDScope = runID
	b, emb, stopBus, err := connectBus(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer stopBus()
	if emb != nil {
		storeDir := cfg.DataDir
		if storeDir == "" {
			storeDir = os.TempDir()
		}
		cfg.gate = newDiskGate(storeDir, cfg.DataDirReserve, cfg.Log)
		// Stopped before the server is (deferred after stopBus).
		reviveCtx, stopReviving := context.WithCancel(deliverCtx)
		reviving := make(chan struct{})
		go func() { defer close(reviving); cfg.gate.reviveStore(reviveCtx, emb) }()
		defer func() { stopReviving(); <-reviving }()
	}

	if cfg.AllowlistPath != "" {
		go watchAllowlist(deliverCtx, cfg, engine)
	}

	nextEvent, err := b.NextSeq(ctx, bus.EventsStream)
	if err != nil {
		return nil, err
	}
	nextAlert, err := b.NextSeq(ctx, bus.AlertsStream)
	if err != nil {
		return nil, err
	}
	consumer := func(name string, start uint64) bus.ConsumerConfig {
		return bus.ConsumerConfig{Durable: name + "-" + consumersID, StartSeq: start, MaxWait: fetchWait}
	}
	// One events consumer both writes and detects: in one process a second
	// would only decode every event twice.
	events, storeAlerts := consumer("run-events", nextEvent), consumer("run-alerts", nextAlert)
	var stages stageStats
	stopMetrics, err := startMetrics(deliverCtx, cfg, metricSources{stages: &stages, bus: b, detect: engine, clickhouse: out.clickhouse, feeds: feeds,
		durables: []string{events.Durable, storeAlerts.Durable}})
	if err != nil {
		return nil, err
	}
	defer stopMetrics()
	inv := newInventory()
	feedConsumers := make([]bus.ConsumerConfig, len(feeds))
	for i, f := range feeds {
		feedConsumers[i] = consumer("run-feed-"+f.name, nextAlert)
	}
	// The consumers of a killed live run deliver its backlog now, not
	// after the ack wait of what it had fetched.
	if resumed != nil && resumed.Backlog {
		if err := resumeBacklog(ctx, b, resumed, events, append([]bus.ConsumerConfig{storeAlerts}, feedConsumers...)); err != nil {
			return nil, err
		}
	}
	// The consumers exist before anything is published, so that draining
	// them below waits for every event and alert.
	for _, c := range append([]bus.ConsumerConfig{storeAlerts}, feedConsumers...) {
		if err := b.EnsureConsumer(ctx, bus.AlertsStream, c); err != nil {
			return nil, err
		}
	}
	if err := b.EnsureConsumer(ctx, bus.EventsStream, events); err != nil {
		return nil, err
	}
	consumeCtx, stopConsumers := context.WithCancel(deliverCtx)
	defer stopConsumers()
	var consumers errgroup.Group
	consumers.Go(func() error {
		return b.ConsumeEvents(consumeCtx, events, func(ctx context.Context, evs []*event.Event) error {
			if err := writeEvents(ctx, out.events, evs); err != nil {
				return err
			}
			inv.addEvents(evs)
			return detectBatch(ctx, b, engine, evs, cfg.Log)
		})
	})
	consumers.Go(func() error { return consumeAlertsToWriters(consumeCtx, b, storeAlerts, out.alerts, inv) })
	for i := range feeds {
		c, f := feedConsumers[i], outFeeds[i]
		consumers.Go(func() error { return consumeAlertsToWriters(consumeCtx, b, c, []alertfeed.Output{f}, nil) })
	}

	// A live run grades as it goes; a run over files once at its end.
	if cfg.ClickHouse.Addr != "" && cfg.PostureEvery > 0 && slices.ContainsFunc(ins, func(in input) bool { return in.live(cfg) }) {
		refreshCtx, stopRefresh := context.WithCancel(deliverCtx)
		refreshed := make(chan struct{})
		go func() { defer close(refreshed); refreshPosture(refreshCtx, cfg) }()
		defer func() { stopRefresh(); <-refreshed }()
	}
	summary, err := senseAll(ctx, cfg, tokenKey, ins, b, &stages)
	if err != nil {
		return nil, notDelivered(b, err)
	}
	cfg.Log.Debug("input read", "elapsed", time.Since(started), "packets", summary.Packets)
	drainCtx, cancel := context.WithTimeout(deliverCtx, cfg.DrainTimeout)
	defer cancel()
	if err := b.Flush(drainCtx); err != nil {
		return nil, notDelivered(b, fmt.Errorf("publish events: %w", err))
	}
	// Failures are reported to whichever Flush comes next, and detect
	// flushes its alerts all the time: only the total tells.
	if ferr := b.Failed(); ferr != nil {
		return nil, notDelivered(b, fmt.Errorf("publish events: %w", ferr))
	}
	if n := b.Stats().PublishFailed; n > 0 {
		return nil, notDelivered(b, fmt.Errorf("publish events: %d events or alerts failed to publish", n))
	}
	if err := b.WaitDrained(drainCtx, events.Durable); err != nil {
		return nil, fmt.Errorf("deliver events: %w", err)
	}
	if err := b.WaitDrained(drainCtx, storeAlerts.Durable); err != nil {
		return nil, fmt.Errorf("deliver alerts: %w", err)
	}
	waitFeeds(drainCtx, cfg, b, feeds, feedConsumers)
	cfg.Log.Debug("delivered", "elapsed", time.Since(started), "bus", fmt.Sprintf("%+v", b.Stats()))
	stopConsumers()
	if err := consumers.Wait(); err != nil {
		return nil, err
	}
	// The posture tables follow what was stored; a failure loses no event,
	// and the next run, store or mcpwatch posture --save grades again.
	if cfg.ClickHouse.Addr != "" {
		if err := gradeStored(deliverCtx, cfg); err != nil {
			cfg.Log.Warn("posture not graded", "clickhouse", cfg.ClickHouse.Addr, "err", err)
		}
	}
	inv.fill(summary)
	summary.addFeeds(feeds)
	summary.addRuleErrors(engine.Stats())
	summary.Resumed = resumed
	summary.Deduplicated = out.deduplicated()
	if cfg.gate != nil {
		summary.DiskPauses, summary.DiskPaused = cfg.gate.pauses.Load(), time.Duration(cfg.gate.paused.Load())
		summary.StoreRestarts = cfg.gate.storeRestarts.Load()
	}
	if dd != nil {
		if err := dd.finish(); err != nil {
			return nil, err
		}
	}
	return summary, nil
}

// beginRun records the run in its data dir, says which run it resumes, and
// returns the id that names its durable consumers: its own, or those of the
// live run it resumes, whose stored backlog they then deliver.
func beginRun(cfg Config, dd *dataDir, runID string, ins []input) (*Resume, string, error) {
	if dd == nil {
		return nil, runID, nil
	}
	live := slices.ContainsFunc(ins, func(in input) bool { return in.live(cfg) })
	if err := dd.begin(runID, live, jsonlFiles(cfg)); err != nil {
		return nil, "", err
	}
	if dd.prev == nil {
		return nil, runID, nil
	}
	r := &Resume{RunID: dd.prev.RunID, PID: dd.prev.PID, Started: dd.prev.Started, Resumes: dd.rec.Resumes, Backlog: dd.rec.Consumers != runID}
	how := "replaying the input, outputs skip what they already have"
	if r.Backlog {
		how = "its live input's events stored but not delivered are delivered from the data dir, and any capture file is replayed; outputs skip what they already have"
	}
	cfg.Log.Warn("the previous run on this data dir stopped before delivering everything: "+how,
		"data_dir", cfg.DataDir, "previous_run", r.RunID, "previous_pid", r.PID, "previous_start", r.Started)
	return r, dd.rec.Consumers, nil
}

// resumeBacklog restarts the durable consumers of the killed live run r
// resumes at their ack floors, counting in r what they have to deliver.
func resumeBacklog(ctx context.Context, b *bus.Bus, r *Resume, events bus.ConsumerConfig, alerts []bus.ConsumerConfig) error {
	n, err := b.ResumeConsumer(ctx, bus.EventsStream, events)
	if err != nil {
		return err
	}
	r.BacklogEventBatches = n
	for _, c := range alerts {
		if n, err = b.ResumeConsumer(ctx, bus.AlertsStream, c); err != nil {
			return err
		}
		r.BacklogAlertBatches += n
	}
	return nil
}

// notDelivered adds to err how many events and alerts the bus lost, and
// that a rerun on the same data dir delivers them.
func notDelivered(b *bus.Bus, err error) error {
	st := b.Stats()
	if st.PublishFailed == 0 {
		return err
	}
	return fmt.Errorf("%w (%d events or alerts not delivered; a rerun replays the input, with the same --data-dir delivering each once)", err, st.PublishFailed)
}

// DefaultFeedWait is Config.FeedWait's default: long enough for a healthy
// receiver to take a capture's alerts, short enough that a dead one does
// not hold a run for long.
const DefaultFeedWait = 30 * time.Second

// feedGiveUpWait bounds the dead-lettering of a feed that gave up: its
// consumer gets the failed batch back within the bus's longest redelivery
// backoff (5s) and a fetch.
const feedGiveUpWait = 15 * time.Second

// waitFeeds waits up to cfg.FeedWait for the feeds to deliver every alert;
// a feed that has not by then gives up, and its consumer dead-letters
// what is left. What is neither delivered nor dead-lettered then is
// counted as lost in the summary (addFeeds).
func waitFeeds(ctx context.Context, cfg Config, b *bus.Bus, feeds []feed, consumers []bus.ConsumerConfig) {
	waitCtx, cancel := context.WithTimeout(ctx, cfg.FeedWait)
	defer cancel()
	for i, f := range feeds {
		if err := b.WaitDrained(waitCtx, consumers[i].Durable); err == nil {
			continue
		}
		f.out.GiveUp(fmt.Sprintf("run's feed wait of %s ended", cfg.FeedWait))
		giveUpCtx, cancel := context.WithTimeout(ctx, feedGiveUpWait)
		err := b.WaitDrained(giveUpCtx, consumers[i].Durable)
		cancel()
		if err != nil {
			cfg.Log.Error("alert feed not drained after giving up; its undelivered alerts are counted as lost", "feed", f.name, "err", err)
		}
	}
}

// Sense captures and decodes the inputs and publishes the events to an
// external NATS, for detect and store processes elsewhere.
func Sense(ctx context.Context, cfg Config) (*Summary, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := cfg.validateInputs(); err != nil {
		return nil, err
	}
	if err := cfg.validateExternalBus("sensor"); err != nil {
		return nil, err
	}
	ins, err := openInputs(cfg)
	if err != nil {
		return nil, err
	}
	defer closeInputs(ins)
	tokenKey, err := loadTokenKey(cfg.TokenKeyFile)
	if err != nil {
		return nil, err
	}
	b, _, stopBus, err := connectBus(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer stopBus()
	deliverCtx, endRun := context.WithCancel(context.WithoutCancel(ctx))
	defer endRun()
	var stages stageStats
	stopMetrics, err := startMetrics(deliverCtx, cfg, metricSources{stages: &stages, bus: b})
	if err != nil {
		return nil, err
	}
	defer stopMetrics()
	summary, err := senseAll(ctx, cfg, tokenKey, ins, b, &stages)
	if err != nil {
		return nil, err
	}
	drainCtx, cancel := context.WithTimeout(deliverCtx, cfg.DrainTimeout)
	defer cancel()
	if err := b.Flush(drainCtx); err != nil {
		return nil, fmt.Errorf("publish events: %w", err)
	}
	return summary, nil
}

// Detect runs the rules over the events of the partitions this replica
// owns and publishes the alerts, until ctx ends. Processes given the same
// replica number share one durable consumer: a standby takes over what a
// stopped one left unacknowledged.
func Detect(ctx context.Context, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	if err := cfg.validateExternalBus("detect"); err != nil {
		return err
	}
	parts, err := bus.OwnedPartitions(cfg.Bus.WithDefaults().Partitions, cfg.Replica, cfg.Replicas)
	if err != nil {
		return err
	}
	engine, err := newDetectEngine(cfg)
	if err != nil {
		return err
	}
	b, _, stopBus, err := connectBus(ctx, cfg)
	if err != nil {
		return err
	}
	defer stopBus()
	c := cfg.durable("detect", fmt.Sprintf("%d-of-%d", cfg.Replica, cfg.Replicas))
	c.FilterSubjects = bus.EventSubjects(nil, parts)
	stopMetrics, err := startMetrics(ctx, cfg, metricSources{bus: b, detect: engine, durables: []string{c.Durable}})
	if err != nil {
		return err
	}
	defer stopMetrics()
	if cfg.AllowlistPath != "" {
		go watchAllowlist(ctx, cfg, engine)
	}
	cfg.Log.Info("detecting", "durable", c.Durable, "partitions", parts, "nats", cfg.Bus.URL)
	return consumeToDetect(ctx, b, c, engine, cfg.Log)
}

// Store writes the events and alerts of the bus into ClickHouse and the
// JSONL outputs until ctx ends. Processes share the durables, so several
// store processes split the work.
func Store(ctx context.Context, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	if err := cfg.validateExternalBus("store"); err != nil {
		return err
	}
	feeds, err := openFeeds(cfg)
	if err != nil {
		return err
	}
	defer closeFeeds(feeds)
	out, err := openWriters(ctx, cfg)
	if err != nil {
		return err
	}
	defer out.close()
	if len(out.events) == 0 && len(out.alerts) == 0 && len(feeds) == 0 {
		return errors.New("store has nowhere to write: give --clickhouse, --events-out, --alerts-out or an alert feed")
	}
	b, _, stopBus, err := connectBus(ctx, cfg)
	if err != nil {
		return err
	}
	defer stopBus()
	var consumers []func() error
	var durables []string
	if len(out.events) > 0 {
		c := cfg.durable("store", "events")
		if cfg.BatchSize == 0 {
			c.BatchSize = storeEventsBatch
		}
		durables = append(durables, c.Durable)
		// Two fetchers on the durable: one batch is decoded while the
		// other is being inserted.
		for range 2 {
			consumers = append(consumers, func() error { return consumeToWriters(ctx, b, c, out.events, nil) })
		}
	}
	if len(out.alerts) > 0 {
		c := cfg.durable("store", "alerts")
		durables = append(durables, c.Durable)
		consumers = append(consumers, func() error { return consumeAlertsToWriters(ctx, b, c, out.alerts, nil) })
	}
	for _, f := range feeds {
		c := cfg.durable("store", "feed-"+f.name)
		durables = append(durables, c.Durable)
		consumers = append(consumers, func() error { return consumeAlertsToWriters(ctx, b, c, []alertfeed.Output{f.out}, nil) })
	}
	stopMetrics, err := startMetrics(ctx, cfg, metricSources{bus: b, clickhouse: out.clickhouse, feeds: feeds, durables: durables})
	if err != nil {
		return err
	}
	defer stopMetrics()
	var g errgroup.Group
	for _, consume := range consumers {
		g.Go(consume)
	}
	if cfg.ClickHouse.Addr != "" && cfg.PostureEvery > 0 {
		g.Go(func() error { return refreshPosture(ctx, cfg) })
	}
	cfg.Log.Info("storing", "nats", cfg.Bus.URL, "clickhouse", cfg.ClickHouse.Addr)
	return g.Wait()
}

// storeEventsBatch is the store job's events consumer batch, in events
// (about: see bus.ConsumerConfig.BatchSize), when none is configured. Each batch is one
// ClickHouse INSERT per event kind in it, and an INSERT costs the server
// milliseconds whatever its size (18.16 writes a new part of ~100 files), so
// with the bus default of 256 the server spent ~160 µs of CPU per event and
// the job stored 4 400–6 400 events/s, against 36 000–40 000 with 10 000
// (bench/ingest, 121 694 events of a 500 MB capture).
const storeEventsBatch = 10_000

// durable is a consumer of a long-running job, named
// <ConsumerName or job>-<part> and shared by every process that uses the
// same name.
func (c *Config) durable(job, part string) bus.ConsumerConfig {
	name := c.ConsumerName
	if name == "" {
		name = job
	}
	return bus.ConsumerConfig{Durable: name + "-" + part, MaxWait: fetchWait, BatchSize: c.BatchSize, AckWait: c.AckWait}
}

func consumeToWriters(ctx context.Context, b *bus.Bus, c bus.ConsumerConfig, ws []sink.Writer, inv *inventory) error {
	return b.ConsumeEvents(ctx, c, func(ctx context.Context, evs []*event.Event) error {
		if err := writeEvents(ctx, ws, evs); err != nil {
			return err
		}
		if inv != nil {
			inv.addEvents(evs)
		}
		return nil
	})
}

func consumeAlertsToWriters(ctx context.Context, b *bus.Bus, c bus.ConsumerConfig, ws []alertfeed.Output, inv *inventory) error {
	return b.ConsumeAlerts(ctx, c, func(ctx context.Context, as []*event.Alert) error {
		if err := writeAlerts(ctx, ws, as); err != nil {
			return err
		}
		if inv != nil {
			inv.addAlerts(as)
		}
		return nil
	})
}

// consumeToDetect runs each batch of events through the rules and
// publishes the alerts before the batch is acked, so an alert is never lost
// with its evidence already consumed.
func consumeToDetect(ctx context.Context, b *bus.Bus, c bus.ConsumerConfig, engine *detect.Engine, log *slog.Logger) error {
	return b.ConsumeEvents(ctx, c, func(ctx context.Context, evs []*event.Event) error {
		return detectBatch(ctx, b, engine, evs, log)
	})
}

// detectBatch runs events through the rules and publishes the alerts,
// returning once the bus has stored them.
func detectBatch(ctx context.Context, b *bus.Bus, engine *detect.Engine, evs []*event.Event, log *slog.Logger) error {
	for _, ev := range evs {
		for _, a := range engine.Process(ev) {
			log.Debug("alert", "alert_id", a.AlertID, "rule", a.RuleID, "server_key", a.ServerKey, "event_id", ev.EventID)
			if err := b.PublishAlert(ctx, a); err != nil {
				return fmt.Errorf("publish alert: %w", err)
			}
		}
	}
	return b.Flush(ctx)
}

// stageStats holds the latest snapshots of the stages whose Stats may only
// be read on their own goroutine. With several inputs they show the one
// that reported last.
type stageStats struct {
	capture snapshot[capture.Stats]
	decode  snapshot[decode.Stats]
	// kernel is the AF_PACKET ring's own count of packets and drops.
	kernel snapshot[capture.KernelStats]
	// dump is the --dump-failures packet store's.
	dump snapshot[capture.DumpStats]
	// logtap sums the counters of every log tap input (tap.go).
	logtap tapStats
}

// metricSources are the stages a job runs; nil ones are left out.
type metricSources struct {
	stages     *stageStats
	bus        *bus.Bus
	detect     *detect.Engine
	clickhouse *sink.BatchWriter
	feeds      []feed
	// durables are the job's consumers, whose backlog (consume lag) is
	// exported.
	durables []string
}

// startMetrics serves the metrics of the stages a job runs when an address
// is configured, and writes them as stats records to StatsOut when set;
// stop writes the last record and waits for it.
func startMetrics(ctx context.Context, cfg Config, m metricSources) (stop func(), err error) {
	if cfg.MetricsAddr == "" && cfg.StatsOut == "" {
		return func() {}, nil
	}
	collect := map[string]func() any{"bus": func() any { return m.bus.Stats() }}
	if m.stages != nil {
		collect["capture"] = m.stages.capture.load
		collect["decode"] = m.stages.decode.load
		collect["kernel"] = m.stages.kernel.load
		collect["dump"] = m.stages.dump.load
		collect["logtap"] = m.stages.logtap.load
	}
	if m.detect != nil {
		collect["detect"] = func() any { return m.detect.Stats() }
	}
	if m.clickhouse != nil {
		collect["clickhouse"] = func() any { return m.clickhouse.Stats() }
	}
	if len(m.feeds) > 0 {
		collect["alert"] = func() any { return collectFeedStats(m.feeds) }
	}
	if len(m.durables) > 0 {
		collect["consumer"] = func() any { return consumerBacklog(ctx, m.bus, m.durables) }
	}
	reg := newRegistry(collect)
	stop = func() {}
	if cfg.StatsOut != "" {
		w, err := statsWriter(cfg.StatsOut)
		if err != nil {
			return nil, err
		}
		// The last record, with the final counts, is written by stop.
		statsCtx, endStats := context.WithCancel(ctx)
		written := make(chan struct{})
		go func() {
			defer close(written)
			defer w.Close()
			writeStats(statsCtx, w, cmp.Or(cfg.StatsEvery, DefaultStatsEvery), reg, cfg.Log)
		}()
		stop = func() { endStats(); <-written }
	}
	if cfg.MetricsAddr != "" {
		if err := serveMetrics(ctx, cfg.MetricsAddr, cfg.Pprof, cfg.Log, reg); err != nil {
			stop()
			return nil, err
		}
	}
	return stop, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// DefaultStatsEvery is how often a stats record is written (StatsEvery).
const DefaultStatsEvery = time.Minute

// statsWriter opens --stats-out for appending; "-" is standard output,
// which Close leaves open.
func statsWriter(path string) (io.WriteCloser, error) {
	if path == "-" {
		return nopCloser{os.Stdout}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, usageError(fmt.Errorf("--stats-out: %w", err))
	}
	return f, nil
}

// consumerLag is the backlog of the job's durable consumers, for
// mcpwatch_consumer_backlog_pending{durable=…} and …_unacked.
type consumerLag struct {
	Backlog map[string]bus.Backlog
}

func consumerBacklog(ctx context.Context, b *bus.Bus, durables []string) consumerLag {
	lag := consumerLag{Backlog: map[string]bus.Backlog{}}
	for _, d := range durables {
		if bl, err := b.Backlog(ctx, d); err == nil {
			lag.Backlog[d] = bl
		}
	}
	return lag
}

// newDetectEngine loads the rules and the allowlist; what is wrong with
// them is a UsageError.
func newDetectEngine(cfg Config) (*detect.Engine, error) {
	packs := []fs.FS{rules.Default}
	if cfg.RulesDir != "" {
		packs[0] = os.DirFS(cfg.RulesDir)
	}
	for _, dir := range cfg.RulesExtra {
		packs = append(packs, os.DirFS(dir))
	}
	rs, err := detect.LoadRules(packs...)
	if err != nil {
		return nil, usageError(err)
	}
	var allow *detect.Allowlist
	if cfg.AllowlistPath != "" {
		if allow, err = detect.LoadAllowlist(cfg.AllowlistPath); err != nil {
			return nil, usageError(err)
		}
	}
	e, err := detect.NewEngine(cfg.Detect, rs, allow)
	return e, usageError(err)
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

// connectBus connects to cfg.Bus, or starts the embedded server in the data
// dir (or a temporary one) and returns it too; stop closes what it opened.
func connectBus(ctx context.Context, cfg Config) (*bus.Bus, *bus.Embedded, func(), error) {
	bcfg := cfg.Bus
	bcfg.Logger = cfg.Log
	var cleanup []func()
	var emb *bus.Embedded
	stop := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	if bcfg.URL == "" && bcfg.InProcess == nil {
		dir := cfg.DataDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "mcpwatch-nats-")
			if err != nil {
				return nil, nil, nil, fmt.Errorf("data dir: %w", err)
			}
			dir = tmp
			cleanup = append(cleanup, func() { os.RemoveAll(tmp) })
		}
		// JetStream refuses streams whose MaxBytes exceed the store's file
		// system; on a small one each stream gets a quarter of its free space.
		if bcfg.MaxBytes == 0 {
			if free, err := freeBytes(dir); err == nil && free/4 < bus.DefaultMaxBytes {
				bcfg.MaxBytes = int64(max(free/4, 1<<20))
			}
		}
		var err error
		if emb, err = bus.StartEmbedded(ctx, dir); err != nil {
			stop()
			return nil, nil, nil, err
		}
		cleanup = append(cleanup, emb.Shutdown)
		emb.Configure(&bcfg)
	}
	b, err := bus.Connect(ctx, bcfg)
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	cleanup = append(cleanup, func() { b.Close() })
	return b, emb, stop, nil
}
