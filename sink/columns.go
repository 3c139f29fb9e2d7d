package sink

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// column maps one ClickHouse column to a field of a row type R. newValues
// makes a function that returns the column for a block of rows as a typed
// slice, which the driver appends without per-value reflection. The driver
// copies what it is given, so that function refills one slice block after
// block; it serves one INSERT at a time.
type column[R any] struct {
	name      string
	newValues func() func(rows []R) any
}

func col[R, T any](name string, get func(R) T) column[R] {
	return column[R]{name: name, newValues: func() func([]R) any {
		var out []T
		return func(rows []R) any {
			out = slices.Grow(out[:0], len(rows))
			for _, r := range rows {
				out = append(out, get(r))
			}
			return out
		}
	}}
}

// table is the Go side of one table of migrations/: the column list of its
// INSERT, in order, and how to fill each column from a row.
type table[R any] struct {
	name    string
	columns []column[R]
}

// insertSQL names every column, which 18.16 needs over the native protocol and
// which keeps inserts valid when later migrations add columns with defaults.
func (t table[R]) insertSQL(db string) string {
	names := make([]string, len(t.columns))
	for i, c := range t.columns {
		names[i] = quoteIdent(c.name)
	}
	return fmt.Sprintf("INSERT INTO %s.%s (%s)", quoteIdent(db), quoteIdent(t.name), strings.Join(names, ", "))
}

func quoteIdent(s string) string { return "`" + s + "`" }

// ev and al keep the column tables below one line per column.
type (
	ev = *event.Event
	al = *event.Alert
)

// envelopeColumns are the columns every event table starts with.
func envelopeColumns() []column[ev] {
	return []column[ev]{
		col("schema", func(e ev) uint16 { return uint16(e.Schema) }),
		col("event_id", func(e ev) string { return e.EventID }),
		col("ts", func(e ev) time.Time { return e.TS }),
		col("ts_ns", func(e ev) uint64 { return unixNano(e.TS) }),
		col("sensor", func(e ev) string { return e.Sensor }),
		col("source", func(e ev) string { return e.Source }),
		col("client_address", func(e ev) string { return e.ClientAddress }),
		col("client_port", func(e ev) uint16 { return uint16(e.ClientPort) }),
		col("server_address", func(e ev) string { return e.ServerAddress }),
		col("server_port", func(e ev) uint16 { return uint16(e.ServerPort) }),
		col("server_key", func(e ev) string { return e.ServerKey }),
		col("transport", func(e ev) string { return e.Transport }),
		col("protocol_version", func(e ev) string { return e.ProtocolVersion }),
		col("session_id", func(e ev) string { return e.SessionID }),
		col("client_name", func(e ev) string { return e.ClientName }),
		col("client_version", func(e ev) string { return e.ClientVersion }),
		col("server_name", func(e ev) string { return e.ServerName }),
		col("server_version", func(e ev) string { return e.ServerVersion }),
	}
}

