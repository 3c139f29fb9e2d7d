package dashboards

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testenv"
)

// TestPanelQueriesAtVolume runs every panel over a larger capture from
// bench/gen (about fifty conversations of as many clients, replayed from
// real SDK recordings, one every six seconds on average) and checks what can be checked without
// knowing the capture by heart: no panel fails, totals agree with the
// tables, and the top talkers are the top ones.
func TestPanelQueriesAtVolume(t *testing.T) {
	testenv.ClickHouseAddr(t) // skip before generating when there is no ClickHouse
	if testing.Short() {
		t.Skip("generates a 3 MB capture")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pcap := filepath.Join(t.TempDir(), "bench.pcap")
	// bench/gen starts its captures at 2026-11-27 09:00 UTC.
	gen := exec.CommandContext(ctx, "go", "run", "./bench/gen", "-size", "3MB", "-gap", "6s", "-out", pcap)
	gen.Dir = ".."
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("bench/gen: %v\n%s", err, out)
	}
	conn := store(ctx, t, pcap)

	total := func(sql string) int {
		t.Helper()
		rows, err := query(ctx, conn, sql)
		if err != nil || len(rows) != 1 {
			t.Fatalf("%s: %v %v", sql, rows, err)
		}
		for _, v := range rows[0] {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		return 0
	}
	r := Request{
		From:     time.Date(2026, 11, 27, 8, 30, 0, 0, time.UTC),
		To:       time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		Interval: time.Minute,
	}
	results := map[string][]row{}
	for _, d := range readDashboardFiles(t) {
		r.Variables = variables(ctx, t, conn, d, r)
		for _, p := range d.Panels {
			name := d.UID + " / " + p.Title
			results[name] = run(ctx, t, conn, name, p.Targets[0].RawSQL, r)
		}
	}

	// The stat counts servers that carried MCP; the view also lists
	// servers seen only as TLS connections whose SNI looks like MCP.
	servers := total("SELECT count() FROM servers WHERE NOT tls_only")
	exactly(t, results["mcpwatch-overview / MCP servers"], row{"servers": strconv.Itoa(servers)})
	if n := len(results["mcpwatch-overview / Active servers"]); n < 3 {
		t.Errorf("%d buckets with active servers, want one a minute over the minutes the capture spans", n)
	}
	if got, want := sum(t, results["mcpwatch-traffic / Bytes by server"], "bytes"), total("SELECT sum(bytes) FROM messages FINAL"); got != want {
		t.Errorf("bytes by server add up to %d, messages hold %d", got, want)
	}
	if got, want := sum(t, results["mcpwatch-traffic / Bytes by client"], "bytes"), total("SELECT sum(bytes) FROM messages FINAL"); got != want {
		t.Errorf("bytes by client add up to %d, messages hold %d", got, want)
	}
	calls := total("SELECT uniqExact(event_id) FROM messages WHERE msg_type = 'request' AND method = 'tools/call'")
	exactly(t, results["mcpwatch-overview / Tool calls"], row{"tool_calls": strconv.Itoa(calls)})
	if got := sum(t, results["mcpwatch-overview / Tool calls by tool"], "calls"); got != calls {
		t.Errorf("tool calls by tool add up to %d, want %d", got, calls)
	}

	talkers := results["mcpwatch-traffic / Top talkers"]
	pairs := total("SELECT count() FROM (SELECT DISTINCT client_address, server_key FROM messages)")
	if want := min(pairs, 20); len(talkers) != want {
		t.Errorf("%d top talkers, want %d of %d pairs", len(talkers), want, pairs)
	}
	largest := total("SELECT max(b) FROM (SELECT sum(bytes) AS b FROM messages FINAL GROUP BY client_address, server_key)")
	if len(talkers) > 0 && talkers[0]["bytes_total"] != strconv.Itoa(largest) {
		t.Errorf("top talker has %s bytes, the largest pair %d", talkers[0]["bytes_total"], largest)
	}
	for i := 1; i < len(talkers); i++ {
		a, _ := strconv.Atoi(talkers[i-1]["bytes_total"])
		b, _ := strconv.Atoi(talkers[i]["bytes_total"])
		if b > a {
			t.Errorf("top talker %d has %d bytes, more than the one before (%d)", i, b, a)
		}
	}
}
