package pipeline

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/sink"
	"github.com/mcpwatch/mcpwatch/sink/alertfeed"
)

// feed is an alert feed output (webhook, syslog) with a consumer of its
// own, so a slow or failing receiver holds back only itself and gets every
// alert at least once.
type feed struct {
	name string
	out  alertfeed.Output
}

// openFeeds creates the configured alert feed outputs; it contacts none.
func openFeeds(cfg Config) ([]feed, error) {
	var feeds []feed
	if cfg.Webhook.URL != "" {
		w, err := alertfeed.NewWebhook(cfg.Webhook)
		if err != nil {
			return nil, err
		}
		feeds = append(feeds, feed{"webhook", w})
	}
	if cfg.Syslog.Addr != "" {
		s, err := alertfeed.NewSyslog(cfg.Syslog)
		if err != nil {
			closeFeeds(feeds)
			return nil, err
		}
		feeds = append(feeds, feed{"syslog", s})
	}
	return feeds, nil
}

func closeFeeds(feeds []feed) {
	for _, f := range feeds {
		f.out.Close()
	}
}

// openWriters opens the JSONL and ClickHouse destinations of events and
// alerts. The returned function closes them all.
func openWriters(ctx context.Context, cfg Config) (events []sink.Writer, alerts []alertfeed.Output, closeAll func(), err error) {
	var opened []sink.Writer
	closeAll = func() {
		for _, w := range opened {
			w.Close()
		}
	}
	jsonl := func(path string) (sink.Writer, error) {
		w, err := sink.NewJSONL(path)
		if err != nil {
			return nil, err
		}
		opened = append(opened, w)
		return w, nil
	}
	if cfg.EventsOut != "" {
		w, err := jsonl(cfg.EventsOut)
		if err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		events = append(events, w)
	}
	if cfg.AlertsOut != "" {
		w, err := jsonl(cfg.AlertsOut)
		if err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		alerts = append(alerts, w)
	}
	if cfg.ClickHouse.Addr != "" {
		ch, err := sink.OpenClickHouse(ctx, cfg.ClickHouse)
		if err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		opened = append(opened, ch)
		events = append(events, ch)
		alerts = append(alerts, ch)
	}
	return events, alerts, closeAll, nil
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