// eventTables maps each event kind to its table.
func eventTables() map[event.Kind]table[ev] {
	withEnvelope := func(name string, cols ...column[ev]) table[ev] {
		return table[ev]{name: name, columns: append(envelopeColumns(), cols...)}
	}
	return map[event.Kind]table[ev]{
		event.KindMessage: withEnvelope("messages",
			col("direction", func(e ev) string { return e.Direction }),
			col("msg_type", func(e ev) string { return e.MsgType }),
			col("method", func(e ev) string { return e.Method }),
			col("jsonrpc_id", func(e ev) string { return e.JSONRPCID }),
			col("tool_name", func(e ev) string { return e.ToolName }),
			col("resource_uri", func(e ev) string { return e.ResourceURI }),
			col("prompt_name", func(e ev) string { return e.PromptName }),
			col("error_code", func(e ev) int32 { return int32(e.ErrorCode) }),
			col("error_message", func(e ev) string { return e.ErrorMessage }),
			col("tool_is_error", func(e ev) uint8 { return boolU8(e.ToolIsError) }),
			col("bytes", func(e ev) int64 { return e.Bytes }),
			col("duration_ms", func(e ev) float64 { return e.DurationMS }),
			col("http_method", func(e ev) string { return e.HTTPMethod }),
			col("http_path", func(e ev) string { return e.HTTPPath }),
			col("http_status", func(e ev) uint16 { return uint16(e.HTTPStatus) }),
			col("user_agent", func(e ev) string { return e.UserAgent }),
			col("origin", func(e ev) string { return e.Origin }),
			col("auth_scheme", func(e ev) string { return e.AuthScheme }),
			col("token_id", func(e ev) string { return e.TokenID }),
			col("token_iss", func(e ev) string { return e.TokenIss }),
			col("token_aud", func(e ev) []string { return e.TokenAud }),
			col("token_scope", func(e ev) string { return e.TokenScope }),
			col("token_client_id", func(e ev) string { return e.TokenClientID }),
			col("token_exp", func(e ev) time.Time { return dateTime(e.TokenExp) }),
			col("batch", func(e ev) uint8 { return boolU8(e.Batch) }),
			col("truncated", func(e ev) uint8 { return boolU8(e.Truncated) }),
		),
		event.KindSession: withEnvelope("sessions",
			col("start_ts", func(e ev) time.Time { return dateTime(e.StartTS) }),
			col("start_ts_ns", func(e ev) uint64 { return optUnixNano(e.StartTS) }),
			col("end_ts", func(e ev) time.Time { return dateTime(e.EndTS) }),
			col("end_ts_ns", func(e ev) uint64 { return optUnixNano(e.EndTS) }),
			col("end_reason", func(e ev) string { return e.EndReason }),
			col("messages_c2s", func(e ev) int64 { return e.MessagesC2S }),
			col("messages_s2c", func(e ev) int64 { return e.MessagesS2C }),
			col("bytes_c2s", func(e ev) int64 { return e.BytesC2S }),
			col("bytes_s2c", func(e ev) int64 { return e.BytesS2C }),
			col("requests", func(e ev) int64 { return e.Requests }),
			col("errors", func(e ev) int64 { return e.Errors }),
			col("tool_calls", func(e ev) int64 { return e.ToolCalls }),
			col("auth_failures", func(e ev) int64 { return e.AuthFailures }),
			col("authenticated", func(e ev) uint8 { return boolU8(e.Authenticated) }),
			col("methods", func(e ev) []string { return e.Methods }),
			col("tools_called", func(e ev) []string { return e.ToolsCalled }),
			col("client_capabilities", func(e ev) []string { return e.ClientCapabilities }),
			col("server_capabilities", func(e ev) []string { return e.ServerCapabilities }),
		),
		event.KindAuth: withEnvelope("auth",
			col("auth_event", func(e ev) string { return e.AuthEvent }),
			col("http_method", func(e ev) string { return e.HTTPMethod }),
			col("http_path", func(e ev) string { return e.HTTPPath }),
			col("http_status", func(e ev) uint16 { return uint16(e.HTTPStatus) }),
			col("www_authenticate", func(e ev) string { return e.WWWAuthenticate }),
			col("resource_metadata", func(e ev) string { return e.ResourceMetadata }),
			col("scope", func(e ev) string { return e.Scope }),
			col("error", func(e ev) string { return e.Error }),
			col("prm_resource", func(e ev) string { return e.PRMResource }),
			col("prm_authorization_servers", func(e ev) []string { return e.PRMAuthorizationServers }),
			col("grant_type", func(e ev) string { return e.GrantType }),
			col("resource", func(e ev) string { return e.Resource }),
			col("pkce_method", func(e ev) string { return e.PKCEMethod }),
			col("client_id", func(e ev) string { return e.ClientID }),
			col("token_id", func(e ev) string { return e.TokenID }),
			col("code_challenge_methods", func(e ev) []string { return e.CodeChallengeMethods }),
		),
		event.KindManifest: withEnvelope("manifests",
			col("manifest_hash", func(e ev) string { return e.ManifestHash }),
			col("tool_count", func(e ev) uint32 { return uint32(e.ToolCount) }),
			col("tools.name", func(e ev) []string { return toolField(e, func(t event.Tool) string { return t.Name }) }),
			col("tools.hash", func(e ev) []string { return toolField(e, func(t event.Tool) string { return t.Hash }) }),
			col("tools.description", func(e ev) []string { return toolField(e, func(t event.Tool) string { return t.Description }) }),
			col("tools.read_only", func(e ev) []uint8 { return toolField(e, func(t event.Tool) uint8 { return boolU8(t.ReadOnly) }) }),
			col("tools.destructive", func(e ev) []uint8 { return toolField(e, func(t event.Tool) uint8 { return boolU8(t.Destructive) }) }),
			col("after_list_changed", func(e ev) uint8 { return boolU8(e.AfterListChanged) }),
		),
		event.KindFlow: withEnvelope("flows",
			col("app_protocol", func(e ev) string { return e.AppProtocol }),
			col("tls_sni", func(e ev) string { return e.TLSSNI }),
			col("tls_alpn", func(e ev) []string { return e.TLSALPN }),
			col("bytes_c2s", func(e ev) int64 { return e.BytesC2S }),
			col("bytes_s2c", func(e ev) int64 { return e.BytesS2C }),
			col("packets", func(e ev) int64 { return e.Packets }),
			col("duration_ms", func(e ev) float64 { return e.DurationMS }),
			col("mcp_hint", func(e ev) string { return e.MCPHint }),
			col("gaps", func(e ev) int64 { return e.Gaps }),
		),
	}
}

