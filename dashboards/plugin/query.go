package plugin

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// Query is the query model: which mcpwatch view, and filters on it. Zero
// filters select everything.
type Query struct {
	View       string   `json:"view"`
	Server     string   `json:"server,omitempty"`
	Severities []string `json:"severities,omitempty"`
	Rule       string   `json:"rule,omitempty"`
	// Limit caps the rows of the alerts and manifests views. Default 100, at most 10000.
	Limit int `json:"limit,omitempty"`
}

const (
	defaultLimit = 100
	maxLimit     = 10000
)

// view is the SQL of one view and the filters it accepts.
type view struct {
	sql string
	// seen is the condition that keeps rows of the time range.
	seen                   string
	server, severity, rule bool
	// serverCond is the condition of the server filter; default
	// server_key = ?.
	serverCond string
	order      string
	limited    bool
}

// views are the selectable views. Values are bound as query parameters,
// never spliced into the SQL.
var views = map[string]view{
	"servers": {
		sql: "SELECT server_key, server_name, server_version, protocol_versions, transports, auth_required, prm_served," +
			" clients, sessions, tool_calls, first_seen, last_seen FROM servers",
		seen: "last_seen >= ? AND first_seen <= ?", server: true, order: "last_seen DESC, server_key",
	},
	"alerts": {
		sql:  "SELECT ts, severity, rule_id, summary, server_key, client_address, tool_name, session_id, alert_id FROM alerts FINAL",
		seen: "ts >= ? AND ts <= ?", server: true, severity: true, rule: true, order: "ts DESC, alert_id", limited: true,
	},
	// posture: the latest scorecard of each server (package posture, stored
	// by run, store and mcpwatch posture --save), worst grade first.
	"posture": {
		sql: "SELECT server_key, grade, grade_reasons, failed, not_observed, tls_only, sources, first_seen, last_seen," +
			" assessed_at FROM posture FINAL",
		seen: "last_seen >= ? AND first_seen <= ?", server: true, order: "grade DESC, server_key",
	},
	"tools": {
		sql:  "SELECT server_key, tool_name, read_only, destructive, definitions, first_seen, last_seen FROM server_tools",
		seen: "last_seen >= ? AND first_seen <= ?", server: true, order: "server_key, tool_name",
	},
	"clients": {
		sql: "SELECT client_address, client_name, client_version, user_agents, servers, sessions, requests, tool_calls," +
			" first_seen, last_seen FROM clients",
		seen: "last_seen >= ? AND first_seen <= ?", server: true, order: "last_seen DESC, client_address, client_name",
		// A client has many servers: the filter keeps clients that talked
		// to the server.
		serverCond: "has(servers, ?)",
	},
	"manifests": {
		sql: "SELECT ts, server_key, manifest_hash, tool_count, arrayStringConcat(tools.name, ', ') AS tools," +
			" after_list_changed, event_id FROM manifests FINAL",
		seen: "ts >= ? AND ts <= ?", server: true, order: "ts DESC, event_id", limited: true,
	},
}

// viewNames are the keys of views, for errors.
const viewNames = "servers, posture, alerts, tools, clients or manifests"

// sql is the statement for q over the time range, and its parameters.
func (q Query) sql(tr backend.TimeRange) (string, []any, error) {
	v, ok := views[q.View]
	if !ok {
		return "", nil, fmt.Errorf("unknown view %q: want %s", q.View, viewNames)
	}
	where, args := []string{v.seen}, []any{tr.From.UTC(), tr.To.UTC()}
	add := func(allowed bool, name, cond string, arg any) error {
		if !allowed {
			return fmt.Errorf("view %s has no %s filter", q.View, name)
		}
		where, args = append(where, cond), append(args, arg)
		return nil
	}
	if q.Server != "" {
		if err := add(v.server, "server", cmp.Or(v.serverCond, "server_key = ?"), q.Server); err != nil {
			return "", nil, err
		}
	}
	if len(q.Severities) > 0 {
		if err := add(v.severity, "severities", "has(?, severity)", q.Severities); err != nil {
			return "", nil, err
		}
	}
	if q.Rule != "" {
		if err := add(v.rule, "rule", "rule_id = ?", q.Rule); err != nil {
			return "", nil, err
		}
	}
	sql := v.sql + " WHERE " + strings.Join(where, " AND ") + " ORDER BY " + v.order
	if v.limited {
		limit := q.Limit
		switch {
		case limit <= 0:
			limit = defaultLimit
		case limit > maxLimit:
			return "", nil, fmt.Errorf("limit %d: at most %d", limit, maxLimit)
		}
		sql += fmt.Sprintf(" LIMIT %d", limit)
	} else if q.Limit != 0 {
		return "", nil, fmt.Errorf("view %s has no limit", q.View)
	}
	return sql, args, nil
}
