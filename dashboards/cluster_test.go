package dashboards

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// TestPanelsOnCluster runs every panel of every dashboard against the
// mcpwatch database of a ClickHouse cluster (Distributed tables over two
// servers, scripts/clickhouse-cluster.sh) that scripts/test.sh or scripts/scaleout.sh filled,
// over the time range of what it stored: every query runs, and every
// dashboard shows rows. The script sets MCPWATCH_TEST_CLICKHOUSE_CLUSTER to
// the servers' addresses, host:port,host:port.
func TestPanelsOnCluster(t *testing.T) {
	addrs := os.Getenv("MCPWATCH_TEST_CLICKHOUSE_CLUSTER")
	if addrs == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but MCPWATCH_TEST_CLICKHOUSE_CLUSTER is empty; scripts/test.sh runs this test on a cluster it fills")
		}
		t.Skip("MCPWATCH_TEST_CLICKHOUSE_CLUSTER is not set: scripts/test.sh and scripts/scaleout.sh run this test on a cluster they fill")
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: strings.Split(addrs, ","), Auth: clickhouse.Auth{Database: "mcpwatch"}})
	if err != nil {
		t.Fatalf("connect to ClickHouse at %s: %v", addrs, err)
	}
	defer conn.Close()
	ctx := context.Background()
	var from, to time.Time
	if err := conn.QueryRow(ctx, "SELECT min(ts), max(ts) FROM messages").Scan(&from, &to); err != nil {
		t.Fatal(err)
	}
	r := Request{From: from.Truncate(time.Minute), To: to.Truncate(time.Minute).Add(time.Minute), Interval: time.Minute}
	for _, d := range readDashboardFiles(t) {
		r.Variables = variables(ctx, t, conn, d, r)
		rows := 0
		for _, p := range d.Panels {
			for _, target := range p.Targets {
				rows += len(run(ctx, t, conn, d.UID+" / "+p.Title, target.RawSQL, r))
			}
		}
		if rows == 0 {
			t.Errorf("%s: no panel shows a row", d.UID)
		}
	}
}
