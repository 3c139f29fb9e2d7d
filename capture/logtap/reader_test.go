package logtap

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/capture"
)

// recorder keeps what a Reader hands on.
type recorder struct {
	reqs   []capture.Request
	resps  []capture.Response
	events []capture.SSEEvent
	ends   []capture.ConnEnd
	conns  []capture.Conn
}

func (r *recorder) Request(req *capture.Request) { r.reqs = append(r.reqs, *req) }
func (r *recorder) Response(_ *capture.Request, resp *capture.Response) {
	r.resps = append(r.resps, *resp)
}
func (r *recorder) SSEEvent(_ *capture.Request, _ *capture.Response, ev *capture.SSEEvent) {
	r.events = append(r.events, *ev)
}
func (r *recorder) ResponseEnd(*capture.Request, *capture.Response) {}
func (r *recorder) ConnEnd(c *capture.Conn, e *capture.ConnEnd) {
	r.conns, r.ends = append(r.conns, *c), append(r.ends, *e)
}

func run(t *testing.T, cfg Config, input string) (*recorder, Stats, []BadRecord) {
	t.Helper()
	var bad []BadRecord
	cfg.OnBadRecord = func(b BadRecord) { bad = append(bad, b) }
	rec := &recorder{}
	r := NewReader(cfg, "in.log", strings.NewReader(input))
	if err := r.Run(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return rec, r.Stats(), bad
}

// sampleRecords returns the JSON records of a checked-in sample, decoded.
func sampleRecords(t *testing.T, name string, path ...string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sampleDir, name))
	if err != nil {
		t.Fatal(err)
	}
	sp := newSplitter(bytes.NewReader(b), 1<<30, path...)
	var out []map[string]any
	for {
		rec, err := sp.next()
		if err != nil {
			return out
		}
		var m map[string]any
		if err := json.Unmarshal(rec.data, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
}

func jsonLine(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// Bad records are skipped and reported with their line; the records around
// them are handed on.
func TestBadRecordsReported(t *testing.T) {
	lines := strings.SplitAfter(strings.TrimSpace(mustRead(t, "demo.envoy-access.jsonl")), "\n")
	good := lines[0]
	input := good + // line 1
		"not json at all\n" + // line 2
		`{"method":"POST","path":"/mcp","status":"abc"}` + "\n" + // line 3: bad status
		`{"method":"POST","path":"/mcp","status":200,` + "\n" + // line 4: torn, broken off by line 5
		good + // line 5
		`{"path":"/mcp","status":200}` + "\n" + // line 6: no method
		`{"method":"POST","path":"/mcp","status":200,"big":"` + strings.Repeat("x", 700) + `"}` + "\n" + // line 7: over the cap
		good // line 8
	rec, st, bad := run(t, Config{Format: FormatAccessLog, MaxRecordBytes: 600}, input)
	var got []string
	for _, b := range bad {
		got = append(got, fmt.Sprintf("%d", b.Line))
	}
	if want := "2 3 4 6 7"; strings.Join(got, " ") != want {
		t.Errorf("bad records on lines %v, want %s: %v", got, want, bad)
	}
	if len(rec.reqs) != 3 || st.BadRecords != 5 || st.Oversize != 1 || st.Records != 8 {
		t.Errorf("%d requests handed on; stats %+v", len(rec.reqs), st)
	}
	if !strings.HasPrefix(bad[0].String(), "in.log:2: ") {
		t.Errorf("report %q does not start with file:line", bad[0])
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sampleDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Envoy's truncated flag (max_buffered_rx/tx_bytes) and MaxBodyBytes both
// flag a body Truncated; BodyLen keeps the length the message declared or
// had.
func TestEnvoyTruncation(t *testing.T) {
	tr := sampleRecords(t, "demo.envoy-buffered.json")[0]
	req := tr["http_buffered_trace"].(map[string]any)["request"].(map[string]any)
	full, _ := base64.StdEncoding.DecodeString(req["body"].(map[string]any)["as_bytes"].(string))
	req["body"] = map[string]any{"truncated": true, "as_bytes": base64.StdEncoding.EncodeToString(full[:40])}

	rec, _, bad := run(t, Config{Format: FormatEnvoyTap}, jsonLine(t, tr))
	if len(bad) != 0 || len(rec.reqs) != 1 {
		t.Fatalf("bad %v, requests %d", bad, len(rec.reqs))
	}
	r := rec.reqs[0]
	if !r.Truncated || r.TruncatedBy != TruncProxyCap || len(r.Body) != 40 || r.BodyLen != int64(len(full)) {
		t.Errorf("truncated trace: Truncated %v, %d bytes kept, BodyLen %d (want %d)", r.Truncated, len(r.Body), r.BodyLen, len(full))
	}

	req["body"] = map[string]any{"as_bytes": base64.StdEncoding.EncodeToString(full)}
	rec, st, _ := run(t, Config{Format: FormatEnvoyTap, MaxBodyBytes: 64}, jsonLine(t, tr))
	r = rec.reqs[0]
	if r.TruncatedBy != capture.TruncBodyCap || len(r.Body) != 64 || r.BodyLen != int64(len(full)) || st.BodiesTruncated != 2 {
		// the event-stream response is cut too
		t.Errorf("capped body: Truncated %v, %d bytes kept, BodyLen %d; stats %+v", r.Truncated, len(r.Body), r.BodyLen, st)
	}
}

// A gzip-encoded response body is inflated (and capped), as on the wire;
// protojson's lowerCamelCase keys read as Envoy's snake_case ones.
func TestEnvoyGzipCamelCase(t *testing.T) {
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	zw.Write([]byte(`{"jsonrpc":"2.0","id":7,"result":{"tools":[]}}`))
	zw.Close()
	trace := map[string]any{"httpBufferedTrace": map[string]any{
		"request": map[string]any{"headers": []map[string]string{{"key": ":method", "value": "POST"}, {"key": ":path", "value": "/mcp"}, {"key": ":authority", "value": "mcp.example"}},
			"headersReceivedTime": "2026-07-28T10:00:00Z"},
		"response": map[string]any{"headers": []map[string]string{{"key": ":status", "value": "200"}, {"key": "content-encoding", "value": "gzip"}, {"key": "content-type", "value": "application/json"}},
			"body": map[string]any{"asBytes": base64.StdEncoding.EncodeToString(body.Bytes())}},
		"downstreamConnection": map[string]any{"remoteAddress": map[string]any{"socketAddress": map[string]any{"address": "10.2.0.1", "portValue": 51000}}},
	}}
	rec, _, bad := run(t, Config{Format: FormatEnvoyTap}, jsonLine(t, trace))
	if len(bad) != 0 || len(rec.resps) != 1 {
		t.Fatalf("bad %v, responses %d", bad, len(rec.resps))
	}
	if got := string(rec.resps[0].Body); got != `{"jsonrpc":"2.0","id":7,"result":{"tools":[]}}` {
		t.Errorf("body %q", got)
	}
	if c := rec.conns[0]; c.Client.String() != "10.2.0.1:51000" || rec.reqs[0].Host != "mcp.example" {
		t.Errorf("conn %+v, host %q", c, rec.reqs[0].Host)
	}
}

// Event-stream bodies become SSEEvent callbacks with the packet engine's
// rules: priming events (id only) are seen, data lines join, comments and
// unknown fields are skipped, CRLF and CR end lines, and an event the body
// ends inside is not dispatched.
func TestParseSSE(t *testing.T) {
	body := "id: 0\r\n\r\n: keep-alive\nevent: message\ndata: {\"a\":\ndata: 1}\nfoo: bar\nretry: 3000\r\rdata: cut"
	var evs []capture.SSEEvent
	incomplete := parseSSE([]byte(body), 1<<20, capture.Conn{}.Start, func(ev *capture.SSEEvent) { evs = append(evs, *ev) })
	if !incomplete || len(evs) != 2 {
		t.Fatalf("%d events, incomplete %v: %+v", len(evs), incomplete, evs)
	}
	if e := evs[0]; e.ID != "0" || e.Data != "" || e.Event != "message" || e.Index != 0 {
		t.Errorf("priming event %+v", e)
	}
	if e := evs[1]; e.Data != "{\"a\":\n1}" || e.Retry != 3000 || e.Index != 1 {
		t.Errorf("second event %+v", e)
	}
	evs = nil
	parseSSE([]byte("data: 0123456789\n\n"), 4, capture.Conn{}.Start, func(ev *capture.SSEEvent) { evs = append(evs, *ev) })
	if len(evs) != 1 || evs[0].Data != "0123" || !evs[0].Truncated {
		t.Errorf("capped event %+v", evs)
	}
}

// Connections: records naming one connection share a Conn, numbered by the
// offset of the record that opened it (the same every run); a second
// client beyond MaxConns evicts the least recently used.
func TestConns(t *testing.T) {
	input := mustRead(t, "demo.envoy-access.jsonl")
	a, _, _ := run(t, Config{Format: FormatAccessLog}, input)
	b, st, _ := run(t, Config{Format: FormatAccessLog}, input)
	ids := map[any]bool{} // the connections the log names
	for _, rec := range sampleRecords(t, "demo.envoy-access.jsonl") {
		ids[rec["connection_id"]] = true
	}
	if len(a.conns) != len(ids) || st.Conns != int64(len(ids)) {
		t.Fatalf("%d conns for %d connection ids; stats %+v", len(a.conns), len(ids), st)
	}
	for i := range a.conns {
		if a.conns[i] != b.conns[i] || a.ends[i].Reason != capture.ConnEndInputEnd {
			t.Errorf("conn %d: %+v / %+v, end %+v", i, a.conns[i], b.conns[i], a.ends[i])
		}
	}
	for _, c := range a.conns { // ID-1 is the offset of the record that opened it
		if off := c.ID - 1; off != 0 && input[off-1] != '\n' {
			t.Errorf("conn ID %d is not a record offset + 1", c.ID)
		}
	}
	c, st, _ := run(t, Config{Format: FormatAccessLog, MaxConns: 1}, input)
	if st.ConnsEvicted == 0 || c.ends[0].Reason != capture.ConnEndEvicted {
		t.Errorf("MaxConns 1: stats %+v, ends %+v", st, c.ends)
	}
}

// HAR: content.text is already decoded whatever Content-Encoding says;
// base64 content is decoded; a blocked request (status 0) has no response;
// something that is not HAR is an error, not an empty success.
func TestHAR(t *testing.T) {
	doc := map[string]any{"log": map[string]any{"version": "1.2", "entries": []any{
		map[string]any{"startedDateTime": "2026-07-28T10:00:00.000Z", "time": 12.5,
			"request":  map[string]any{"method": "POST", "url": "https://mcp.example/mcp?x=1", "httpVersion": "h2", "headers": []any{map[string]any{"name": ":authority", "value": "mcp.example"}}, "postData": map[string]any{"mimeType": "application/json", "text": `{"jsonrpc":"2.0","id":1,"method":"ping"}`}},
			"response": map[string]any{"status": 200, "httpVersion": "h2", "headers": []any{map[string]any{"name": "content-encoding", "value": "gzip"}}, "content": map[string]any{"size": 36, "mimeType": "application/json", "text": base64.StdEncoding.EncodeToString([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`)), "encoding": "base64"}},
			"timings":  map[string]any{"blocked": -1, "dns": -1, "connect": -1, "send": 0.5, "wait": 10, "receive": 2}, "serverIPAddress": "[2001:db8::1]", "_initiator": map[string]any{"type": "script"}},
		map[string]any{"startedDateTime": "2026-07-28T10:00:01.000Z", "request": map[string]any{"method": "GET", "url": "https://mcp.example/blocked"}, "response": map[string]any{"status": 0}},
	}}}
	rec, _, bad := run(t, Config{Format: FormatHAR}, jsonLine(t, doc))
	if len(bad) != 0 || len(rec.reqs) != 2 || len(rec.resps) != 1 {
		t.Fatalf("bad %v, %d requests, %d responses", bad, len(rec.reqs), len(rec.resps))
	}
	r, resp := rec.reqs[0], rec.resps[0]
	if r.Target != "/mcp?x=1" || r.Host != "mcp.example" || r.Proto != "HTTP/2.0" || string(resp.Body) != `{"jsonrpc":"2.0","id":1,"result":{}}` || resp.Truncated {
		t.Errorf("request %+v, response body %q truncated %v", r, resp.Body, resp.Truncated)
	}
	if d := resp.Time.Sub(r.Time); d.Milliseconds() != 10 {
		t.Errorf("wait timing gave %s", d)
	}
	if s := rec.conns[0].Server.String(); s != "[2001:db8::1]:443" {
		t.Errorf("server %s", s)
	}
	r2 := NewReader(Config{Format: FormatHAR}, "x.har", strings.NewReader(`{"not":"har"}`))
	if err := r2.Run(context.Background(), &recorder{}); err == nil {
		t.Error("a JSON document without log.entries read as an empty HAR")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{Format: "pcap"},
		{Format: FormatHAR, MaxBodyBytes: -1},
		{Format: FormatAccessLog, AccessLogFields: FieldMap{Method: "m"}},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v validated", c)
		}
	}
	if err := (Config{Format: FormatAccessLog, AccessLogFields: NginxAccessLogFields()}).Validate(); err != nil {
		t.Error(err)
	}
}
