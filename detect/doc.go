// Package detect is the detector stage of mcpwatch: it turns a stream of
// schema-v1 events (package event) into alerts by running the rules of a rule
// pack (package rules, or a --rules directory) against each event, with the
// approved-server allowlist at hand.
//
// Rules are data. Each rule has a condition, an expr-lang expression over the
// event fields by their schema names (kind == "message" && method ==
// "tools/call"), type-checked against the event schema when the rules are
// loaded, and one of four types:
//
//   - match: every matching event is an alert;
//   - threshold: count, sum(field) or distinct(field) of matching events per
//     group over a sliding event-time window reaches a threshold, optionally
//     also a multiple of the group's own baseline;
//   - new_value: a value or tuple of values is seen for the first time,
//     after an optional learning period;
//   - change: the value for a key differs from the one seen before, or from
//     the one another client currently sees.
//
// The interface is small: LoadRules compiles a rule pack, LoadAllowlist reads
// the allowlist, NewEngine builds the stateful engine and Engine.Process
// takes one event and returns the alerts it causes. SetAllowlist swaps the
// allowlist while running (WatchAllowlist tells when the file changed). Lint
// and RunTests back `mcpwatch rules lint` and `mcpwatch rules test`.
//
// Time is event time: windows, learning periods and suppression use the
// event's ts, never the wall clock, so replaying a pcap gives the same
// alerts, with the same alert ids, every time. Alert ids are derived from the
// rule, the group and the evidence event ids.
//
// Redelivery: JetStream may deliver an event again after a consumer
// restart. A threshold window does not count an event_id twice; new_value
// and change rules are unmoved by a repeated event; a repeated match alert
// has the same alert_id, which the bus deduplicates.
//
// Overload: all rule state is bounded. Each rule keeps at most
// Config.MaxGroupsPerRule groups (threshold windows, seen values, last values,
// suppression marks); a new group beyond that evicts the least recently
// updated one, and Stats counts the evictions per rule. Groups whose state
// says nothing any more expire by event time, counted as GroupsExpired: a
// threshold window two windows after its last event (with a baseline,
// BaselineWindows+20 windows, when the baseline has decayed below 0.1 %),
// a suppression mark twice its interval after the alert. Seen values and
// last values (new_value, change) stay until evicted: forgetting them would
// raise a known value again or miss a change. A threshold window
// keeps at most Config.MaxEventsPerGroup entries; older entries beyond the cap
// are dropped and counted. Events older than a group's window (late arrivals)
// are counted and ignored. Eviction can cause a repeated new_value alert or a
// missed change — the counters say when that may have happened; memory never
// grows without bound. Alerts are bounded as well: Config.MaxAttributeBytes
// caps each attribute value (MaxSummaryBytes the summary) and
// Config.MaxAttributes their number; what is cut says so (TruncatedMarker,
// DroppedAttributesKey) and is counted per rule.
//
// Run-time errors: an expression that fails is counted per rule
// (RuleStats.EvalErrors, LastError) and logged, rate-limited per rule. A
// failing condition skips the event for the rule; a failing attribute is
// marked in an alert that is still raised. A rule whose evaluations keep
// failing (Config.FailAfter in a row, or more than FailRatio of a window of
// FailWindow) is failing: logged as an error, RuleStats.Failing, until a
// window under the ratio ends.
package detect
