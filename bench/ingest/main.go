// Command ingest measures how fast the store job (`mcpwatch store`) writes
// events from NATS JetStream into ClickHouse, for several consumer batch
// sizes: it publishes a capture's events once with the sensor job, then
// runs the store job under a fresh consumer name and database per batch size
// and times it until its consumer has acknowledged every event. Besides
// events/s it prints this process's CPU time per event (fetch, decode, ack,
// batching, inserts; not the servers'), which a busy machine disturbs less
// than the wall time.
//
//	go run ./bench/ingest -pcap bench/out/mcp-100MB.pcap -nats nats://127.0.0.1:4222 -clickhouse 127.0.0.1:9000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/pipeline"
	"github.com/mcpwatch/mcpwatch/sink"
)

func main() {
	pcap := flag.String("pcap", "", "capture whose events are stored")
	natsURL := flag.String("nats", "", "NATS server with JetStream")
	ch := flag.String("clickhouse", "127.0.0.1:9000", "ClickHouse native address")
	batches := flag.String("batch-sizes", "1000,10000,50000", "consumer batch sizes to compare (0: the store job's default)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the store runs (not of publishing) to this file")
	flag.Parse()
	if err := run(*pcap, *natsURL, *ch, *batches, *cpuProfile); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func run(pcap, natsURL, chAddr, batchList, cpuProfile string) error {
	if pcap == "" || natsURL == "" {
		return errors.New("-pcap and -nats are required")
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := pipeline.DefaultConfig()
	cfg.Pcaps = []string{pcap}
	cfg.Bus.URL = natsURL
	cfg.Sensor = fmt.Sprintf("bench-%d", time.Now().UnixNano()) // fresh event ids
	cfg.TokenKeyFile = filepath.Join(os.TempDir(), "mcpwatch-bench-token.key")
	cfg.Log = log
	summary, err := pipeline.Sense(ctx, cfg)
	if err != nil {
		return err
	}
	var events int64
	for _, n := range summary.Events {
		events += n
	}
	b, err := bus.Connect(ctx, bus.Config{URL: natsURL, Logger: log})
	if err != nil {
		return err
	}
	defer b.Close()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	started := time.Now()
	fmt.Printf("%-12s %12s %10s %14s %16s\n", "batch size", "events", "seconds", "events/s", "CPU µs/event")
	for i, field := range strings.Split(batchList, ",") {
		size, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || size < 0 {
			return fmt.Errorf("-batch-sizes: %q is not a number ≥ 0", field)
		}
		scfg := cfg
		// Per run, not per size: a size may be listed twice to repeat it.
		scfg.ConsumerName = fmt.Sprintf("bench-%d-%d-%d", size, i, started.UnixNano())
		scfg.BatchSize = size
		scfg.ClickHouse = sink.ClickHouseConfig{Addr: chAddr, Database: fmt.Sprintf("mcpwatch_bench_%d", size)}
		if err := scfg.ClickHouse.Validate(); err != nil {
			return err
		}
		r, err := timeStore(ctx, scfg, b)
		if err != nil {
			return err
		}
		fmt.Printf("%-12d %12d %10.2f %14.0f %16.1f\n", size, r.stored, r.secs, float64(r.stored)/r.secs, r.cpuSecs/float64(r.stored)*1e6)
	}
	return nil
}

// storeRun is what one store run took: wall seconds, the CPU seconds of this
// process (the store job's side: fetch, decode, ack, batching, inserts, not
// the servers'), and the distinct events stored.
type storeRun struct {
	secs, cpuSecs float64
	stored        uint64
}

// eventTables are the tables the store job writes events into.
var eventTables = []string{"messages", "sessions", "auth", "manifests", "flows"}

// timeStore runs the store job until its events consumer has drained the
// stream (everything this bench published, and anything older the stream
// holds) and counts every distinct event the tables then hold, which is what
// the time was spent on.
func timeStore(ctx context.Context, cfg pipeline.Config, b *bus.Bus) (storeRun, error) {
	ch, err := sink.OpenClickHouse(ctx, cfg.ClickHouse)
	if err != nil {
		return storeRun{}, err
	}
	defer ch.Close()
	for _, table := range eventTables {
		if err := ch.Conn().Exec(ctx, "TRUNCATE TABLE "+cfg.ClickHouse.Database+"."+table); err != nil {
			return storeRun{}, err
		}
	}
	cpuBefore, err := processCPU()
	if err != nil {
		return storeRun{}, err
	}
	storeCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- pipeline.Store(storeCtx, cfg) }()
	waitErr := waitDrained(ctx, b, cfg.ConsumerName+"-events")
	secs := time.Since(start).Seconds()
	cpuAfter, cpuErr := processCPU()
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return storeRun{}, err
	}
	if err := errors.Join(waitErr, cpuErr); err != nil {
		return storeRun{}, err
	}
	var stored uint64
	for _, table := range eventTables {
		var n uint64
		q := "SELECT uniqExact(event_id) FROM " + cfg.ClickHouse.Database + "." + table
		if err := ch.Conn().QueryRow(ctx, q).Scan(&n); err != nil {
			return storeRun{}, fmt.Errorf("%s: %w", q, err)
		}
		stored += n
	}
	return storeRun{secs: secs, cpuSecs: cpuAfter - cpuBefore, stored: stored}, nil
}

// waitDrained polls the durable's backlog every few milliseconds:
// bus.WaitDrained backs off to a quarter of a second, too coarse to time a
// run of well under a second.
func waitDrained(ctx context.Context, b *bus.Bus, durable string) error {
	for {
		backlog, err := b.Backlog(ctx, durable)
		if err == nil && backlog.Pending == 0 && backlog.Unacked == 0 {
			return nil
		}
		if err != nil && !errors.Is(err, bus.ErrNoConsumer) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// processCPU is the user and system CPU time this process has used, in
// seconds.
func processCPU() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds(), nil
}
