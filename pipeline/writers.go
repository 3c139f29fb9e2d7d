package pipeline

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/sink"
	"github.com/mcpwatch/mcpwatch/sink/alertfeed"
)

// feed is an alert feed output (webhook, syslog) with a consumer of its
// own, so a slow or failing receiver holds back only itself and gets every
// alert at least once. What the receiver refuses for good, and what a run
// gives up on (Config.FeedWait), goes to the feed's dead-letter file.
type feed struct {
	name string
	out  *alertfeed.Feed
}

// openFeeds creates the configured alert feed outputs; it contacts none.
func openFeeds(cfg Config) ([]feed, error) {
	var feeds []feed
	add := func(name string, out alertfeed.Output) error {
		f, err := alertfeed.NewFeed(out, alertfeed.FeedConfig{Name: name, DeadLetterPath: deadLetterPath(cfg, name), Logger: cfg.Log})
		if err != nil {
			out.Close()
			return err
		}
		feeds = append(feeds, feed{name, f})
		return nil
	}
	if cfg.Webhook.URL != "" {
		w, err := alertfeed.NewWebhook(cfg.Webhook)
		if err == nil {
			err = add("webhook", w)
		}
		if err != nil {
			return nil, err
		}
	}
	if cfg.Syslog.Addr != "" {
		s, err := alertfeed.NewSyslog(cfg.Syslog)
		if err == nil {
			err = add("syslog", s)
		}
		if err != nil {
			closeFeeds(feeds)
			return nil, err
		}
	}
	return feeds, nil
}

// deadLetterPath is the dead-letter file of a feed: in DeadLetterDir, else
// the data dir's dead-letters/, else the user's config directory (a run
// without a data dir removes its temporary one).
func deadLetterPath(cfg Config, name string) string {
	dir := cfg.DeadLetterDir
	if dir == "" && cfg.DataDir != "" {
		dir = filepath.Join(cfg.DataDir, "dead-letters")
	}
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "mcpwatch", "dead-letters")
	}
	return filepath.Join(dir, "alerts-"+name+".jsonl")
}

func closeFeeds(feeds []feed) {
	for _, f := range feeds {
		f.out.Close()
	}
}

// feedStats are the feeds' counters, for mcpwatch_alert_feed_*{feed=…}.
type feedStats struct {
	Feed map[string]alertfeed.FeedStats
}

func collectFeedStats(feeds []feed) feedStats {
	s := feedStats{Feed: map[string]alertfeed.FeedStats{}}
	for _, f := range feeds {
		s.Feed[f.name] = f.out.Stats()
	}
	return s
}

// writers are the destinations of a job's events and alerts.
type writers struct {
	events []sink.Writer
	alerts []alertfeed.Output
	// eventNames and alertNames name each output for the summary and the
	// dedup journals.
	eventNames, alertNames []string
	// dedups are the outputs' dedup filters (Run only), by name.
	dedups map[string]*dedupOutput
	// clickhouse batches the ClickHouse inserts; nil without ClickHouse.
	clickhouse *sink.BatchWriter
	opened     []sink.Writer
}

// close closes the writers, last opened first.
func (w *writers) close() {
	for i := len(w.opened) - 1; i >= 0; i-- {
		w.opened[i].Close()
	}
	for _, d := range w.dedups {
		d.close()
	}
}

// openWriters opens the JSONL and ClickHouse destinations of events and
// alerts; ctx bounds the ClickHouse batcher's work.
func openWriters(ctx context.Context, cfg Config) (*writers, error) {
	ws := &writers{}
	if err := ws.open(ctx, cfg); err != nil {
		ws.close()
		return nil, err
	}
	return ws, nil
}

func (ws *writers) open(ctx context.Context, cfg Config) error {
	// A file is written a batch at a time (jsonlFile), so a full disk
	// leaves no torn line behind and a resumed run can read back its ids.
	jsonl := func(path string) (sink.Writer, string, error) {
		if path == "-" {
			w, err := sink.NewJSONL(path)
			if err != nil {
				return nil, "", err
			}
			ws.opened = append(ws.opened, w)
			return w, "stdout", nil
		}
		w, err := openJSONLFile(path)
		if err != nil {
			return nil, "", err
		}
		ws.opened = append(ws.opened, w)
		return w, "jsonl", nil
	}
	if cfg.EventsOut != "" {
		w, kind, err := jsonl(cfg.EventsOut)
		if err != nil {
			return err
		}
		ws.events = append(ws.events, w)
		ws.eventNames = append(ws.eventNames, "events-"+kind)
	}
	if cfg.AlertsOut != "" {
		w, kind, err := jsonl(cfg.AlertsOut)
		if err != nil {
			return err
		}
		ws.alerts = append(ws.alerts, w)
		ws.alertNames = append(ws.alertNames, "alerts-"+kind)
	}
	if cfg.ClickHouse.Addr != "" {
		ch, err := sink.OpenClickHouse(ctx, cfg.ClickHouse)
		if err != nil {
			return err
		}
		ws.opened = append(ws.opened, ch)
		bw, err := newClickHouseBatcher(ctx, cfg, ch)
		if err != nil {
			return err
		}
		// Opened after the connection, so closed (flushed) before it.
		ws.opened = append(ws.opened, bw)
		ws.clickhouse = bw
		ws.events = append(ws.events, bw)
		ws.alerts = append(ws.alerts, bw)
		ws.eventNames = append(ws.eventNames, "events-clickhouse")
		ws.alertNames = append(ws.alertNames, "alerts-clickhouse")
	}
	return nil
}

