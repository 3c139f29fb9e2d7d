// Package plugin is a Grafana backend datasource for mcpwatch, built with
// grafana-plugin-sdk-go: panels ask for an mcpwatch view by name with a few
// filters instead of writing SQL, and the datasource turns that into a
// read-only ClickHouse query over the sink's schema and answers with data
// frames.
//
// Query model (the JSON of a panel target):
//
//	{"view": "servers"}                               server inventory (sink's servers view)
//	{"view": "alerts", "severities": ["high"], "rule": "unexpected-server", "server": "…", "limit": 100}
//	{"view": "tools", "server": "…"}                  tools per server (server_tools view)
//
// Time-ranged views keep rows inside the query's time range (alerts by ts,
// servers and tools by the span they were seen in). CheckHealth says
// whether ClickHouse answers and whether the mcpwatch schema is there.
//
// It is tested through its Go interfaces (QueryData, CheckHealth) against a
// real ClickHouse seeded by the pipeline; the frontend part a Grafana
// plugin also needs (plugin.json, a query editor) is not written.
package plugin
