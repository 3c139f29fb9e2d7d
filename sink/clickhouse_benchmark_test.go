package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mcpwatch/mcpwatch/event"
)

// benchEvents returns n events in the mix the store job sees on the bench
// capture (bench/gen): about 89% messages, 5% sessions, 5% manifests, 1%
// flows, so a batch is one large INSERT and three small ones. Messages are
// shaped like real tools/call traffic: full envelope, method, tool, token
// claims, some error text.
func benchEvents(n int) []*event.Event {
	t0 := time.Date(2026, 7, 28, 12, 0, 0, 0, time.UTC)
	exp := t0.Add(time.Hour)
	evs := make([]*event.Event, n)
	for i := range evs {
		e := &event.Event{
			Schema: event.SchemaVersion, EventID: event.NewID("bench", fmt.Sprint(i)), Kind: event.KindMessage,
			TS: t0.Add(time.Duration(i) * time.Millisecond), Sensor: "sensor-a", Source: "iface:eth1",
			ClientAddress: fmt.Sprintf("10.0.%d.%d", i/250%250, i%250), ClientPort: 40000 + i%20000,
			ServerAddress: "10.0.0.5", ServerPort: 8080, ServerKey: fmt.Sprintf("http://mcp-%d.corp:8080/mcp", i%20),
			Transport: event.TransportStreamableHTTP, ProtocolVersion: "2025-06-18",
			SessionID: fmt.Sprintf("%032x", i/10), ClientName: "claude-code", ClientVersion: "2.1.0",
			ServerName: "notes", ServerVersion: "0.9.0",
		}
		switch {
		case i%20 == 7:
			benchSession(e, i)
		case i%20 == 13:
			benchManifest(e, i)
		case i%70 == 3:
			benchFlow(e, i)
		default:
			benchMessage(e, i, &exp)
		}
		evs[i] = e
	}
	return evs
}

func benchMessage(e *event.Event, i int, exp *time.Time) {
	e.Direction, e.MsgType = event.DirClientToServer, event.MsgRequest
	if i%2 == 1 {
		e.Direction, e.MsgType = event.DirServerToClient, event.MsgResponse
	}
	e.Method, e.JSONRPCID, e.ToolName = "tools/call", fmt.Sprint(i/2), fmt.Sprintf("tool_%d", i%30)
	e.Bytes, e.DurationMS = int64(200+i%3000), float64(i%500)/7
	e.HTTPMethod, e.HTTPPath, e.HTTPStatus, e.UserAgent = "POST", "/mcp", 200, "node-fetch/1.0"
	e.AuthScheme, e.TokenID, e.TokenIss = "bearer", fmt.Sprintf("%032x", i%50), "https://as.corp"
	e.TokenAud, e.TokenScope, e.TokenClientID, e.TokenExp = []string{"https://mcp.corp"}, "notes:read notes:write", "agent-7", exp
	e.ErrorMessage = strings.Repeat("x", i%64)
}

func benchSession(e *event.Event, i int) {
	e.Kind = event.KindSession
	start, end := e.TS.Add(-time.Minute), e.TS
	e.StartTS, e.EndTS, e.EndReason = &start, &end, event.EndDelete
	e.MessagesC2S, e.MessagesS2C, e.BytesC2S, e.BytesS2C = 7, 6, 703, int64(2000+i%300000)
	e.Requests, e.ToolCalls = 6, 4
	e.Methods = []string{"initialize", "notifications/initialized", "tools/call", "tools/list"}
	e.ToolsCalled = []string{"fetch_report", "lookup"}
	e.ClientCapabilities, e.ServerCapabilities = []string{"roots"}, []string{"logging", "tools"}
}

func benchManifest(e *event.Event, i int) {
	e.Kind = event.KindManifest
	e.ManifestHash, e.ToolCount = fmt.Sprintf("%016x", i%40), 3
	for t := range 3 {
		e.Tools = append(e.Tools, event.Tool{Name: fmt.Sprintf("tool_%d", t), Hash: fmt.Sprintf("%016x", t),
			Description: "Fetches a report from the warehouse by id.", ReadOnly: t == 0})
	}
}

func benchFlow(e *event.Event, i int) {
	e.Kind = event.KindFlow
	e.ServerKey, e.Transport, e.ProtocolVersion, e.SessionID = "", "", "", ""
	e.ClientName, e.ClientVersion, e.ServerName, e.ServerVersion = "", "", "", ""
	e.AppProtocol, e.BytesC2S, e.BytesS2C, e.Packets, e.DurationMS = "http", 595, int64(855+i%1000), 15, 0.436
}

// eventBytes is the schema-v1 JSON size of evs, what the bus carries, for
// b.SetBytes.
func eventBytes(b *testing.B, evs []*event.Event) int64 {
	var n int64
	for _, e := range evs {
		data, err := json.Marshal(e)
		if err != nil {
			b.Fatal(err)
		}
		n += int64(len(data))
	}
	return n
}

// BenchmarkClickHouseInsert measures rows/s of WriteEvents into the test
// server for several batch sizes (one INSERT per event kind in the batch).
func BenchmarkClickHouseInsert(b *testing.B) {
	c := openTestClickHouse(b)
	ctx := context.Background()
	for _, size := range []int{1_000, 10_000, 50_000} {
		evs := benchEvents(size)
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			b.SetBytes(eventBytes(b, evs))
			b.ReportAllocs()
			cpu := startCPU(b, c)
			for b.Loop() {
				if err := c.WriteEvents(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b, size*b.N)
		})
	}
}

// BenchmarkBatchWriterClickHouse measures rows/s through a BatchWriter fed
// the way the store job feeds it: two fetchers each handing over 10k-row
// consumer batches with WriteEvents and waiting for them to be stored.
func BenchmarkBatchWriterClickHouse(b *testing.B) {
	c := openTestClickHouse(b)
	ctx := context.Background()
	const rows, consumerBatch, fetchers = 60_000, 10_000, 2
	evs := benchEvents(rows)
	b.SetBytes(eventBytes(b, evs))
	b.ReportAllocs()
	cpu := startCPU(b, c)
	for b.Loop() {
		bw, err := NewBatchWriter(ctx, c, c, BatchConfig{MaxRows: consumerBatch})
		if err != nil {
			b.Fatal(err)
		}
		var g errgroup.Group
		for f := range fetchers {
			g.Go(func() error {
				for start := f * consumerBatch; start < rows; start += fetchers * consumerBatch {
					if err := bw.WriteEvents(ctx, evs[start:start+consumerBatch]); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err := errors.Join(g.Wait(), bw.Close()); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b, rows*b.N)
}

// cpuMeter measures the CPU time the client (this process, GC included) and
// the server's query threads (not its background merges) spend on the
// benchmark: per row, those move far less than the wall time when other
// work shares the machine.
type cpuMeter struct {
	c              *ClickHouse
	client, server time.Duration
}

func startCPU(b *testing.B, c *ClickHouse) cpuMeter {
	client, server := readCPU(b, c)
	return cpuMeter{c: c, client: client, server: server}
}

// report adds rows/s and the client and server CPU µs per row.
func (m cpuMeter) report(b *testing.B, rows int) {
	client, server := readCPU(b, m.c)
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64((client-m.client).Microseconds())/float64(rows), "client-µs/row")
	b.ReportMetric(float64((server-m.server).Microseconds())/float64(rows), "server-µs/row")
}

func readCPU(b *testing.B, c *ClickHouse) (client, server time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	us := queryUint64(b, c, "SELECT sum(value) FROM system.events WHERE event IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds')")
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), time.Duration(us) * time.Microsecond
}
