package sink

import (
	"context"
	"fmt"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/inventory"
)

// Clients lists the clients view (migrations/004_inventory.sql), most
// recently seen first.
func (c *ClickHouse) Clients(ctx context.Context) ([]inventory.Client, error) {
	rows, err := c.conn.Query(ctx, fmt.Sprintf(`SELECT client_address, client_name, first_seen, last_seen, client_version,
		user_agents, servers, sessions, requests, tool_calls FROM %s.clients`, quoteIdent(c.cfg.Database)))
	if err != nil {
		return nil, fmt.Errorf("query clients in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	defer rows.Close()
	var out []inventory.Client
	for rows.Next() {
		var cl inventory.Client
		if err := rows.Scan(&cl.ClientAddress, &cl.ClientName, &cl.FirstSeen, &cl.LastSeen, &cl.ClientVersion,
			&cl.UserAgents, &cl.Servers, &cl.Sessions, &cl.Requests, &cl.ToolCalls); err != nil {
			return nil, fmt.Errorf("read clients in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
		}
		cl.UserAgents, cl.Servers = sortedOrNil(cl.UserAgents), sortedOrNil(cl.Servers)
		out = append(out, cl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read clients in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	inventory.SortClients(out)
	return out, nil
}

// Tools lists the server_tools view, by server and tool name.
func (c *ClickHouse) Tools(ctx context.Context) ([]inventory.Tool, error) {
	rows, err := c.conn.Query(ctx, fmt.Sprintf(`SELECT server_key, tool_name, first_seen, last_seen, hash, description,
		read_only, destructive, definitions FROM %s.server_tools ORDER BY server_key, tool_name`, quoteIdent(c.cfg.Database)))
	if err != nil {
		return nil, fmt.Errorf("query server_tools in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	defer rows.Close()
	var out []inventory.Tool
	for rows.Next() {
		var t inventory.Tool
		var readOnly, destructive uint8
		if err := rows.Scan(&t.ServerKey, &t.ToolName, &t.FirstSeen, &t.LastSeen, &t.Hash, &t.Description,
			&readOnly, &destructive, &t.Definitions); err != nil {
			return nil, fmt.Errorf("read server_tools in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
		}
		t.ReadOnly, t.Destructive = readOnly == 1, destructive == 1
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read server_tools in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	return out, nil
}

// Manifests lists every version (distinct manifest_hash) of every server's
// tool manifest, each with its diff to the version before.
func (c *ClickHouse) Manifests(ctx context.Context) ([]inventory.Manifest, error) {
	rows, err := c.conn.Query(ctx, fmt.Sprintf(`SELECT server_key, manifest_hash, min(ts_ns), max(ts_ns), uniqExact(event_id),
		any(tools.name), any(tools.hash), any(tools.description), any(tools.read_only), any(tools.destructive)
		FROM %s.manifests WHERE server_key != '' AND manifest_hash != '' GROUP BY server_key, manifest_hash`, quoteIdent(c.cfg.Database)))
	if err != nil {
		return nil, fmt.Errorf("query manifests in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	defer rows.Close()
	var out []inventory.Manifest
	for rows.Next() {
		var m inventory.Manifest
		var first, last uint64
		var names, hashes, descriptions []string
		var readOnly, destructive []uint8
		if err := rows.Scan(&m.ServerKey, &m.ManifestHash, &first, &last, &m.Listings, &names, &hashes, &descriptions, &readOnly, &destructive); err != nil {
			return nil, fmt.Errorf("read manifests in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
		}
		m.FirstSeen, m.LastSeen = fromUnixNano(first), fromUnixNano(last)
		for i, name := range names {
			m.Tools = append(m.Tools, event.Tool{Name: name, Hash: hashes[i], Description: descriptions[i], ReadOnly: readOnly[i] == 1, Destructive: destructive[i] == 1})
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read manifests in %s at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	return inventory.WithDiffs(out), nil
}
