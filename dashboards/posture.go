package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// posture is the inventory a platform team reviews: one row per MCP server
// with what it speaks and how it is protected, and which servers are not
// approved.
func posture() *dashboard.DashboardBuilder {
	server := in("server_key", "server")
	return newDashboard("mcpwatch-posture", "MCP server posture",
		"Every MCP server seen: protocol versions, authorization posture, allowlist status, last seen.").
		WithVariable(serverVariable()).
		WithPanel(tablePanel("Servers", "One row per MCP endpoint active in the time range (inventory over all stored data). "+
			"auth required: no request without credentials was answered 2xx, and credentials or 401 challenges were seen. "+
			"PRM served: a Protected Resource Metadata document naming it as its resource was fetched. "+
			"audience-bound tokens: every bearer token the server accepted names it in aud (RFC 8707). "+
			"allowlisted: the unexpected-server rule never fired for it.",
			postureSQL+" WHERE last_seen >= $__fromTime AND first_seen <= $__toTime AND "+server+" ORDER BY last_seen DESC, server_key").
			Height(2 * tableHeight)).
		WithPanel(tablePanel("Servers not on the allowlist", "Servers the unexpected-server rule fired for, and who talked to them.",
			"SELECT server_key, min(ts) AS first_alert, max(ts) AS last_alert, groupUniqArray(client_address) AS clients, any(summary) AS summary"+
				" FROM alerts FINAL WHERE rule_id = 'unexpected-server' AND $__timeFilter(ts) AND "+server+
				" GROUP BY server_key ORDER BY last_alert DESC, server_key").
			Span(halfWidth)).
		WithPanel(timeSeriesPanel("Authorization events", "Authorization traffic next to MCP per interval: 401 challenges, 403s, PRM and AS metadata fetches, token requests.",
			"SELECT "+bucket("ts")+", auth_event, uniqExact(event_id) AS events FROM auth WHERE $__timeFilter(ts) AND "+server+
				" GROUP BY time, auth_event ORDER BY time, auth_event"))
}

// postureSQL is the servers inventory view with yes/no posture columns, the
// allowlist verdict of the unexpected-server rule, the audience binding of
// accepted tokens and PRM documents served for the server. The view's own
// prm_served is not used: it matches auth events by server_key, and a PRM
// document is fetched from its own well-known URL, which names the server
// only in prm_resource. 18.16 allows one JOIN per SELECT, hence the nesting.
const postureSQL = "SELECT server_key, server_name, server_version," +
	" arrayStringConcat(protocol_versions, ', ') AS protocol_versions, arrayStringConcat(transports, ', ') AS transports," +
	" if(auth_required, 'yes', 'no') AS auth_required, if(prm_documents > 0, 'yes', 'no') AS prm_served," +
	" if(accepted_tokens > 0 AND bound_tokens = accepted_tokens, 'yes', 'no') AS audience_bound_tokens," +
	" if(unexpected = 1, 'no', 'yes') AS allowlisted," +
	" clients, sessions, tool_calls, errors, first_seen, last_seen" +
	" FROM (SELECT * FROM (" +
	"SELECT * FROM servers ANY LEFT JOIN" +
	" (SELECT server_key, toUInt8(1) AS unexpected FROM alerts WHERE rule_id = 'unexpected-server' GROUP BY server_key) USING server_key" +
	") ANY LEFT JOIN" +
	" (SELECT server_key," +
	" uniqExactIf(event_id, auth_scheme = 'bearer' AND http_status >= 200 AND http_status < 300) AS accepted_tokens," +
	" uniqExactIf(event_id, auth_scheme = 'bearer' AND http_status >= 200 AND http_status < 300 AND has(token_aud, server_key)) AS bound_tokens" +
	" FROM messages WHERE msg_type = 'request' AND server_key != '' GROUP BY server_key) USING server_key" +
	") ANY LEFT JOIN" +
	" (SELECT prm_resource AS server_key, uniqExact(event_id) AS prm_documents FROM auth WHERE auth_event = 'prm' GROUP BY server_key) USING server_key"
