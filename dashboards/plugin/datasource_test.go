package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/mcpwatch/mcpwatch/internal/testenv"
	"github.com/mcpwatch/mcpwatch/pipeline"
	"github.com/mcpwatch/mcpwatch/sink"
)

// seeded is a datasource on a database the pipeline filled from
// testdata/demo.pcap with the demo allowlist.
func seeded(t *testing.T) *Datasource {
	t.Helper()
	addr, db := testenv.ClickHouseDatabase(t, "mcpwatch_plugin_seed")
	cfg := pipeline.DefaultConfig()
	cfg.Sensor = "plugin-test"
	cfg.Pcaps = []string{"../../testdata/demo.pcap"}
	cfg.AllowlistPath = "../../testdata/demo-allowlist.yaml"
	cfg.TokenKeyFile = filepath.Join(t.TempDir(), "token.key")
	cfg.ClickHouse = sink.ClickHouseConfig{Addr: addr, Database: db}
	if _, err := pipeline.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return open(t, Settings{Addr: addr, Database: db})
}

func open(t *testing.T, s Settings) *Datasource {
	t.Helper()
	ds, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ds.Dispose)
	return ds
}

func TestCheckHealth(t *testing.T) {
	addr, empty := testenv.ClickHouseDatabase(t, "mcpwatch_plugin_empty")
	cases := []struct {
		name   string
		ds     *Datasource
		status backend.HealthStatus
		want   string
	}{
		{"migrated", seeded(t), backend.HealthStatusOk, "mcpwatch schema in mcpwatch_plugin_seed_"},
		{"empty database", open(t, Settings{Addr: addr, Database: empty}), backend.HealthStatusError,
			"lacks messages, sessions, auth, manifests, flows, alerts, servers, clients, server_tools, posture"},
		// Port 1 on loopback: nothing listens there.
		{"unreachable", open(t, Settings{Addr: "127.0.0.1:1"}), backend.HealthStatusError, "at 127.0.0.1:1 does not answer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := c.ds.CheckHealth(context.Background(), &backend.CheckHealthRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != c.status || !strings.Contains(res.Message, c.want) {
				t.Errorf("CheckHealth = %v %q, want %v with %q", res.Status, res.Message, c.status, c.want)
			}
		})
	}
}

// column is the values of a frame's field as text.
func column(t *testing.T, f *data.Frame, name string) []string {
	t.Helper()
	field, _ := f.FieldByName(name)
	if field == nil {
		t.Fatalf("frame %s has no field %s", f.Name, name)
	}
	out := make([]string, field.Len())
	for i := range out {
		v := field.At(i)
		if tm, ok := v.(time.Time); ok {
			v = tm.UTC().Format(time.DateTime)
		}
		out[i] = fmt.Sprint(v)
	}
	return out
}

func TestQueryData(t *testing.T) {
	ds := seeded(t)
	// Around demo.pcap, recorded at 2026-11-27 17:31:28 UTC.
	around := backend.TimeRange{From: time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)}
	before := backend.TimeRange{From: time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC)}
	q := func(refID string, tr backend.TimeRange, m Query) backend.DataQuery {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return backend.DataQuery{RefID: refID, TimeRange: tr, JSON: b}
	}
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{
		q("servers", around, Query{View: "servers"}),
		q("shadow", around, Query{View: "servers", Server: "http://10.0.0.9:3000/mcp"}),
		q("high", around, Query{View: "alerts", Severities: []string{"high"}}),
		q("unexpected", around, Query{View: "alerts", Rule: "unexpected-server", Limit: 10}),
		q("earlier", before, Query{View: "alerts"}),
		q("tools", around, Query{View: "tools", Server: "http://files.corp.example:8080/mcp"}),
		q("posture", around, Query{View: "posture"}),
		q("clients", around, Query{View: "clients"}),
		q("shadow-clients", around, Query{View: "clients", Server: "http://10.0.0.9:3000/mcp"}),
		q("manifests", around, Query{View: "manifests", Limit: 1}),
		q("unknown", around, Query{View: "sessions"}),
		q("no-filter", around, Query{View: "tools", Severities: []string{"high"}}),
		{RefID: "bad-json", TimeRange: around, JSON: json.RawMessage(`{"view":`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	frame := func(refID string) *data.Frame {
		t.Helper()
		r := resp.Responses[refID]
		if r.Error != nil || len(r.Frames) != 1 {
			t.Fatalf("%s: error %v, %d frames; want one frame", refID, r.Error, len(r.Frames))
		}
		return r.Frames[0]
	}
	equal := func(refID string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %q, want %q", refID, got, want)
		}
	}

	// Both last seen in the same second, so by server_key.
	servers := frame("servers")
	equal("servers", column(t, servers, "server_key"), "http://10.0.0.9:3000/mcp", "http://files.corp.example:8080/mcp")
	equal("servers", column(t, servers, "protocol_versions"), "2025-06-18", "2025-11-25")
	equal("servers", column(t, servers, "server_name"), "shadow-db", "files")
	equal("shadow", column(t, frame("shadow"), "server_name"), "shadow-db")

	// demo.pcap: unexpected-server for the shadow server and
	// unauthenticated-server for both are high; plaintext-transport is not.
	high := frame("high")
	equal("high", column(t, high, "severity"), "high", "high", "high")
	if rules := strings.Join(column(t, high, "rule_id"), " "); strings.Contains(rules, "plaintext-transport") || !strings.Contains(rules, "unexpected-server") {
		t.Errorf("high: rules %s", rules)
	}
	unexpected := frame("unexpected")
	equal("unexpected", column(t, unexpected, "server_key"), "http://10.0.0.9:3000/mcp")
	equal("unexpected", column(t, unexpected, "client_address"), "10.0.1.11")
	equal("unexpected", column(t, unexpected, "ts"), "2026-11-27 17:31:28")
	if n := frame("earlier").Rows(); n != 0 {
		t.Errorf("earlier: %d alerts before the capture, want 0", n)
	}
	equal("tools", column(t, frame("tools"), "tool_name"), "read_file", "search_docs")
	equal("tools", column(t, frame("tools"), "read_only"), "0", "1")

	// demo.pcap's servers answer tools/call without credentials over
	// plaintext HTTP: posture fails auth-required for both.
	posture := frame("posture")
	equal("posture", column(t, posture, "server_key"), "http://10.0.0.9:3000/mcp", "http://files.corp.example:8080/mcp")
	equal("posture", column(t, posture, "grade"), "F", "F")
	for _, failed := range column(t, posture, "failed") {
		if !strings.Contains(failed, "auth-required") {
			t.Errorf("posture: failed checks %q, want auth-required among them", failed)
		}
	}
	equal("clients", column(t, frame("clients"), "client_name"), "claude-code", "cursor")
	equal("shadow-clients", column(t, frame("shadow-clients"), "client_address"), "10.0.1.11")
	manifests := frame("manifests")
	equal("manifests", column(t, manifests, "server_key"), "http://files.corp.example:8080/mcp")
	equal("manifests", column(t, manifests, "tools"), "read_file, search_docs")
	for refID, want := range map[string]string{
		"unknown":   `unknown view "sessions"`,
		"no-filter": "view tools has no severities filter",
		"bad-json":  "unexpected end of JSON input",
	} {
		r := resp.Responses[refID]
		if r.Error == nil || !strings.Contains(r.Error.Error(), want) || r.Status != backend.StatusBadRequest {
			t.Errorf("%s: error %v (status %v), want a bad request with %q", refID, r.Error, r.Status, want)
		}
	}
}
