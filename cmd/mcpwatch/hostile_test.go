package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
	"github.com/mcpwatch/mcpwatch/internal/testenv"
	"github.com/mcpwatch/mcpwatch/sink"
)

// The hostile scenario of issue 13 run through the CLI into ClickHouse and
// read back with servers and alerts: no raw control character reaches the
// terminal, the token reaches no table, and the padded tools/call is
// alerted.
func TestHostileTrafficCLI(t *testing.T) {
	addr := testenv.ClickHouseAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rec := &tcprec.Recorder{}
	if err := scenario.RunHostile(ctx, rec); err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join(t.TempDir(), "hostile.pcap")
	if err := scenario.WriteCapture(pcap, rec); err != nil {
		t.Fatal(err)
	}
	db := fmt.Sprintf("mcpwatch_hostile_%d", time.Now().UnixNano())
	ch := []string{"--clickhouse", addr, "--clickhouse-database", db}
	run := mcpwatch(t, nil, append([]string{"run", "--pcap", pcap, "--alerts-out", ""}, ch...)...)
	if run.code != 0 {
		t.Fatalf("run: exit %d\n%s", run.code, run.stderr)
	}
	servers := mcpwatch(t, nil, append([]string{"servers"}, ch...)...)
	alerts := mcpwatch(t, nil, append([]string{"alerts"}, ch...)...)
	for name, out := range map[string]string{"run summary": run.stderr, "servers": servers.stdout, "alerts": alerts.stdout} {
		if n := rawControls(out); n != 0 {
			t.Errorf("%s prints %d raw control characters:\n%q", name, n, out)
		}
		if strings.Contains(out, scenario.HostileToken) {
			t.Errorf("%s prints the token", name)
		}
	}
	if !strings.Contains(servers.stdout, `files\x1b[2J`) || !strings.Contains(alerts.stdout, "oversized-request-headers") {
		t.Errorf("servers:\n%s\nalerts:\n%s", servers.stdout, alerts.stdout)
	}

	store, err := sink.OpenClickHouse(ctx, sink.ClickHouseConfig{Addr: addr, Database: db, Username: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for table, cols := range map[string]string{
		"messages": "server_key, error_message, resource_uri, http_path, user_agent, server_name",
		"auth":     "server_key, www_authenticate, resource_metadata, http_path, error, resource",
		"sessions": "server_key, server_name",
		"alerts":   "server_key, summary",
	} {
		var n uint64
		q := fmt.Sprintf("SELECT count() FROM %s.%s WHERE position(concat(%s), ?) > 0", db, table, cols)
		if err := store.Conn().QueryRow(ctx, q, scenario.HostileToken).Scan(&n); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if n != 0 {
			t.Errorf("the token is in %d rows of %s", n, table)
		}
	}
}

// rawControls counts the characters a terminal would act on, line ends
// aside.
func rawControls(s string) int {
	n := 0
	for _, r := range s {
		if r != '\n' && event.Unprintable(r) {
			n++
		}
	}
	if !utf8.ValidString(s) {
		n++
	}
	return n
}
