package sink

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/inventory"
)

// Servers lists the server inventory (the servers view,
// migrations/008_inventory_v2.sql), most recently seen first.
func (c *ClickHouse) Servers(ctx context.Context) ([]inventory.Server, error) {
	rows, err := c.conn.Query(ctx, fmt.Sprintf(`SELECT server_key, first_seen, last_seen, server_name, server_version,
		protocol_versions, transports, server_addresses, sources, clients, sessions, requests, tool_calls, errors,
		authenticated_requests, unauthenticated_ok, accepted_audiences, refused_audiences, challenges, forbidden,
		prm_documents, authorization_servers, allowlisted, tls_only, tls_sni
		FROM %s.servers ORDER BY last_seen DESC, server_key`, quoteIdent(c.cfg.Database)))
	if err != nil {
		return nil, fmt.Errorf("query servers in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	defer rows.Close()
	var out []inventory.Server
	for rows.Next() {
		var s inventory.Server
		var allowlisted, tlsOnly uint8
		if err := rows.Scan(&s.ServerKey, &s.FirstSeen, &s.LastSeen, &s.ServerName, &s.ServerVersion,
			&s.ProtocolVersions, &s.Transports, &s.ServerAddresses, &s.Sources, &s.Clients, &s.Sessions, &s.Requests,
			&s.ToolCalls, &s.Errors, &s.AuthenticatedRequests, &s.UnauthenticatedOK, &s.AcceptedAudiences, &s.RefusedAudiences,
			&s.Challenges, &s.Forbidden, &s.PRMDocuments, &s.AuthorizationServers, &allowlisted, &tlsOnly, &s.TLSSNI); err != nil {
			return nil, fmt.Errorf("read servers in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
		}
		allowed := allowlisted == 1
		s.Allowlisted, s.TLSOnly = &allowed, tlsOnly == 1
		s.PRMServed = s.PRMDocuments > 0
		s.AuthRequired = s.UnauthenticatedOK == 0 && (s.AuthenticatedRequests > 0 || s.Challenges > 0)
		for _, l := range []*[]string{&s.ProtocolVersions, &s.Transports, &s.ServerAddresses, &s.Sources, &s.AcceptedAudiences, &s.RefusedAudiences, &s.AuthorizationServers} {
			*l = sortedOrNil(*l)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read servers in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	inventory.SortServers(out)
	return out, nil
}

// sortedOrNil sorts a set read from a groupUniqArray, nil when empty as
// the JSON of the Go inventory has it.
func sortedOrNil(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	slices.Sort(l)
	return l
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
