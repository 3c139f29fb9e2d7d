package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/testenv"
)

// The demo run stored in ClickHouse, then read back with servers and
// alerts, as tables and as JSON.
func TestServersAndAlertsCommands(t *testing.T) {
	addr := testenv.ClickHouseAddr(t)
	db := fmt.Sprintf("mcpwatch_cli_%d", time.Now().UnixNano())
	ch := []string{"--clickhouse", addr, "--clickhouse-database", db}
	if r := mcpwatch(t, nil, append([]string{"run", "--pcap", repoFile("demo.pcap"), "--allowlist", repoFile("demo-allowlist.yaml"), "--alerts-out", ""}, ch...)...); r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}

	r := mcpwatch(t, nil, append([]string{"servers", "--json"}, ch...)...)
	var servers []struct {
		ServerKey        string   `json:"server_key"`
		ServerName       string   `json:"server_name"`
		ProtocolVersions []string `json:"protocol_versions"`
		AuthRequired     bool     `json:"auth_required"`
	}
	if err := jsonLines(r.stdout, &servers); err != nil || r.code != 0 {
		t.Fatalf("servers --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	byKey := map[string]string{}
	for _, s := range servers {
		byKey[s.ServerKey] = s.ServerName + " " + strings.Join(s.ProtocolVersions, ",")
		if s.AuthRequired {
			t.Errorf("%s: auth required, but the demo servers take no credentials", s.ServerKey)
		}
	}
	if byKey["http://10.0.0.9:3000/mcp"] != "shadow-db 2025-06-18" || byKey["http://files.corp.example:8080/mcp"] != "files 2025-11-25" {
		t.Errorf("inventory %v", byKey)
	}
	if table := mcpwatch(t, nil, append([]string{"servers"}, ch...)...); !strings.Contains(table.stdout, "SERVER") || !strings.Contains(table.stdout, "shadow-db") {
		t.Errorf("servers table:\n%s", table.stdout)
	}

	r = mcpwatch(t, nil, append([]string{"alerts", "--json", "--rule", "unexpected-server"}, ch...)...)
	var alerts []*event.Alert
	if err := jsonLines(r.stdout, &alerts); err != nil || r.code != 0 {
		t.Fatalf("alerts --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(alerts) != 1 || alerts[0].ServerKey != "http://10.0.0.9:3000/mcp" {
		t.Errorf("unexpected-server alerts: %+v", alerts)
	}
	if r := mcpwatch(t, nil, append([]string{"alerts", "--severity", "high", "--server", "http://files.corp.example:8080/mcp"}, ch...)...); !strings.Contains(r.stdout, "unauthenticated-server") || strings.Contains(r.stdout, "unexpected-server") || strings.Contains(r.stdout, "plaintext-transport") {
		t.Errorf("alerts filtered by severity and server:\n%s", r.stdout)
	}
	if r := mcpwatch(t, nil, append([]string{"alerts", "--severity", "loud"}, ch...)...); r.code == 0 || !strings.Contains(r.stderr, "--severity") {
		t.Errorf("bad severity accepted: %s", r.stderr)
	}
}

// jsonLines decodes --json output, one object per line, into a slice.
func jsonLines[T any](out string, into *[]T) error {
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			return fmt.Errorf("line %q: %w", line, err)
		}
		*into = append(*into, v)
	}
	return nil
}
