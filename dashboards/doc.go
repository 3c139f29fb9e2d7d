// Package dashboards is the Grafana room of mcpwatch: the dashboards a SOC
// and a platform team look at, over the ClickHouse tables and views that
// package sink writes (sink/migrations).
//
// The dashboards are Go code (the grafana-foundation-sdk builders), not
// hand-edited JSON, so that panels share one datasource reference, one set
// of template variables and one way of writing a time bucket. `go run
// ./dashboards/gen` renders them into dashboards/json/*.json, which is
// committed so Grafana can provision it without Go; TestJSONUpToDate fails
// when the committed files and the generator disagree.
//
// Every query is raw SQL for the Grafana ClickHouse datasource
// (grafana-clickhouse-datasource), written with its macros ($__timeFilter,
// $__fromTime, $__toTime, $__interval_s) and template variables ($server,
// $severity, ...), and must also run on ClickHouse 18.16, the only server
// these machines have. That rules out the datasource's own $__timeInterval
// (it expands to toStartOfInterval, which 18.16 lacks): time series bucket
// with toDateTime(intDiv(toUInt32(ts), $__interval_s) * $__interval_s).
// Tables are named without a database: the datasource's default database
// (mcpwatch in provisioning/) is the session's database.
//
// No Grafana can be installed here, so the dashboards are tested the way
// Grafana would run them: Expand rewrites a panel's SQL as the datasource
// does (template variables in the frontend, then the backend's macros), and
// TestPanelQueries runs every panel target and variable query of every
// committed JSON file against a real ClickHouse seeded by the real pipeline
// from real SDK captures, and asserts the rows each panel returns, with
// "All" and with one value of each variable selected.
// TestPanelQueriesAtVolume does the same over a bench/gen capture and checks
// totals and ordering.
//
// provisioning/ holds the Grafana provisioning files for the datasource and
// the dashboards; README.md says how to load them. Package
// dashboards/plugin is a backend datasource of its own (mcpwatch views
// instead of SQL), built with grafana-plugin-sdk-go.
package dashboards
