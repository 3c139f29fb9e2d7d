package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// overview is the landing page: how much MCP there is and whether anything
// fired, over the selected servers.
func overview() *dashboard.DashboardBuilder {
	server := in("server_key", "server")
	return newDashboard("mcpwatch-overview", "MCP overview",
		"MCP servers, sessions, tool calls and alerts seen by mcpwatch sensors.").
		WithVariable(serverVariable()).
		WithPanel(statPanel("MCP servers", "Distinct MCP endpoints (server_key) that exchanged messages in the time range.",
			"SELECT uniqExact(server_key) AS servers FROM messages WHERE $__timeFilter(ts) AND server_key != '' AND "+server)).
		WithPanel(statPanel("Sessions", "MCP sessions that ended in the time range (a session event is written when it ends).",
			"SELECT uniqExact(event_id) AS sessions FROM sessions WHERE $__timeFilter(ts) AND "+server)).
		WithPanel(statPanel("Tool calls", "tools/call requests in the time range.",
			"SELECT uniqExactIf(event_id, msg_type = 'request' AND method = 'tools/call') AS tool_calls FROM messages WHERE $__timeFilter(ts) AND "+server)).
		WithPanel(statPanel("Alerts", "Alerts raised in the time range, every severity.",
			"SELECT uniqExact(alert_id) AS alerts FROM alerts WHERE $__timeFilter(ts) AND "+server)).
		WithPanel(timeSeriesPanel("Active servers", "MCP endpoints exchanging messages per interval.",
			"SELECT "+bucket("ts")+", uniqExact(server_key) AS servers FROM messages WHERE $__timeFilter(ts) AND server_key != '' AND "+server+
				" GROUP BY time ORDER BY time")).
		WithPanel(timeSeriesPanel("Sessions started", "MCP sessions by the interval they started in, per server.",
			"SELECT "+bucket("start_ts")+", server_key, uniqExact(event_id) AS sessions FROM sessions WHERE $__timeFilter(start_ts) AND "+server+
				" GROUP BY time, server_key ORDER BY time, server_key")).
		WithPanel(timeSeriesPanel("Tool calls by tool", "tools/call requests per interval, per tool name.",
			"SELECT "+bucket("ts")+", tool_name, uniqExact(event_id) AS calls FROM messages WHERE $__timeFilter(ts) AND msg_type = 'request' AND method = 'tools/call' AND "+server+
				" GROUP BY time, tool_name ORDER BY time, tool_name")).
		WithPanel(alertsBySeverity(server))
}
