package sink

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// benchEvents returns n message events shaped like real tools/call traffic:
// full envelope, method, tool, token claims, a few hundred bytes of text.
func benchEvents(n int) []*event.Event {
	t0 := time.Date(2026, 7, 28, 12, 0, 0, 0, time.UTC)
	exp := t0.Add(time.Hour)
	evs := make([]*event.Event, n)
	for i := range evs {
		dir, typ := event.DirClientToServer, event.MsgRequest
		if i%2 == 1 {
			dir, typ = event.DirServerToClient, event.MsgResponse
		}
		evs[i] = &event.Event{
			Schema: event.SchemaVersion, EventID: event.NewID("bench", fmt.Sprint(i)), Kind: event.KindMessage,
			TS: t0.Add(time.Duration(i) * time.Millisecond), Sensor: "sensor-a", Source: "iface:eth1",
			ClientAddress: fmt.Sprintf("10.0.%d.%d", i/250%250, i%250), ClientPort: 40000 + i%20000,
			ServerAddress: "10.0.0.5", ServerPort: 8080, ServerKey: fmt.Sprintf("http://mcp-%d.corp:8080/mcp", i%20),
			Transport: event.TransportStreamableHTTP, ProtocolVersion: "2025-06-18",
			SessionID: fmt.Sprintf("%032x", i/10), ClientName: "claude-code", ClientVersion: "2.1.0",
			ServerName: "notes", ServerVersion: "0.9.0", Direction: dir, MsgType: typ, Method: "tools/call",
			JSONRPCID: fmt.Sprint(i / 2), ToolName: fmt.Sprintf("tool_%d", i%30), Bytes: int64(200 + i%3000),
			DurationMS: float64(i%500) / 7, HTTPMethod: "POST", HTTPPath: "/mcp", HTTPStatus: 200,
			UserAgent: "node-fetch/1.0", AuthScheme: "bearer", TokenID: fmt.Sprintf("%032x", i%50),
			TokenIss: "https://as.corp", TokenAud: []string{"https://mcp.corp"}, TokenScope: "notes:read notes:write",
			TokenClientID: "agent-7", TokenExp: &exp,
			ErrorMessage: strings.Repeat("x", i%64),
		}
	}
	return evs
}

// BenchmarkClickHouseInsert measures rows/s of WriteEvents into the test
// server for several batch sizes (one INSERT per batch).
func BenchmarkClickHouseInsert(b *testing.B) {
	c := openTestClickHouse(b)
	ctx := context.Background()
	for _, size := range []int{1_000, 10_000, 50_000} {
		evs := benchEvents(size)
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.WriteEvents(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkBatchWriterClickHouse measures rows/s through a BatchWriter, one
// AddEvent per row as a stream consumer would call it, in 10k-row batches.
func BenchmarkBatchWriterClickHouse(b *testing.B) {
	c := openTestClickHouse(b)
	ctx := context.Background()
	const rows = 50_000
	evs := benchEvents(rows)
	b.ReportAllocs()
	for b.Loop() {
		bw, err := NewBatchWriter(ctx, c, c, BatchConfig{MaxRows: 10_000})
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range evs {
			if err := bw.AddEvent(ctx, e, nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := bw.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