func alertTable() table[al] {
	return table[al]{name: "alerts", columns: []column[al]{
		col("schema", func(a al) uint16 { return uint16(a.Schema) }),
		col("alert_id", func(a al) string { return a.AlertID }),
		col("ts", func(a al) time.Time { return a.TS }),
		col("ts_ns", func(a al) uint64 { return unixNano(a.TS) }),
		col("rule_id", func(a al) string { return a.RuleID }),
		col("rule_name", func(a al) string { return a.RuleName }),
		col("severity", func(a al) string { return a.Severity }),
		col("category", func(a al) string { return a.Category }),
		col("summary", func(a al) string { return a.Summary }),
		col("server_key", func(a al) string { return a.ServerKey }),
		col("client_address", func(a al) string { return a.ClientAddress }),
		col("session_id", func(a al) string { return a.SessionID }),
		col("tool_name", func(a al) string { return a.ToolName }),
		col("count", func(a al) int64 { return a.Count }),
		col("window_s", func(a al) float64 { return a.WindowS }),
		col("first_seen", func(a al) time.Time { return dateTime(a.FirstSeen) }),
		col("first_seen_ns", func(a al) uint64 { return optUnixNano(a.FirstSeen) }),
		col("last_seen", func(a al) time.Time { return dateTime(a.LastSeen) }),
		col("last_seen_ns", func(a al) uint64 { return optUnixNano(a.LastSeen) }),
		col("evidence_event_ids", func(a al) []string { return a.EvidenceEventIDs }),
		col("attributes.key", func(a al) []string { return sortedKeys(a.Attributes) }),
		col("attributes.value", func(a al) []string { return valuesByKey(a.Attributes) }),
	}}
}

// The DateTime range of ClickHouse: seconds since the Unix epoch in a UInt32.
var (
	minDateTime = time.Unix(0, 0)
	maxDateTime = time.Unix(1<<32-1, 0)
)

// checkTime reports a timestamp a DateTime column cannot hold. The driver
// would wrap it silently into a wrong date; refusing it makes the row a
// dead letter instead.
func checkTime(what string, t *time.Time) error {
	if t == nil || t.IsZero() {
		return nil
	}
	if t.Before(minDateTime) || t.After(maxDateTime) {
		return fmt.Errorf("%s %s outside the DateTime range 1970..2106: %w", what, t.Format(time.RFC3339Nano), ErrBadData)
	}
	return nil
}

// checkUint16 reports a port or status a UInt16 column cannot hold.
func checkUint16(what string, v int) error {
	if v < 0 || v > 1<<16-1 {
		return fmt.Errorf("%s %d outside 0..65535: %w", what, v, ErrBadData)
	}
	return nil
}

// checkEvent refuses an event no table can hold as it is.
func checkEvent(e *event.Event) error {
	if err := e.Validate(); err != nil {
		return fmt.Errorf("%w: %w", err, ErrBadData)
	}
	for _, err := range []error{
		checkTime("ts", &e.TS),
		checkTime("token_exp", e.TokenExp),
		checkTime("start_ts", e.StartTS),
		checkTime("end_ts", e.EndTS),
		checkUint16("client_port", e.ClientPort),
		checkUint16("server_port", e.ServerPort),
		checkUint16("http_status", e.HTTPStatus),
	} {
		if err != nil {
			return fmt.Errorf("event %q: %w", e.EventID, err)
		}
	}
	return nil
}

// checkAlert refuses an alert the alerts table cannot hold as it is.
func checkAlert(a *event.Alert) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("%w: %w", err, ErrBadData)
	}
	for _, err := range []error{
		checkTime("ts", &a.TS),
		checkTime("first_seen", a.FirstSeen),
		checkTime("last_seen", a.LastSeen),
	} {
		if err != nil {
			return fmt.Errorf("alert %q: %w", a.AlertID, err)
		}
	}
	return nil
}

func unixNano(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano())
}

func optUnixNano(t *time.Time) uint64 {
	if t == nil {
		return 0
	}
	return unixNano(*t)
}

// dateTime is the column value of an optional timestamp: the epoch, which is
// the DateTime column default, when absent.
func dateTime(t *time.Time) time.Time {
	if t == nil || t.IsZero() {
		return minDateTime
	}
	return *t
}

func boolU8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func toolField[T any](e *event.Event, get func(event.Tool) T) []T {
	out := make([]T, len(e.Tools))
	for i, t := range e.Tools {
		out[i] = get(t)
	}
	return out
}

// Attributes are stored as parallel arrays sorted by key, so equal maps give
// equal rows.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func valuesByKey(m map[string]string) []string {
	keys := sortedKeys(m)
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = m[k]
	}
	return vals
}

func deadLetterTable() table[*DeadLetter] {
	type dl = *DeadLetter
	return table[dl]{name: "dead_letters", columns: []column[dl]{
		col("ts", func(d dl) time.Time { return d.TS }),
		col("id", func(d dl) string { return d.ID }),
		col("kind", func(d dl) string { return d.Kind }),
		col("error", func(d dl) string { return d.Error }),
		col("payload", func(d dl) string { return string(d.Payload) }),
	}}
}
