package dashboards

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// alerts is the SOC's view of the alert feed: what fired, how bad, and the
// subject of each alert, filterable by severity, rule and server.
func alerts() *dashboard.DashboardBuilder {
	where := strings.Join([]string{in("severity", "severity"), in("rule_id", "rule"), in("server_key", "server")}, " AND ")
	return newDashboard("mcpwatch-alerts", "MCP SOC alerts",
		"Alerts of the mcpwatch detection rules over time and as a list, filterable by severity, rule and server.").
		WithVariable(severityVariable()).
		WithVariable(queryVariable("rule", "Rule",
			"SELECT DISTINCT rule_id FROM alerts WHERE $__timeFilter(ts) ORDER BY rule_id")).
		WithVariable(serverVariable()).
		WithPanel(alertsBySeverity(where)).
		WithPanel(tablePanel("Alerts by rule", "How often each rule fired in the time range, and on how many servers and clients.",
			"SELECT rule_id, any(rule_name) AS rule_name, severity, uniqExact(alert_id) AS alerts, uniqExactIf(server_key, server_key != '') AS servers,"+
				" uniqExactIf(client_address, client_address != '') AS clients, max(ts) AS last_alert"+
				" FROM alerts FINAL WHERE $__timeFilter(ts) AND "+where+
				" GROUP BY rule_id, severity ORDER BY alerts DESC, rule_id").
			Height(graphHeight).Span(halfWidth)).
		WithPanel(tablePanel("Recent alerts", "The newest alerts first (the last emission of each alert id).",
			"SELECT ts, severity, rule_id, summary, server_key, client_address, tool_name, session_id, category, count, alert_id"+
				" FROM alerts FINAL WHERE $__timeFilter(ts) AND "+where+
				" ORDER BY ts DESC, alert_id LIMIT 500").
			Height(2 * tableHeight))
}

// alertsBySeverity counts alerts per interval and severity. FINAL: a rule
// may emit an alert id again with a later ts, and only its last emission
// should be counted, in one bucket.
func alertsBySeverity(where string) *timeseries.PanelBuilder {
	return timeSeriesPanel("Alerts by severity", "Alerts per interval, per severity.",
		"SELECT "+bucket("ts")+", severity, uniqExact(alert_id) AS alerts FROM alerts FINAL WHERE $__timeFilter(ts) AND "+where+
			" GROUP BY time, severity ORDER BY time, severity")
}
