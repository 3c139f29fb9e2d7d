package pipeline

import (
	"context"
	"time"

	"github.com/mcpwatch/mcpwatch/sink"
)

// refreshPosture re-grades every server from the stored events and writes
// the posture tables every cfg.PostureEvery, until ctx ends, for the
// Grafana posture dashboard. A failed pass (ClickHouse away) is logged and
// the next one retries; several store replicas write the same scorecards,
// which the tables keep once.
func refreshPosture(ctx context.Context, cfg Config) error {
	tick := time.NewTicker(cfg.PostureEvery)
	defer tick.Stop()
	for {
		if err := gradeStored(ctx, cfg); err != nil && ctx.Err() == nil {
			cfg.Log.Warn("posture not refreshed; retrying at the next interval", "clickhouse", cfg.ClickHouse.Addr, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// gradeStored grades every server from the events stored in ClickHouse
// and writes the posture tables: what mcpwatch posture --save does.
func gradeStored(ctx context.Context, cfg Config) error {
	ch, err := sink.OpenClickHouseReader(ctx, cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer ch.Close()
	cards, err := ch.AssessPosture(ctx)
	if err != nil {
		return err
	}
	if err := ch.SavePosture(ctx, time.Now().UTC(), cards); err != nil {
		return err
	}
	cfg.Log.Debug("posture graded", "servers", len(cards))
	return nil
}
