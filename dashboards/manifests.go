package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// manifests follows what each server says its tools are (tools/list
// results) and flags definitions that changed: a rug pull or a poisoned
// redefinition shows up as a second hash for the same tool.
func manifests() *dashboard.DashboardBuilder {
	server := in("server_key", "server")
	return newDashboard("mcpwatch-manifests", "MCP tool manifests and drift",
		"Tool manifests (tools/list results) per server over time, and tools whose definition changed.").
		WithVariable(serverVariable()).
		WithPanel(timeSeriesPanel("Distinct manifests per server", "Distinct manifest hashes listed per interval: more than one in a bucket, or a change between buckets, is drift.",
			"SELECT "+bucket("ts")+", server_key, uniqExact(manifest_hash) AS manifests FROM manifests WHERE $__timeFilter(ts) AND "+server+
				" GROUP BY time, server_key ORDER BY time, server_key")).
		WithPanel(tablePanel("Tools whose definition changed", "Tools listed with more than one definition hash in the time range, with their latest definition.",
			toolsSQL(server, "HAVING definitions > 1 ORDER BY last_seen DESC, server_key, tool_name")).
			Span(halfWidth)).
		WithPanel(tablePanel("Manifest history", "Each distinct manifest of each server: its tools and when it was listed.",
			"SELECT server_key, manifest_hash, any(tool_count) AS tools, arrayStringConcat(any(tools.name), ', ') AS tool_names,"+
				" min(ts) AS first_seen, max(ts) AS last_seen, uniqExact(event_id) AS listings, max(after_list_changed) AS after_list_changed"+
				" FROM manifests WHERE $__timeFilter(ts) AND "+server+
				" GROUP BY server_key, manifest_hash ORDER BY server_key, first_seen, manifest_hash")).
		WithPanel(tablePanel("Tools", "Every tool the selected servers listed in the time range, with its latest definition.",
			toolsSQL(server, "ORDER BY server_key, tool_name")))
}

// toolsSQL is one row per tool of each server listed in the time range:
// how many definitions it had and the latest one. Latest by ts_ns: a rug
// pull redefines a tool within the same second, which ts cannot order.
func toolsSQL(where, tail string) string {
	return "SELECT server_key, tool_name, uniqExact(t_hash) AS definitions, min(ts) AS first_seen, max(ts) AS last_seen," +
		" substring(argMax(t_hash, ts_ns), 1, 16) AS hash, argMax(t_read_only, ts_ns) AS read_only," +
		" argMax(t_destructive, ts_ns) AS destructive, argMax(t_description, ts_ns) AS description" +
		" FROM (SELECT server_key, ts, ts_ns, tools.name AS tool_name, tools.hash AS t_hash, tools.read_only AS t_read_only," +
		" tools.destructive AS t_destructive, tools.description AS t_description" +
		" FROM manifests ARRAY JOIN tools WHERE $__timeFilter(ts) AND " + where + ")" +
		" GROUP BY server_key, tool_name " + tail
}
