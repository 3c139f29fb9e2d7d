package dashboards

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// traffic is how many bytes of MCP flow between whom and for which tools.
// Sums read FINAL so that a redelivered event, not yet merged away, is not
// counted twice.
func traffic() *dashboard.DashboardBuilder {
	where := strings.Join([]string{in("server_key", "server"), in("client_address", "client")}, " AND ")
	return newDashboard("mcpwatch-traffic", "MCP traffic volume",
		"JSON-RPC bytes by server, client and tool; the top talkers; connections that carried no decodable MCP.").
		WithVariable(serverVariable()).
		WithVariable(queryVariable("client", "Client",
			"SELECT DISTINCT client_address FROM messages WHERE $__timeFilter(ts) AND client_address != '' ORDER BY client_address")).
		WithPanel(timeSeriesPanel("Bytes by server", "JSON-RPC message bytes, both directions, per interval and server.",
			"SELECT "+bucket("ts")+", server_key, sum(bytes) AS bytes FROM messages FINAL WHERE $__timeFilter(ts) AND "+where+
				" GROUP BY time, server_key ORDER BY time, server_key").
			Unit("bytes")).
		WithPanel(timeSeriesPanel("Bytes by client", "JSON-RPC message bytes, both directions, per interval and client address.",
			"SELECT "+bucket("ts")+", client_address, sum(bytes) AS bytes FROM messages FINAL WHERE $__timeFilter(ts) AND "+where+
				" GROUP BY time, client_address ORDER BY time, client_address").
			Unit("bytes")).
		WithPanel(tablePanel("Top talkers", "Client and server pairs by JSON-RPC bytes exchanged.",
			"SELECT client_address, any(client_name) AS client_name, server_key,"+
				" sumIf(bytes, direction = 'c2s') AS bytes_c2s, sumIf(bytes, direction = 's2c') AS bytes_s2c, sum(bytes) AS bytes_total,"+
				" count() AS messages, uniqExactIf(session_id, session_id != '') AS sessions"+
				" FROM messages FINAL WHERE $__timeFilter(ts) AND "+where+
				" GROUP BY client_address, server_key ORDER BY bytes_total DESC, client_address, server_key LIMIT 20").
			Span(halfWidth)).
		WithPanel(tablePanel("Bytes by tool", "tools/call arguments (requests) and results (responses) in bytes, per tool and server.",
			"SELECT tool_name, server_key, sumIf(bytes, direction = 'c2s') AS bytes_c2s, sumIf(bytes, direction = 's2c') AS bytes_s2c,"+
				" countIf(msg_type = 'request') AS calls, max(bytes) AS largest_message"+
				" FROM messages FINAL WHERE $__timeFilter(ts) AND method = 'tools/call' AND tool_name != '' AND "+where+
				" GROUP BY tool_name, server_key ORDER BY bytes_c2s + bytes_s2c DESC, tool_name, server_key").
			Span(halfWidth)).
		WithPanel(tablePanel("Connections without decodable MCP", "TLS, plain HTTP and other TCP connections, with why they may be MCP (mcp_hint).",
			"SELECT server_address, server_port, app_protocol, tls_sni, mcp_hint, count() AS connections,"+
				" sum(bytes_c2s) AS bytes_c2s, sum(bytes_s2c) AS bytes_s2c, uniqExact(client_address) AS clients"+
				" FROM flows FINAL WHERE $__timeFilter(ts) AND "+in("client_address", "client")+
				" GROUP BY server_address, server_port, app_protocol, tls_sni, mcp_hint ORDER BY bytes_c2s + bytes_s2c DESC, server_address, server_port"))
}
