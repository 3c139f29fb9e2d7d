package sink

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// DropExpiredPartitions enforces RetentionDays by dropping the daily
// partitions of the event and alert tables that lie wholly before now minus
// RetentionDays. It works on every server version, which matters on those
// without TTL, and is cheap: dropping a partition deletes its files, no
// rewrite. dead_letters is left alone; those rows wait for a person. It
// returns how many partitions it dropped; with no retention it does nothing.
func (c *ClickHouse) DropExpiredPartitions(ctx context.Context, now time.Time) (int, error) {
	if c.cfg.RetentionDays == 0 {
		return 0, nil
	}
	cutoff, _ := strconv.Atoi(now.UTC().AddDate(0, 0, -c.cfg.RetentionDays).Format("20060102"))
	daily := map[string]bool{c.alerts.name: true}
	for _, t := range c.events {
		daily[t.name] = true
	}
	rows, err := c.conn.Query(ctx, "SELECT DISTINCT table, partition FROM system.parts WHERE database = ? AND active", c.cfg.Database)
	if err != nil {
		return 0, fmt.Errorf("list partitions of %s on %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	type part struct {
		table string
		day   int
	}
	var expired []part
	for rows.Next() {
		var table, partition string
		if err := rows.Scan(&table, &partition); err != nil {
			rows.Close()
			return 0, fmt.Errorf("list partitions of %s on %s: %w", c.cfg.Database, c.cfg.Addr, err)
		}
		day, err := strconv.Atoi(partition)
		if daily[table] && err == nil && day < cutoff {
			expired = append(expired, part{table, day})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("list partitions of %s on %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	for i, p := range expired {
		q := fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION %d", quoteIdent(c.cfg.Database), quoteIdent(p.table), p.day)
		if err := c.conn.Exec(ctx, q); err != nil {
			return i, fmt.Errorf("drop partition %d of %s.%s on %s: %w", p.day, c.cfg.Database, p.table, c.cfg.Addr, err)
		}
	}
	return len(expired), nil
}
