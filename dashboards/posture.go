package dashboards

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// posture is the inventory a platform team reviews: each MCP server's
// grade and the checks that set it (the posture tables, written by
// mcpwatch posture --save), what it speaks and how it is protected, and
// which servers are not approved.
func posture() *dashboard.DashboardBuilder {
	server := in("server_key", "server")
	return newDashboard("mcpwatch-posture", "MCP server posture",
		"Every MCP server seen: its posture grade and checks, protocol versions, authorization posture, allowlist status, last seen.").
		WithVariable(serverVariable()).
		WithPanel(tablePanel("Posture grades", "The scorecard of every server (docs/posture.md): the grade A–F is the worst cap that applies; "+
			"failed lists the checks that failed, not observed counts those no event decided (never a pass). "+
			"From the latest mcpwatch posture --save.",
			"SELECT server_key, grade, arrayStringConcat(grade_reasons, ', ') AS grade_reasons, arrayStringConcat(failed, ', ') AS failed,"+
				" length(not_observed) AS not_observed, arrayStringConcat(sources, ', ') AS sources, if(tls_only, 'yes', 'no') AS tls_only, last_seen, assessed_at"+
				" FROM posture FINAL WHERE last_seen >= $__fromTime AND first_seen <= $__toTime AND "+server+" ORDER BY grade DESC, server_key").
			Height(2 * tableHeight)).
		WithPanel(tablePanel("Posture checks", "Each check of each server: pass, fail or not_observed, the events that decided it and the section of the specification or RFC that requires it.",
			"SELECT server_key, check_id, status, arrayStringConcat(evidence, ' ') AS evidence, spec"+
				" FROM posture_checks FINAL WHERE "+server+" AND server_key GLOBAL IN (SELECT server_key FROM posture FINAL WHERE last_seen >= $__fromTime AND first_seen <= $__toTime)"+
				" ORDER BY server_key, status, check_id").
			Height(2 * tableHeight)).
		WithPanel(tablePanel("Servers", "One row per MCP endpoint active in the time range (inventory over all stored data; the servers view). "+
			"auth required: no request without credentials was answered 2xx, and credentials or 401 challenges were seen. "+
			"PRM served: a Protected Resource Metadata document naming it as its resource was fetched. "+
			"accepted / refused audiences: aud claims of bearer tokens it answered 2xx / 401 or 403. "+
			"allowlisted: the unexpected-server rule never fired for it. TLS-only: seen only as TLS connections whose SNI looks like MCP.",
			serversSQL+" WHERE last_seen >= $__fromTime AND first_seen <= $__toTime AND "+server+" ORDER BY last_seen DESC, server_key").
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

// serversSQL is the servers view with yes/no posture columns.
const serversSQL = "SELECT server_key, server_name, server_version," +
	" arrayStringConcat(protocol_versions, ', ') AS protocol_versions, arrayStringConcat(transports, ', ') AS transports," +
	" if(auth_required, 'yes', 'no') AS auth_required, if(prm_served, 'yes', 'no') AS prm_served," +
	" arrayStringConcat(authorization_servers, ', ') AS authorization_servers," +
	" arrayStringConcat(accepted_audiences, ', ') AS accepted_audiences, arrayStringConcat(refused_audiences, ', ') AS refused_audiences," +
	" if(allowlisted, 'yes', 'no') AS allowlisted, if(tls_only, 'yes', 'no') AS tls_only, tls_sni," +
	" clients, sessions, tool_calls, errors, first_seen, last_seen" +
	" FROM servers"
