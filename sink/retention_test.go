package sink

import (
	"context"
	"testing"
	"time"
)

func TestDropExpiredPartitions(t *testing.T) {
	c := openTestClickHouse(t)
	c.cfg.RetentionDays = 7
	ctx := context.Background()
	recent := sampleEvents(0) // 2026-07-28
	old := sampleEvents(1)
	for _, e := range old {
		e.TS = e.TS.AddDate(0, 0, -27) // 2026-07-01
	}
	if err := c.WriteEvents(ctx, append(recent, old...)); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteAlerts(ctx, sampleAlerts(0)); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 7, 28, 23, 0, 0, 0, time.UTC)
	dropped, err := c.DropExpiredPartitions(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if dropped != len(old) { // one old partition in each event table
		t.Errorf("dropped %d partitions, want %d", dropped, len(old))
	}
	db := quoteIdent(c.Database())
	for _, e := range recent {
		tbl := c.events[e.Kind].name
		if n := queryUint64(t, c, "SELECT count() FROM "+db+"."+tbl); n != 1 {
			t.Errorf("%s: %d rows after retention, want the 1 recent one", tbl, n)
		}
	}
	if n := queryUint64(t, c, "SELECT count() FROM "+db+".alerts"); n != 2 {
		t.Errorf("alerts: %d rows after retention, want 2", n)
	}
	// A second pass finds nothing more to drop.
	if dropped, err := c.DropExpiredPartitions(ctx, now); err != nil || dropped != 0 {
		t.Errorf("second pass dropped %d (%v), want 0", dropped, err)
	}
}
