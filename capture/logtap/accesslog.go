package logtap

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
)

// FieldMap names the JSON keys of an access-log line (its yaml tags are
// the keys of deploy/logtap/mcpwatch-fields.yaml). Empty names are
// fields the log does not have. Values may be JSON strings or numbers; "-"
// and "" mean absent (Envoy and nginx write "-" for a missing value).
//
// What decode can derive from a header-only record, and what it cannot:
//
//   - can: the exchange itself (http_method, http_path, http_status,
//     user_agent via RequestHeaders["User-Agent"]), server_key (Authority
//     or Host header and Path), the session (Mcp-Session-Id on the request,
//     and on the initialize response via ResponseHeaders), the protocol
//     version (MCP-Protocol-Version), whether the exchange is MCP at all
//     (any of those headers or Mcp-Method), auth failures (401/403 status)
//     and whether requests carried credentials (an Authorization value —
//     log only its scheme, see deploy/logtap), request and response
//     volumes (BodyLen from the byte counts, so session bytes_c2s/s2c),
//     event-stream responses (a Content-Type response header), and
//     client/server addresses and connection identity when mapped.
//   - cannot: anything in a body — JSON-RPC ids, message events and their
//     method/tool/result fields, errors inside a 200, tool manifests,
//     clientInfo/serverInfo, capabilities, token claims (the token is not
//     logged) and the auth documents (PRM, AS metadata, token requests).
//     With 2026-07-28 traffic the Mcp-Method and Mcp-Name headers name
//     the method and tool of every request; decode reads them only to
//     check them against a body today, so they surface in events only
//     once decode reports header-only exchanges.
type FieldMap struct {
	// Time is when the request started (Envoy %START_TIME%) or, with
	// TimeAtEnd, when the line was written (nginx $time_iso8601, $msec).
	Time      string `yaml:"time"`
	TimeAtEnd bool   `yaml:"time_at_end"`
	// TimeLayout is "rfc3339" (default, fractions allowed), "unix"
	// (seconds, fractions allowed: nginx $msec), "unix_ms", or a Go time
	// layout.
	TimeLayout string `yaml:"time_layout"`
	// Duration is the request's total time in DurationUnit (default
	// millisecond: Envoy %DURATION%; nginx $request_time is seconds).
	Duration     string        `yaml:"duration"`
	DurationUnit time.Duration `yaml:"duration_unit"`

	Method    string `yaml:"method"`
	Path      string `yaml:"path"` // path and query as requested
	Protocol  string `yaml:"protocol"`
	Authority string `yaml:"authority"` // :authority / Host
	Status    string `yaml:"status"`
	// RequestBytes and ResponseBytes are body byte counts (Envoy
	// %BYTES_RECEIVED% / %BYTES_SENT%; nginx $content_length, the declared
	// request body length — its $request_length counts headers too — and
	// $body_bytes_sent).
	RequestBytes  string `yaml:"request_bytes"`
	ResponseBytes string `yaml:"response_bytes"`
	// ClientAddress is the downstream peer, "ip" or "ip:port"; ClientPort
	// a separate port field (nginx $remote_port).
	ClientAddress string `yaml:"client_address"`
	ClientPort    string `yaml:"client_port"`
	// ServerAddress is the address the client connected to (Envoy
	// %DOWNSTREAM_LOCAL_ADDRESS%, nginx $server_addr with ServerPort
	// $server_port). The upstream (Envoy %UPSTREAM_HOST%) is the proxy's
	// own next hop, which the sensor never sees on the client side.
	ServerAddress string `yaml:"server_address"`
	ServerPort    string `yaml:"server_port"`
	// ConnectionID names the downstream connection (Envoy
	// %CONNECTION_ID%, nginx $connection).
	ConnectionID string `yaml:"connection_id"`
	// RequestHeaders and ResponseHeaders map HTTP header names to keys,
	// e.g. "Mcp-Session-Id": "mcp_session_id".
	RequestHeaders  map[string]string `yaml:"request_headers"`
	ResponseHeaders map[string]string `yaml:"response_headers"`
}

// EnvoyAccessLogFields is the mapping for the json_format in
// deploy/logtap/envoy.yaml.
func EnvoyAccessLogFields() FieldMap {
	return FieldMap{
		Time: "start_time", Duration: "duration",
		Method: "method", Path: "path", Protocol: "protocol", Authority: "authority", Status: "status",
		RequestBytes: "bytes_received", ResponseBytes: "bytes_sent",
		ClientAddress: "client", ServerAddress: "listener", ConnectionID: "connection_id",
		RequestHeaders:  mcpRequestHeaders,
		ResponseHeaders: mcpResponseHeaders,
	}
}

// NginxAccessLogFields is the mapping for the log_format in
// deploy/logtap/nginx.conf.
func NginxAccessLogFields() FieldMap {
	return FieldMap{
		Time: "msec", TimeAtEnd: true, TimeLayout: "unix",
		Duration: "request_time", DurationUnit: time.Second,
		Method: "method", Path: "path", Protocol: "protocol", Authority: "authority", Status: "status",
		RequestBytes: "content_length", ResponseBytes: "body_bytes_sent",
		ClientAddress: "client", ClientPort: "client_port", ServerAddress: "server_addr", ServerPort: "server_port",
		ConnectionID:    "connection_id",
		RequestHeaders:  mcpRequestHeaders,
		ResponseHeaders: mcpResponseHeaders,
	}
}

