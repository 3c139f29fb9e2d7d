// Package plugin is the backend of the mcpwatch Grafana datasource plugin,
// built with grafana-plugin-sdk-go: panels ask for an mcpwatch view by name
// with a few filters instead of writing SQL, and the datasource turns that
// into a read-only ClickHouse query over the sink's schema and answers with
// data frames; a panel of the "live alerts" view gets the bus's new alerts
// as they are published (Grafana Live, the SDK's StreamHandler).
//
// Query model (the JSON of a panel target, what src/types.ts edits):
//
//	{"view": "servers"}                               server inventory (sink's servers view)
//	{"view": "posture"}                               latest scorecard per server (posture table)
//	{"view": "alerts", "severities": ["high"], "rule": "unexpected-server", "server": "…", "limit": 100}
//	{"view": "tools", "server": "…"}                  tools per server (server_tools view)
//	{"view": "clients", "server": "…"}                clients, filtered to those that used the server
//	{"view": "manifests", "server": "…", "limit": 100}  tools/list results, newest first
//
// Time-ranged views keep rows inside the query's time range (alerts and
// manifests by ts, the others by the span they were seen in). CheckHealth
// says whether ClickHouse answers and whether the mcpwatch schema is there.
//
// Live alerts: the frontend subscribes to the channel path "alerts" or
// "alerts/<severity>,…"; RunStream reads new alerts through
// bus.WatchAlerts (an ordered consumer: nothing is created or acked on the
// server) and sends each as a one-row frame. Grafana runs one RunStream
// per channel however many panels watch it; a slow Grafana leaves alerts
// waiting in NATS, not in the plugin's memory.
//
// The frontend (src/: plugin.json, query and config editors, the
// datasource class) is built with npm and webpack following
// @grafana/create-plugin's layout; scripts/plugin.sh builds dist/ and the
// zip Grafana installs, and runs the frontend's jest tests.
package plugin
