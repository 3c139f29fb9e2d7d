package logtap

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcpwatch/mcpwatch/capture"
)

// invariants is a Handler that fails the test when a Reader hands on
// something the capture contract rules out.
type invariants struct {
	t   *testing.T
	max int64
}

func (h invariants) body(what string, b []byte, n int64, truncated bool) {
	if int64(len(b)) > h.max || n < int64(len(b)) || (n > int64(len(b)) && !truncated) {
		h.t.Fatalf("%s body: %d bytes kept, BodyLen %d, Truncated %v, cap %d", what, len(b), n, truncated, h.max)
	}
}

func (h invariants) Request(r *capture.Request) {
	if r.Conn == nil || r.Method == "" || r.Header == nil {
		h.t.Fatalf("request %+v", r)
	}
	h.body("request", r.Body, r.BodyLen, r.Truncated)
}

func (h invariants) Response(r *capture.Request, s *capture.Response) {
	if s.Conn != r.Conn || s.Seq != r.Seq || s.Time.Before(r.Time) {
		h.t.Fatalf("response %+v to %+v", s, r)
	}
	if !s.EventStream {
		h.body("response", s.Body, s.BodyLen, s.Truncated)
	}
}

func (h invariants) SSEEvent(_ *capture.Request, _ *capture.Response, ev *capture.SSEEvent) {
	if int64(len(ev.Data)) > h.max {
		h.t.Fatalf("event of %d bytes, cap %d", len(ev.Data), h.max)
	}
}
func (invariants) ResponseEnd(*capture.Request, *capture.Response) {}
func (invariants) ConnEnd(*capture.Conn, *capture.ConnEnd)         {}

// fuzzReader feeds data to a Reader of format with small caps: it must
// never fail (bad records are skipped) nor break the handler contract.
func fuzzReader(t *testing.T, cfg Config, data []byte) {
	cfg.MaxBodyBytes, cfg.MaxRecordBytes, cfg.MaxConns, cfg.MaxOpenTraces, cfg.MaxReorder = 256, 64<<10, 4, 4, 4
	r := NewReader(cfg, "fuzz", bytes.NewReader(data))
	err := r.Run(context.Background(), invariants{t: t, max: cfg.MaxBodyBytes})
	if err != nil && cfg.Format != FormatHAR { // HAR: "not a HAR file" is the answer to junk
		t.Fatal(err)
	}
	st := r.Stats()
	if st.BadRecords > st.Records {
		t.Fatalf("stats %+v", st)
	}
}

// seed adds the first records of checked-in samples of the real demo
// conversation: small seeds keep the fuzzer's minimisation quick.
func seed(f *testing.F, name string, records int, path ...string) {
	b, err := os.ReadFile(filepath.Join(sampleDir, name))
	if err != nil {
		f.Fatal(err)
	}
	sp := newSplitter(bytes.NewReader(b), 1<<30, path...)
	var recs [][]byte
	for range records {
		rec, err := sp.next()
		if err != nil {
			break
		}
		recs = append(recs, rec.data)
	}
	if len(path) > 0 { // rebuild a document around the entries
		f.Add([]byte(`{"log":{"version":"1.2","entries":[` + string(bytes.Join(recs, []byte(","))) + `]}}`))
		return
	}
	f.Add(bytes.Join(recs, []byte("\n")))
}

func FuzzEnvoyTap(f *testing.F) {
	seed(f, "demo.envoy-buffered.json", 2)
	seed(f, "demo.envoy-default.json", 2) // Envoy's defaults: no times, no connection
	seed(f, "demo.envoy-streamed/tap_1000000000000000000.json", 5)
	f.Add([]byte(`{"http_streamed_trace_segment":{"trace_id":"1","response_body_chunk":{"as_string":"x"}}}`))
	f.Add([]byte(`{"httpBufferedTrace":{"request":{"headers":[{"key":":method","value":"GET"},{"key":":path","value":"/"}]},"response":{"headers":[{"key":":status","value":"200"},{"key":"content-encoding","value":"deflate"}],"body":{"asBytes":"eJwDAAAAAAE="}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzReader(t, Config{Format: FormatEnvoyTap}, data) })
}

func FuzzHAR(f *testing.F) {
	seed(f, "demo.har", 2, harPath...)
	f.Add([]byte(`{"log":{"entries":[1,"x",{"request":{}},[],null]}}`))
	// Chrome's and Firefox's quirks: bracketed IPv6, socket id or port as
	// connection, offset times, empty timings, no content.text.
	f.Add([]byte(`{"log":{"version":"1.2","entries":[{"_initiator":{"type":"script"},"_resourceType":"fetch","connection":"24017","serverIPAddress":"[2001:db8::1]","startedDateTime":"2026-07-28T10:00:00.000Z","time":3.5,"request":{"method":"POST","url":"https://[2001:db8::1]/mcp","httpVersion":"HTTP/1.1","headers":[{"name":"Content-Type","value":"application/json"}],"headersSize":-1,"bodySize":-1,"postData":{"mimeType":"application/json","text":"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"}},"response":{"status":200,"headers":[],"content":{"size":-1,"mimeType":"text/event-stream","text":"ZGF0YTogewoK","encoding":"base64"},"bodySize":-1,"_transferSize":300,"_error":null},"timings":{"blocked":-1,"dns":-1,"ssl":-1,"connect":-1,"send":0.1,"wait":3,"receive":0.4}},{"pageref":"page_1","startedDateTime":"2026-07-28T12:00:01.000+02:00","serverIPAddress":"2001:db8::1","connection":"443","request":{"method":"DELETE","url":"https://mcp.example/mcp","headers":[]},"response":{"status":202,"headers":[],"content":{"mimeType":"","size":12}},"timings":{}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzReader(t, Config{Format: FormatHAR}, data) })
}

func FuzzAccessLog(f *testing.F) {
	seed(f, "demo.envoy-access.jsonl", 3)
	f.Add([]byte("{\"method\":\"GET\",\"path\":\"/\",\"status\":\"200\",\"start_time\":\"x\"}\n{\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzReader(t, Config{Format: FormatAccessLog}, data) })
}
