package bus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/event"
)

// benchEvent is a tools/call response as decode emits it, about 700 bytes of
// JSON.
func benchEvent() event.Event {
	ts := time.Date(2026, 7, 28, 12, 0, 0, 0, time.UTC)
	return event.Event{
		Schema: event.SchemaVersion, Kind: event.KindMessage, TS: ts, Sensor: "bench", Source: "pcap:bench.pcap",
		ClientAddress: "10.1.2.3", ClientPort: 51234, ServerAddress: "10.0.0.5", ServerPort: 8080,
		ServerKey: "http://10.0.0.5:8080/mcp", Transport: event.TransportStreamableHTTP, ProtocolVersion: "2025-06-18",
		SessionID: "2b7c1f0e-5d0a-4c59-9f0e-3a1f4e2d9c10", ClientName: "claude-code", ClientVersion: "1.0.42",
		ServerName: "everything", ServerVersion: "2.0.0", Direction: event.DirServerToClient, MsgType: event.MsgResponse,
		Method: "tools/call", JSONRPCID: "42", ToolName: "read_file", Bytes: 2048, DurationMS: 12.5,
		HTTPMethod: "POST", HTTPPath: "/mcp", HTTPStatus: 200, UserAgent: "node-fetch/1.0", AuthScheme: "bearer",
		TokenID: "7f9c2ba4e88f827d616045507605853e", TokenIss: "https://auth.corp.example", TokenAud: []string{"http://10.0.0.5:8080/mcp"},
		TokenScope: "mcp:tools", TokenClientID: "claude-code",
	}
}

func BenchmarkPublishEvent(b *testing.B) {
	for _, inFlight := range []int{256, 4096} {
		b.Run(fmt.Sprintf("async-max-%d", inFlight), func(b *testing.B) {
			bs := connect(b, startEmbedded(b), func(c *bus.Config) { c.PublishAsyncMax = inFlight })
			ev := benchEvent()
			data, _ := json.Marshal(&ev)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			start := time.Now()
			b.ResetTimer()
			publishN(b, bs, b.N)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

func BenchmarkConsumeEvents(b *testing.B) {
	for _, batch := range []int{64, 256} {
		b.Run(fmt.Sprintf("batch-%d", batch), func(b *testing.B) {
			bs := connect(b, startEmbedded(b))
			publishN(b, bs, b.N)
			var seen atomic.Int64
			all := make(chan struct{})
			b.ReportAllocs()
			start := time.Now()
			b.ResetTimer()
			stop := consumer(b, bs, bus.ConsumerConfig{Durable: "bench", BatchSize: batch, MaxWait: 100 * time.Millisecond},
				func(_ context.Context, evs []*event.Event) error {
					if seen.Add(int64(len(evs))) == int64(b.N) {
						close(all)
					}
					return nil
				})
			select {
			case <-all:
			case <-time.After(5 * time.Minute):
				b.Fatalf("consumed %d of %d events in 5 minutes", seen.Load(), b.N)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			if err := stop(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// publishN publishes n copies of benchEvent with distinct ids and flushes.
func publishN(b *testing.B, bs *bus.Bus, n int) {
	ctx := context.Background()
	ev := benchEvent()
	for i := range n {
		ev.EventID = "bench-" + strconv.Itoa(i)
		if err := bs.PublishEvent(ctx, &ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := bs.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}
