package sink

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// Server is one row of the servers inventory view (migrations/004_inventory.sql).
type Server struct {
	ServerKey             string    `json:"server_key"`
	FirstSeen             time.Time `json:"first_seen"`
	LastSeen              time.Time `json:"last_seen"`
	ServerName            string    `json:"server_name,omitempty"`
	ServerVersion         string    `json:"server_version,omitempty"`
	ProtocolVersions      []string  `json:"protocol_versions,omitempty"`
	Transports            []string  `json:"transports,omitempty"`
	ServerAddresses       []string  `json:"server_addresses,omitempty"`
	Clients               uint64    `json:"clients"`
	Sessions              uint64    `json:"sessions"`
	Requests              uint64    `json:"requests"`
	ToolCalls             uint64    `json:"tool_calls"`
	Errors                uint64    `json:"errors"`
	AuthenticatedRequests uint64    `json:"authenticated_requests"`
	UnauthenticatedOK     uint64    `json:"unauthenticated_ok"`
	TokenAudiences        []string  `json:"token_audiences,omitempty"`
	Challenges            uint64    `json:"challenges"`
	Forbidden             uint64    `json:"forbidden"`
	PRMServed             bool      `json:"prm_served"`
	AuthorizationServers  []string  `json:"authorization_servers,omitempty"`
	AuthRequired          bool      `json:"auth_required"`
}

// Servers lists the server inventory, most recently seen first.
func (c *ClickHouse) Servers(ctx context.Context) ([]Server, error) {
	rows, err := c.conn.Query(ctx, fmt.Sprintf(`SELECT server_key, first_seen, last_seen, server_name, server_version,
		protocol_versions, transports, server_addresses, clients, sessions, requests, tool_calls, errors,
		authenticated_requests, unauthenticated_ok, token_audiences, challenges, forbidden, prm_served,
		authorization_servers, auth_required
		FROM %s.servers ORDER BY last_seen DESC, server_key`, quoteIdent(c.cfg.Database)))
	if err != nil {
		return nil, fmt.Errorf("query servers in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	defer rows.Close()
	var out []Server
	for rows.Next() {
		var s Server
		var prm, required uint8
		if err := rows.Scan(&s.ServerKey, &s.FirstSeen, &s.LastSeen, &s.ServerName, &s.ServerVersion,
			&s.ProtocolVersions, &s.Transports, &s.ServerAddresses, &s.Clients, &s.Sessions, &s.Requests,
			&s.ToolCalls, &s.Errors, &s.AuthenticatedRequests, &s.UnauthenticatedOK, &s.TokenAudiences,
			&s.Challenges, &s.Forbidden, &prm, &s.AuthorizationServers, &required); err != nil {
			return nil, fmt.Errorf("read servers in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
		}
		s.PRMServed, s.AuthRequired = prm == 1, required == 1
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read servers in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	return out, nil
}

// AlertFilter selects alerts; zero fields select everything.
type AlertFilter struct {
	RuleID     string
	Severities []string
	ServerKey  string
	// Since keeps alerts whose ts is at or after it.
	Since time.Time
	// Limit caps the rows returned. Default 100.
	Limit int
}

// Alerts returns the alerts matching f, newest first, as the schema's alert
// type: stored alerts read back equal to what was written, nanoseconds
// included.
func (c *ClickHouse) Alerts(ctx context.Context, f AlertFilter) ([]*event.Alert, error) {
	var where []string
	var args []any
	if f.RuleID != "" {
		where, args = append(where, "rule_id = ?"), append(args, f.RuleID)
	}
	if len(f.Severities) > 0 {
		where, args = append(where, "has(?, severity)"), append(args, f.Severities)
	}
	if f.ServerKey != "" {
		where, args = append(where, "server_key = ?"), append(args, f.ServerKey)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "ts_ns >= ?"), append(args, unixNano(f.Since))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q := fmt.Sprintf(`SELECT schema, alert_id, ts_ns, rule_id, rule_name, severity, category, summary,
		server_key, client_address, session_id, tool_name, count, window_s, first_seen_ns, last_seen_ns,
		evidence_event_ids, attributes.key, attributes.value
		FROM %s.alerts FINAL`, quoteIdent(c.cfg.Database))
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY ts_ns DESC, alert_id LIMIT %d", limit)
	rows, err := c.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query alerts in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	defer rows.Close()
	var out []*event.Alert
	for rows.Next() {
		var a event.Alert
		var schema uint16
		var tsNS, firstNS, lastNS uint64
		var keys, values []string
		if err := rows.Scan(&schema, &a.AlertID, &tsNS, &a.RuleID, &a.RuleName, &a.Severity, &a.Category,
			&a.Summary, &a.ServerKey, &a.ClientAddress, &a.SessionID, &a.ToolName, &a.Count, &a.WindowS,
			&firstNS, &lastNS, &a.EvidenceEventIDs, &keys, &values); err != nil {
			return nil, fmt.Errorf("read alerts in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
		}
		a.Schema = int(schema)
		a.TS = fromUnixNano(tsNS)
		a.FirstSeen, a.LastSeen = optFromUnixNano(firstNS), optFromUnixNano(lastNS)
		if len(a.EvidenceEventIDs) == 0 {
			a.EvidenceEventIDs = nil // absent, as it was written
		}
		if len(keys) > 0 {
			a.Attributes = make(map[string]string, len(keys))
			for i, k := range keys {
				a.Attributes[k] = values[i]
			}
		}
		out = append(out, &a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read alerts in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	return out, nil
}

func fromUnixNano(ns uint64) time.Time { return time.Unix(0, int64(ns)).UTC() }

func optFromUnixNano(ns uint64) *time.Time {
	if ns == 0 {
		return nil
	}
	t := fromUnixNano(ns)
	return &t
}