// dedup puts a dedup filter (dedupOutput) in front of every output and
// feed. With a data dir the filters remember across runs: a JSONL file's
// ids written since the epoch began are read back from the file, the other
// outputs' from their journals.
func (ws *writers) dedup(feeds []feed, dd *dataDir, window int, log *slog.Logger) ([]alertfeed.Output, error) {
	ws.dedups = map[string]*dedupOutput{}
	add := func(name string, w any, field string) (*dedupOutput, error) {
		d := &dedupOutput{name: name, log: log, seen: newIDSet(window)}
		ws.dedups[name] = d
		if dd == nil {
			return d, nil
		}
		if f, ok := w.(*jsonlFile); ok {
			n, err := f.readIDs(dd.jsonlOffset(f.path), field, d.seen)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				log.Info("resuming output", "output", name, "file", f.path, "ids_already_written", n)
			}
			return d, nil
		}
		j, err := openIDJournal(dd.journal(name), d.seen)
		if err != nil {
			return nil, err
		}
		d.journal = j
		return d, nil
	}
	for i, w := range ws.events {
		d, err := add(ws.eventNames[i], w, "event_id")
		if err != nil {
			return nil, err
		}
		ws.events[i] = &dedupEvents{dedupOutput: d, w: w}
	}
	for i, w := range ws.alerts {
		d, err := add(ws.alertNames[i], w, "alert_id")
		if err != nil {
			return nil, err
		}
		ws.alerts[i] = &dedupAlerts{dedupOutput: d, w: w}
	}
	// The feeds themselves stay in feeds, for closeFeeds.
	outs := make([]alertfeed.Output, len(feeds))
	for i, f := range feeds {
		d, err := add("feed-"+f.name, f.out, "alert_id")
		if err != nil {
			return nil, err
		}
		outs[i] = &dedupAlerts{dedupOutput: d, w: f.out}
	}
	return outs, nil
}

// deduplicated is how many events or alerts each output skipped as
// already written.
func (ws *writers) deduplicated() map[string]int64 {
	out := map[string]int64{}
	for name, d := range ws.dedups {
		if n := d.skipped.Load(); n > 0 {
			out[name] = n
		}
	}
	return out
}

// jsonlFiles are the paths of the JSONL file outputs of cfg.
func jsonlFiles(cfg Config) []string {
	var files []string
	for _, p := range []string{cfg.EventsOut, cfg.AlertsOut} {
		if p != "" && p != "-" {
			files = append(files, p)
		}
	}
	return files
}

// clickHouseBatchDelay is how long a consumer's partial batch waits for more
// rows before it is inserted; full consumer batches are inserted at once.
const clickHouseBatchDelay = 50 * time.Millisecond

// newClickHouseBatcher puts ClickHouse behind a BatchWriter: inserts of
// consumer-batch size, retries with backoff while the server is away, and
// rows the server refuses split off into dead_letters instead of blocking
// the stream.
func newClickHouseBatcher(ctx context.Context, cfg Config, ch *sink.ClickHouse) (*sink.BatchWriter, error) {
	rows := cfg.BatchSize
	if rows == 0 {
		rows = bus.DefaultBatchSize
	}
	return sink.NewBatchWriter(ctx, ch, ch, sink.BatchConfig{MaxRows: rows, MaxDelay: clickHouseBatchDelay, Logger: cfg.Log})
}

func writeEvents(ctx context.Context, ws []sink.Writer, evs []*event.Event) error {
	for _, w := range ws {
		if err := w.WriteEvents(ctx, evs); err != nil {
			return err
		}
	}
	return nil
}

func writeAlerts(ctx context.Context, ws []alertfeed.Output, as []*event.Alert) error {
	for _, w := range ws {
		if err := w.WriteAlerts(ctx, as); err != nil {
			return err
		}
	}
	return nil
}

// loadTokenKey reads the token fingerprint key, creating it on first use.
func loadTokenKey(path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("token key file: no path configured")
	}
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) < 16 {
			return nil, fmt.Errorf("token key file %s: %d bytes, want at least 16", path, len(key))
		}
		return key, nil
	}
	if !os.IsNotExist(err) {
		return nil, fmt.Errorf("token key file: %w", err)
	}
	key = make([]byte, 32)
	rand.Read(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("token key file: %w", err)
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("token key file: %w", err)
	}
	return key, nil
}
