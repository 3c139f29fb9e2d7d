// Package report turns what one mcpwatch run saw — events, alerts and the
// capture's own counters — into a report an analyst can open and hand on:
// one self-contained HTML page (no request leaves it: styles, script and
// SVG charts are inline), Markdown for tickets, or JSON for machines.
//
// Interface: a Builder takes events (Observe) and alerts (ObserveAlert) in
// any order, capture counters (AddCapture) and, read back from a store,
// server rows (AddStoredServer); Build returns the Report, a plain value
// that Write renders as HTML, Markdown or JSON. The
// posture grade of each server comes from a Grader: Posture (package
// posture's scorecards, from the events observed) or StoredGrades
// (scorecards assessed from ClickHouse); without one the grade column
// says "not graded", and a server the Grader has no scorecard for (an
// authorization server's endpoint) a dash.
//
// Content: the server inventory (servers not on the allowlist — those
// detect raised unexpected_server alerts for — first) with grades and the
// reason of each failed check; alerts over time by severity; auth
// failures over time; top talkers (client → server bytes) and bulk
// transfer alerts; tools called per server; manifest drift as a diff of
// tool definitions; sessions per protocol revision; the capture's health.
// Every number links to its evidence (event_ids or alert_ids) in the
// appendix.
//
// Overload: the report stays bounded whatever the input. Per-server state
// is kept for at most Config.MaxServers servers (the rest are counted in
// ServersDropped); evidence is capped per number (the first Config.MaxEvidence
// ids seen); charts have at most Config.TimeBuckets buckets;
// top lists and per-server tool lists are cut to Config.TopN with the
// remainder counted; alerts are aggregated (per rule, per server, per
// bucket), only the Config.RecentAlerts most recent are listed. The HTML
// inventory shows Config.PageSize rows at a time (inline script pages it;
// without script every row is shown).
package report
