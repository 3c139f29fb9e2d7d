package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// dashboardFile is what the test reads of a committed dashboard: the SQL
// of every panel target and variable, as Grafana would load it.
type dashboardFile struct {
	UID    string `json:"uid"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			RefID      string `json:"refId"`
			RawSQL     string `json:"rawSql"`
			Datasource struct {
				Type string `json:"type"`
				UID  string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func readDashboardFiles(t *testing.T) []dashboardFile {
	t.Helper()
	paths, err := filepath.Glob("json/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboards in json/ (%v)", err)
	}
	var out []dashboardFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboardFile
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, d)
	}
	return out
}

// row is one result row, every value as text: times in UTC as ClickHouse
// prints them, arrays as Go prints slices.
type row map[string]string

func query(ctx context.Context, conn driver.Conn, sql string) ([]row, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := rows.Columns()
	types := rows.ColumnTypes()
	var out []row
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		r := row{}
		for i, c := range cols {
			v := reflect.ValueOf(dest[i]).Elem().Interface()
			if tm, ok := v.(time.Time); ok {
				v = tm.UTC().Format(time.DateTime)
			}
			r[c] = fmt.Sprint(v)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// queryRequest is the dashboards' time range around the seed, with one
// minute buckets, as Grafana would send it for a panel about 60 points wide.
func queryRequest() Request {
	return Request{
		From:     time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC),
		To:       time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC),
		Interval: time.Minute,
	}
}

// variables runs the dashboard's variable queries, as Grafana does when it
// loads a dashboard, and selects "All" of every variable, the dashboards'
// default.
func variables(ctx context.Context, t *testing.T, conn driver.Conn, d dashboardFile, r Request) map[string]Variable {
	t.Helper()
	vars := map[string]Variable{}
	for _, v := range d.Templating.List {
		var options []string
		switch v.Type {
		case "custom":
			var values string
			if err := json.Unmarshal(v.Query, &values); err != nil {
				t.Fatalf("%s: variable %s: %v", d.UID, v.Name, err)
			}
			options = strings.Split(values, ",")
		case "query":
			var q struct {
				RawSQL string `json:"rawSql"`
			}
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Fatalf("%s: variable %s: %v", d.UID, v.Name, err)
			}
			// Variable queries see no variables, only the time range.
			sql, err := Expand(q.RawSQL, r)
			if err != nil {
				t.Fatalf("%s: variable %s: %v", d.UID, v.Name, err)
			}
			rows, err := query(ctx, conn, sql)
			if err != nil {
				t.Fatalf("%s: variable %s: %v\n%s", d.UID, v.Name, err, sql)
			}
			for _, option := range rows {
				if len(option) != 1 {
					t.Fatalf("%s: variable %s: %d columns, want 1", d.UID, v.Name, len(option))
				}
				for _, val := range option {
					options = append(options, val)
				}
			}
		default:
			t.Fatalf("%s: variable %s: type %s not handled", d.UID, v.Name, v.Type)
		}
		if len(options) == 0 {
			t.Errorf("%s: variable %s has no options over the seed", d.UID, v.Name)
		}
		vars[v.Name] = Variable{All: true, Values: options}
	}
	return vars
}

// TestPanelQueries runs every panel target of every committed dashboard,
// expanded as Grafana and the datasource would, against the seeded
// ClickHouse: once with "All" selected (the default) and once with one
// value of every variable selected.
func TestPanelQueries(t *testing.T) {
	conn := seed(t)
	ctx := context.Background()
	checked := map[string]bool{}
	for _, d := range readDashboardFiles(t) {
		r := queryRequest()
		r.Variables = variables(ctx, t, conn, d, r)
		filtered := r
		filtered.Variables = selection(t, r.Variables)
		filteredRows := 0
		for _, p := range d.Panels {
			name := d.UID + " / " + p.Title
			checked[name] = true
			t.Run(name, func(t *testing.T) {
				check, ok := panelChecks[name]
				if !ok {
					t.Error("no expectation for this panel")
				}
				if len(p.Targets) != 1 || p.Targets[0].Datasource.Type != DatasourceType || p.Targets[0].Datasource.UID != DatasourceUID {
					t.Fatalf("want one target on the %s datasource %s", DatasourceType, DatasourceUID)
				}
				sql := p.Targets[0].RawSQL
				if rows := run(ctx, t, conn, "All selected", sql, r); check != nil && rows != nil {
					check(t, rows)
				}
				rows := run(ctx, t, conn, "one value selected", sql, filtered)
				onlySelected(t, rows, filtered.Variables)
				filteredRows += len(rows)
			})
		}
		// The selection is of values the seed has: a filter that
		// dropped everything would pass onlySelected vacuously.
		if filteredRows == 0 {
			t.Errorf("%s: no panel returns rows with one value of each variable selected", d.UID)
		}
	}
	for name := range panelChecks {
		if !checked[name] {
			t.Errorf("%s: expected, but no dashboard has this panel", name)
		}
	}
}

// TestBucket checks bucket, the 18.16 form of the datasource's
// $__timeInterval: on 18.16 the macro's expansion fails (no
// toStartOfInterval), so the dashboards cannot use it; on a server that has
// toStartOfInterval, both give the same buckets.
func TestBucket(t *testing.T) {
	conn := seed(t)
	ctx := context.Background()
	var version string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	r := queryRequest()
	r.Interval = 5 * time.Minute
	ours := run(ctx, t, conn, "bucket", "SELECT "+bucket("ts")+", count() AS n FROM messages WHERE $__timeFilter(ts) GROUP BY time ORDER BY time", r)
	if len(ours) < 2 {
		t.Fatalf("%d buckets over the seed, want several: %v", len(ours), ours)
	}
	sql, err := Expand("SELECT $__timeInterval(ts) AS time, count() AS n FROM messages WHERE $__timeFilter(ts) GROUP BY time ORDER BY time", r)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := query(ctx, conn, sql)
	if strings.HasPrefix(version, "18.") {
		if err == nil || !strings.Contains(err.Error(), "toStartOfInterval") {
			t.Errorf("$__timeInterval on ClickHouse %s: %v, want an error about toStartOfInterval", version, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	exactly(t, theirs, ours...)
}

func run(ctx context.Context, t *testing.T, conn driver.Conn, name, sql string, r Request) []row {
	t.Helper()
	expanded, err := Expand(sql, r)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return nil
	}
	rows, err := query(ctx, conn, expanded)
	if err != nil {
		t.Errorf("%s: %v\n%s", name, err, expanded)
		return nil
	}
	return rows
}

// selected is one value of each variable the dashboards have, chosen so
// that each narrows the seed to something non-trivial.
var selected = map[string]string{
	"server":   "http://10.0.0.9:3000/mcp",
	"client":   "10.0.1.11",
	"severity": "high",
	"rule":     "unexpected-server",
}

// columnOf is the result column a variable filters.
var columnOf = map[string]string{"server": "server_key", "client": "client_address", "severity": "severity", "rule": "rule_id"}

func selection(t *testing.T, all map[string]Variable) map[string]Variable {
	t.Helper()
	out := map[string]Variable{}
	for name := range all {
		v, ok := selected[name]
		if !ok {
			t.Fatalf("variable %s: no value to select in the test", name)
		}
		out[name] = Variable{Values: []string{v}}
	}
	return out
}

// onlySelected checks that the filtered result holds only the selected
// values in the columns the variables filter.
func onlySelected(t *testing.T, rows []row, vars map[string]Variable) {
	t.Helper()
	for v, sel := range vars {
		col := columnOf[v]
		for _, r := range rows {
			if got, ok := r[col]; ok && got != sel.Values[0] {
				t.Errorf("with %s=%s: row has %s=%s", v, sel.Values[0], col, got)
			}
		}
	}
}

// has fails unless some row has every column value of want.
func has(t *testing.T, rows []row, want row) {
	t.Helper()
	for _, r := range rows {
		if matches(r, want) {
			return
		}
	}
	t.Errorf("no row with %v in %v", want, rows)
}

func hasNo(t *testing.T, rows []row, unwanted row) {
	t.Helper()
	for _, r := range rows {
		if matches(r, unwanted) {
			t.Errorf("row %v, want none with %v", r, unwanted)
		}
	}
}

func matches(r, want row) bool {
	for k, v := range want {
		if r[k] != v {
			return false
		}
	}
	return true
}

// exactly fails unless the rows are want, in order, on want's columns.
func exactly(t *testing.T, rows []row, want ...row) {
	t.Helper()
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d:\n got %v\nwant %v", len(rows), len(want), rows, want)
		return
	}
	for i := range want {
		if !matches(rows[i], want[i]) {
			t.Errorf("row %d is %v, want %v", i, rows[i], want[i])
		}
	}
}

func sum(t *testing.T, rows []row, col string) int {
	t.Helper()
	n := 0
	for _, r := range rows {
		v, err := strconv.Atoi(r[col])
		if err != nil {
			t.Fatalf("column %s: %v", col, err)
		}
		n += v
	}
	return n
}

// Facts of the seed (seed_test.go) that several panels show.
const (
	shadowServer = "http://10.0.0.9:3000/mcp"           // demo.pcap, not on the allowlist
	filesServer  = "http://files.corp.example:8080/mcp" // demo.pcap and mixed-nonmcp.pcap, allowlisted
	secureServer = "http://secure.corp.example:9000/mcp"
	docsServer   = "http://docs.corp.example:8080/mcp"
	demoBucket   = "2026-11-27 17:31:00"
	authBucket   = "2026-11-27 17:36:00"
	rugBucket    = "2026-11-27 17:41:00"
	mixedBucket  = "2026-11-27 17:46:00"
)

// demoAlertsBySeverity: demo.pcap raises unexpected-server and two
// unauthenticated-server (high), and two plaintext-transport (medium).
func demoAlertsBySeverity(t *testing.T, rows []row) {
	has(t, rows, row{"time": demoBucket, "severity": "high", "alerts": "3"})
	has(t, rows, row{"time": demoBucket, "severity": "medium", "alerts": "2"})
	has(t, rows, row{"time": rugBucket, "severity": "high"})
	if n := sum(t, rows, "alerts"); n < 10 {
		t.Errorf("%d alerts over the seed, want at least demo's 5 and the scenarios'", n)
	}
}

// panelChecks are the rows each panel must return over the seed, with
// "All" selected, by "dashboard uid / panel title". A panel without an
// entry fails the test.
var panelChecks = map[string]func(t *testing.T, rows []row){
	"mcpwatch-overview / MCP servers": func(t *testing.T, rows []row) { exactly(t, rows, row{"servers": "4"}) },
	// demo 2, auth 2 (the refused connection and the accepted one),
	// rug pull 1, mixed 1.
	"mcpwatch-overview / Sessions":   func(t *testing.T, rows []row) { exactly(t, rows, row{"sessions": "6"}) },
	"mcpwatch-overview / Tool calls": func(t *testing.T, rows []row) { exactly(t, rows, row{"tool_calls": "10"}) },
	"mcpwatch-overview / Alerts": func(t *testing.T, rows []row) {
		if len(rows) != 1 || rows[0]["alerts"] == "0" {
			t.Errorf("alerts %v, want one non-zero count", rows)
		}
	},
	"mcpwatch-overview / Active servers": func(t *testing.T, rows []row) {
		exactly(t, rows,
			row{"time": demoBucket, "servers": "2"}, row{"time": authBucket, "servers": "1"},
			row{"time": rugBucket, "servers": "1"}, row{"time": mixedBucket, "servers": "1"})
	},
	"mcpwatch-overview / Sessions started": func(t *testing.T, rows []row) {
		exactly(t, rows,
			row{"time": demoBucket, "server_key": shadowServer, "sessions": "1"},
			row{"time": demoBucket, "server_key": filesServer, "sessions": "1"},
			row{"time": authBucket, "server_key": secureServer, "sessions": "2"},
			row{"time": rugBucket, "server_key": docsServer, "sessions": "1"},
			row{"time": mixedBucket, "server_key": filesServer, "sessions": "1"})
	},
	"mcpwatch-overview / Tool calls by tool": func(t *testing.T, rows []row) {
		has(t, rows, row{"time": demoBucket, "tool_name": "read_file", "calls": "2"})
		has(t, rows, row{"time": rugBucket, "tool_name": "fetch_notes", "calls": "1"})
		if n := sum(t, rows, "calls"); n != 10 {
			t.Errorf("%d calls, want the 10 of the Tool calls stat", n)
		}
	},
	"mcpwatch-overview / Alerts by severity": demoAlertsBySeverity,

	"mcpwatch-posture / Posture grades": func(t *testing.T, rows []row) {
		// The demo's and the rug pull's servers take tools/call without
		// credentials; the OAuth server passes all but TLS.
		exactly(t, rows,
			row{"server_key": shadowServer, "grade": "F", "failed": "transport-encrypted, auth-required", "sources": "pcap"},
			row{"server_key": docsServer, "grade": "F", "grade_reasons": "auth-required failed", "failed": "transport-encrypted, auth-required, manifest-stable"},
			row{"server_key": filesServer, "grade": "F"},
			row{"server_key": secureServer, "grade": "D", "grade_reasons": "transport-encrypted failed", "failed": "transport-encrypted", "not_observed": "1"})
	},
	"mcpwatch-posture / Posture checks": func(t *testing.T, rows []row) {
		has(t, rows, row{"server_key": secureServer, "check_id": "prm-served", "status": "pass"})
		has(t, rows, row{"server_key": secureServer, "check_id": "audience-enforced", "status": "pass"})
		has(t, rows, row{"server_key": secureServer, "check_id": "origin-validated", "status": "not_observed", "evidence": ""})
		has(t, rows, row{"server_key": docsServer, "check_id": "manifest-stable", "status": "fail"})
		if len(rows) != 4*15 {
			t.Errorf("%d check rows, want 15 for each of 4 servers", len(rows))
		}
	},
	"mcpwatch-posture / Servers": func(t *testing.T, rows []row) {
		// Newest first; files.corp.example was seen again in mixed. The
		// PRM document, fetched from its well-known URL, counts for the
		// server it names.
		exactly(t, rows,
			row{"server_key": filesServer, "server_name": "files", "protocol_versions": "2025-11-25",
				"allowlisted": "yes", "auth_required": "no", "prm_served": "no", "accepted_audiences": "", "sessions": "2"},
			row{"server_key": docsServer, "server_name": "docs", "allowlisted": "no", "auth_required": "no"},
			row{"server_key": secureServer, "protocol_versions": "2025-11-25", "allowlisted": "no", "auth_required": "yes",
				"prm_served": "yes", "accepted_audiences": secureServer, "refused_audiences": "http://other.corp.example/mcp, " + secureServer,
				"authorization_servers": "http://login.corp.example:8080"},
			row{"server_key": shadowServer, "server_name": "shadow-db", "protocol_versions": "2025-06-18",
				"allowlisted": "no", "auth_required": "no", "prm_served": "no", "last_seen": "2026-11-27 17:31:28"})
	},
	"mcpwatch-posture / Servers not on the allowlist": func(t *testing.T, rows []row) {
		has(t, rows, row{"server_key": shadowServer, "clients": "[10.0.1.11]", "first_alert": "2026-11-27 17:31:28"})
		has(t, rows, row{"server_key": docsServer, "clients": "[10.0.1.81]"})
		hasNo(t, rows, row{"server_key": filesServer})
	},
	"mcpwatch-posture / Authorization events": func(t *testing.T, rows []row) {
		// The client's first connection without a token and the one
		// with another resource's token are challenged; the one
		// without the scope is forbidden.
		has(t, rows, row{"time": authBucket, "auth_event": "challenge", "events": "2"})
		has(t, rows, row{"time": authBucket, "auth_event": "forbidden", "events": "1"})
		has(t, rows, row{"time": authBucket, "auth_event": "prm", "events": "1"})
		has(t, rows, row{"time": authBucket, "auth_event": "token_request", "events": "1"})
	},

	"mcpwatch-traffic / Bytes by server": func(t *testing.T, rows []row) {
		// The JSON-RPC bytes of demo.pcap's two conversations.
		has(t, rows, row{"time": demoBucket, "server_key": shadowServer, "bytes": "2466"})
		has(t, rows, row{"time": demoBucket, "server_key": filesServer, "bytes": "2467"})
		has(t, rows, row{"time": mixedBucket, "server_key": filesServer, "bytes": "2467"})
	},
	"mcpwatch-traffic / Bytes by client": func(t *testing.T, rows []row) {
		has(t, rows, row{"time": demoBucket, "client_address": "10.0.1.11", "bytes": "2466"})
		has(t, rows, row{"time": demoBucket, "client_address": "10.0.1.10", "bytes": "2467"})
		has(t, rows, row{"time": rugBucket, "client_address": "10.0.1.81"})
	},
	"mcpwatch-traffic / Top talkers": func(t *testing.T, rows []row) {
		if len(rows) != 4 {
			t.Fatalf("%d talkers, want 4: %v", len(rows), rows)
		}
		// claude-code talked to the files server twice (demo, mixed).
		exactly(t, rows[:1], row{"client_address": "10.0.1.10", "client_name": "claude-code", "server_key": filesServer,
			"bytes_c2s": "1430", "bytes_s2c": "3504", "bytes_total": "4934", "messages": "26", "sessions": "2"})
		has(t, rows, row{"client_address": "10.0.1.11", "client_name": "cursor", "server_key": shadowServer, "bytes_total": "2466", "messages": "13"})
	},
	"mcpwatch-traffic / Bytes by tool": func(t *testing.T, rows []row) {
		exactly(t, rows[:1], row{"tool_name": "search_docs", "server_key": filesServer, "bytes_c2s": "260", "bytes_s2c": "580", "calls": "2"})
		has(t, rows, row{"tool_name": "read_file", "server_key": shadowServer, "bytes_c2s": "111", "bytes_s2c": "123", "calls": "1"})
	},
	"mcpwatch-traffic / Connections without decodable MCP": func(t *testing.T, rows []row) {
		// mixed-nonmcp.pcap's JSON-RPC-over-HTTP service on 8545.
		has(t, rows, row{"server_address": "10.0.0.21", "server_port": "8545", "app_protocol": "json-rpc", "mcp_hint": "jsonrpc"})
	},

	"mcpwatch-manifests / Distinct manifests per server": func(t *testing.T, rows []row) {
		// The rug pull: two manifests of docs.corp.example in one bucket.
		has(t, rows, row{"time": rugBucket, "server_key": docsServer, "manifests": "2"})
		has(t, rows, row{"time": demoBucket, "server_key": shadowServer, "manifests": "1"})
	},
	"mcpwatch-manifests / Tools whose definition changed": func(t *testing.T, rows []row) {
		exactly(t, rows, row{"server_key": docsServer, "tool_name": "search_docs", "definitions": "2", "read_only": "0", "destructive": "1"})
	},
	"mcpwatch-manifests / Manifest history": func(t *testing.T, rows []row) {
		has(t, rows, row{"server_key": docsServer, "tool_names": "read_file, search_docs", "after_list_changed": "0"})
		has(t, rows, row{"server_key": docsServer, "tool_names": "fetch_notes, read_file, search_docs", "tools": "3", "after_list_changed": "1"})
		has(t, rows, row{"server_key": filesServer, "listings": "2", "first_seen": "2026-11-27 17:31:28"})
	},
	"mcpwatch-manifests / Tools": func(t *testing.T, rows []row) {
		if len(rows) != 9 {
			t.Errorf("%d tools, want 2 for each of 3 servers and 3 for docs", len(rows))
		}
		has(t, rows, row{"server_key": docsServer, "tool_name": "search_docs", "definitions": "2", "destructive": "1"})
		has(t, rows, row{"server_key": docsServer, "tool_name": "fetch_notes", "definitions": "1"})
		has(t, rows, row{"server_key": shadowServer, "tool_name": "search_docs", "read_only": "1"})
	},

	"mcpwatch-alerts / Alerts by severity": demoAlertsBySeverity,
	"mcpwatch-alerts / Alerts by rule": func(t *testing.T, rows []row) {
		for _, rule := range []string{"unexpected-server", "manifest-changed", "tool-became-destructive", "tool-poisoning", "token-audience-refused"} {
			has(t, rows, row{"rule_id": rule})
		}
		has(t, rows, row{"rule_id": "unexpected-server", "severity": "high"})
	},
	"mcpwatch-alerts / Recent alerts": func(t *testing.T, rows []row) {
		has(t, rows, row{"rule_id": "unexpected-server", "severity": "high", "server_key": shadowServer,
			"client_address": "10.0.1.11", "ts": "2026-11-27 17:31:28"})
		has(t, rows, row{"rule_id": "tool-poisoning", "server_key": docsServer})
		// RunAuth's token for another audience is refused, as it must.
		has(t, rows, row{"rule_id": "token-audience-refused", "severity": "low", "server_key": secureServer})
		hasNo(t, rows, row{"rule_id": "unexpected-server", "server_key": filesServer})
		for i := 1; i < len(rows); i++ {
			if rows[i]["ts"] > rows[i-1]["ts"] {
				t.Errorf("row %d at %s after row %d at %s: want newest first", i, rows[i]["ts"], i-1, rows[i-1]["ts"])
			}
		}
	},
}
