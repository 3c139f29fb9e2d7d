package decode

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/event"
)

// benchExchange measures one POST exchange of an established session, the
// request and response bodies as the go-sdk sent them in the demo capture:
// request and response message events (and a manifest for tools/list).
func benchExchange(b *testing.B, reqKey, respKey string) {
	raw := demoRaw(&testing.T{})
	reqBody, respBody := []byte(raw[reqKey]), []byte(raw[respKey])
	if len(reqBody) == 0 || len(respBody) == 0 {
		b.Fatalf("no %q / %q in the demo SDK log", reqKey, respKey)
	}
	d, err := New(Config{TokenKey: []byte("k"), Sensor: "bench", Source: "bench"}, func(*event.Event) {})
	if err != nil {
		b.Fatal(err)
	}
	w := newWire(d, 1)
	w.initialize(raw, "S1")
	reqHeader, respHeader := header(withSession("S1")), header(map[string]string{"Content-Type": "application/json"})
	reqHeader.Set("Authorization", "Bearer "+strings.Repeat("t", 40))
	reqHeader.Set("User-Agent", "Go-http-client/1.1")
	b.SetBytes(int64(len(reqBody) + len(respBody)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		req := &capture.Request{Conn: w.conn, Seq: i + 1, Time: now, End: now, Method: "POST", Target: "/mcp",
			Host: "files.corp.example:8080", Header: reqHeader, Body: reqBody, BodyLen: int64(len(reqBody))}
		d.Request(req)
		resp := &capture.Response{Conn: w.conn, Seq: i + 1, Time: now, End: now, StatusCode: 200,
			Header: respHeader, Body: respBody, BodyLen: int64(len(respBody))}
		d.Response(req, resp)
		d.ResponseEnd(req, resp)
	}
}

func BenchmarkToolsCall(b *testing.B) { benchExchange(b, "c2s tools/call 3", "s2c tools/call 3") }
func BenchmarkToolsList(b *testing.B) { benchExchange(b, "c2s tools/list 2", "s2c tools/list 2") }

// BenchmarkScanLargeResult scans a 4 MB resources/read result whose id comes
// last, as SDKs write it.
func BenchmarkScanLargeResult(b *testing.B) {
	body := []byte(`{"result":{"contents":[{"uri":"file:///big.txt","mimeType":"text/plain","text":"` +
		strings.Repeat(`line of text with \"quotes\" and \\ escapes\n`, 4<<20/46) + `"}]},"jsonrpc":"2.0","id":42}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if m := parseBody(body, int64(len(body)), false, DefaultMaxMessageBytes); len(m) != 1 || m[0].id != "42" {
			b.Fatalf("scan: %+v", m)
		}
	}
}

// BenchmarkScanReport scans a 200 KB tools/call result of report lines, as
// bench/gen's fetch_report tool returns: one escape (\n) every 80 bytes.
func BenchmarkScanReport(b *testing.B) {
	body := []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"` +
		strings.Repeat(`2026-11-27T10:00:00Z order=81723 customer=acme amount=1299.00 status=shipped\n`, 2600) + `"}]}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if m := parseBody(body, int64(len(body)), false, DefaultMaxMessageBytes); len(m) != 1 || m[0].id != "7" {
			b.Fatalf("scan: %+v", m)
		}
	}
}
