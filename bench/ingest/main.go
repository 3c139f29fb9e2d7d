// Command ingest measures how fast the store job (`mcpwatch store`) writes
// events from NATS JetStream into ClickHouse, for several consumer batch
// sizes: it publishes a capture's events once with the sensor job, then
// runs the store job under a fresh consumer name and database per batch size
// and times it until its consumer has acknowledged every event.
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
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/pipeline"
	"github.com/mcpwatch/mcpwatch/sink"
)

func main() {
	pcap := flag.String("pcap", "", "capture whose events are stored")
	natsURL := flag.String("nats", "", "NATS server with JetStream")
	ch := flag.String("clickhouse", "127.0.0.1:9000", "ClickHouse native address")
	batches := flag.String("batch-sizes", "1000,10000,50000", "consumer batch sizes to compare")
	flag.Parse()
	if err := run(*pcap, *natsURL, *ch, *batches); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func run(pcap, natsURL, chAddr, batchList string) error {
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
	started := time.Now()
	fmt.Printf("%-12s %12s %10s %14s\n", "batch size", "events", "seconds", "events/s")
	for _, field := range strings.Split(batchList, ",") {
		size, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || size <= 0 {
			return fmt.Errorf("-batch-sizes: %q is not a positive number", field)
		}
		scfg := cfg
		scfg.ConsumerName = fmt.Sprintf("bench-%d-%d", size, started.UnixNano())
		scfg.BatchSize = size
		scfg.ClickHouse = sink.ClickHouseConfig{Addr: chAddr, Database: fmt.Sprintf("mcpwatch_bench_%d", size)}
		if err := scfg.ClickHouse.Validate(); err != nil {
			return err
		}
		secs, stored, err := timeStore(ctx, scfg, b, cfg.Sensor)
		if err != nil {
			return err
		}
		fmt.Printf("%-12d %12d %10.2f %14.0f\n", size, stored, secs, float64(stored)/secs)
	}
	return nil
}

// timeStore runs the store job until its events consumer has drained the
// stream (everything this bench published, and anything older the stream
// holds) and returns the seconds it took and the events stored.
func timeStore(ctx context.Context, cfg pipeline.Config, b *bus.Bus, sensor string) (float64, uint64, error) {
	ch, err := sink.OpenClickHouse(ctx, cfg.ClickHouse)
	if err != nil {
		return 0, 0, err
	}
	defer ch.Close()
	for _, table := range []string{"messages", "sessions", "auth", "manifests", "flows"} {
		if err := ch.Conn().Exec(ctx, "TRUNCATE TABLE "+cfg.ClickHouse.Database+"."+table); err != nil {
			return 0, 0, err
		}
	}
	storeCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- pipeline.Store(storeCtx, cfg) }()
	waitErr := b.WaitDrained(ctx, cfg.ConsumerName+"-events")
	secs := time.Since(start).Seconds()
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return 0, 0, err
	}
	if waitErr != nil {
		return 0, 0, waitErr
	}
	var stored uint64
	for _, table := range []string{"messages", "sessions", "auth", "manifests", "flows"} {
		var n uint64
		q := "SELECT count() FROM " + cfg.ClickHouse.Database + "." + table + " WHERE sensor = '" + sensor + "'"
		if err := ch.Conn().QueryRow(ctx, q).Scan(&n); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", q, err)
		}
		stored += n
	}
	return secs, stored, nil
}