// The headers both example configurations log, under the same keys.
var (
	mcpRequestHeaders = map[string]string{
		"Mcp-Session-Id":       "mcp_session_id",
		"Mcp-Protocol-Version": "mcp_protocol_version",
		"Mcp-Method":           "mcp_method",
		"Mcp-Name":             "mcp_name",
		"Authorization":        "auth_scheme",
		"User-Agent":           "user_agent",
		"Content-Type":         "content_type",
	}
	mcpResponseHeaders = map[string]string{
		"Mcp-Session-Id":   "resp_mcp_session_id",
		"Content-Type":     "resp_content_type",
		"Www-Authenticate": "www_authenticate",
	}
)

func (m FieldMap) empty() bool {
	return m.Method == "" && m.Path == "" && m.Status == "" && m.Time == "" && len(m.RequestHeaders) == 0
}

func (m FieldMap) validate() error {
	var errs []error
	if m.Method == "" || m.Path == "" || m.Status == "" {
		errs = append(errs, errors.New("logtap config: AccessLogFields needs Method, Path and Status keys"))
	}
	if m.DurationUnit < 0 {
		errs = append(errs, fmt.Errorf("logtap config: AccessLogFields.DurationUnit is negative (%s)", m.DurationUnit))
	}
	switch m.TimeLayout {
	case "", "rfc3339", "unix", "unix_ms":
	default:
		if _, err := time.Parse(m.TimeLayout, time.Now().Format(m.TimeLayout)); err != nil {
			errs = append(errs, fmt.Errorf("logtap config: AccessLogFields.TimeLayout %q is not a Go time layout", m.TimeLayout))
		}
	}
	return errors.Join(errs...)
}

// accessLogParser reads one JSON object per line through a FieldMap.
type accessLogParser struct{ fields FieldMap }

func (*accessLogParser) flush() []*exchange        { return nil }
func (*accessLogParser) pending() (position, bool) { return position{}, false }

func (p *accessLogParser) parse(rec rawRecord) ([]*exchange, error) {
	o, err := decodeObject(rec.data)
	if err != nil {
		return nil, err
	}
	f := p.fields
	var typed fields
	val := func(key string) string {
		if key == "" {
			return ""
		}
		v := strings.TrimSpace(typed.str(o, key))
		if v == "-" {
			return ""
		}
		return v
	}
	method, path := val(f.Method), val(f.Path)
	if typed.err != nil {
		return nil, typed.err
	}
	if method == "" || path == "" {
		return nil, fmt.Errorf("access-log line without %s or %s", f.Method, f.Path)
	}
	status, err := strconv.Atoi(val(f.Status))
	if err != nil || status < 0 || status > 999 {
		return nil, fmt.Errorf("access-log line with bad %s %q", f.Status, val(f.Status))
	}
	ex := &exchange{line: rec.line, off: rec.off}
	reqH, respH := http.Header{}, http.Header{}
	for name, key := range f.RequestHeaders {
		if v := val(key); v != "" {
			reqH.Set(name, v)
		}
	}
	for name, key := range f.ResponseHeaders {
		if v := val(key); v != "" {
			respH.Set(name, v)
		}
	}
	host := val(f.Authority)
	if host == "" {
		host = reqH.Get("Host")
	}
	ex.req = capture.Request{Method: method, Target: path, Proto: val(f.Protocol), Host: host, Header: reqH}
	ex.scheme = reqH.Get("X-Forwarded-Proto") // when the mapping logs it
	ex.reqBody = headerOnly(val(f.RequestBytes))
	if status >= 100 { // 0: the client went away before a response (nginx 499 is a status)
		ex.resp = &capture.Response{StatusCode: status, Proto: val(f.Protocol), Header: respH, EventStream: isEventStream(respH)}
		ex.respBody = headerOnly(val(f.ResponseBytes))
	}

	t, err := logTime(val(f.Time), f.TimeLayout)
	if err != nil {
		return nil, fmt.Errorf("access-log line with bad %s: %w", f.Time, err)
	}
	var d time.Duration
	if s := val(f.Duration); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || v > 1e15 {
			return nil, fmt.Errorf("access-log line with bad %s %q", f.Duration, s)
		}
		unit := f.DurationUnit
		if unit == 0 {
			unit = time.Millisecond
		}
		d = time.Duration(v * float64(unit))
	}
	if f.TimeAtEnd && !t.IsZero() {
		t = t.Add(-d)
	}
	// A log line has one time for the whole exchange: the request starts
	// it, the response ends it.
	ex.req.Time, ex.req.End = t, t
	if ex.resp != nil && !t.IsZero() {
		ex.resp.Time, ex.resp.End = t.Add(d), t.Add(d)
	}

	ex.client = addrPort(val(f.ClientAddress), val(f.ClientPort))
	ex.server = addrPort(val(f.ServerAddress), val(f.ServerPort))
	if id := val(f.ConnectionID); id != "" {
		ex.conn = "conn|" + id
	}
	return []*exchange{ex}, typed.err
}

// headerOnly is a body a log only counted.
func headerOnly(n string) body {
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil || v < 0 {
		return body{}
	}
	return body{size: v, cut: v > 0}
}

func logTime(s, layout string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	switch layout {
	case "", "rfc3339":
		return time.Parse(time.RFC3339Nano, s)
	case "unix", "unix_ms":
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 || v > 1e15 {
			return time.Time{}, fmt.Errorf("not a %s time: %q", layout, s)
		}
		if layout == "unix_ms" {
			v /= 1000
		}
		sec, frac := math.Modf(v)
		return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC(), nil
	}
	return time.Parse(layout, s)
}

// addrPort reads "ip", "ip:port", "[v6]:port", or ip and port apart.
func addrPort(addr, port string) netip.AddrPort {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ip, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		return netip.AddrPort{}
	}
	p, _ := strconv.ParseUint(port, 10, 16)
	return netip.AddrPortFrom(ip.Unmap(), uint16(p))
}
