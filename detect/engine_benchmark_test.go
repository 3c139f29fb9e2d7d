package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/rules"
)

// BenchmarkProcessDefaultPack runs a stream of tools/call requests from 256
// clients through every rule of the default pack.
func BenchmarkProcessDefaultPack(b *testing.B) {
	pack, err := LoadRules(rules.Default)
	if err != nil {
		b.Fatal(err)
	}
	allow, err := ParseAllowlist("bench.yaml", []byte("servers: [10.20.0.0/16]\n"))
	if err != nil {
		b.Fatal(err)
	}
	e, err := NewEngine(Config{}, pack, allow)
	if err != nil {
		b.Fatal(err)
	}
	events := make([]*event.Event, 1024)
	for i := range events {
		ev := authFailure(i, 0, fmt.Sprintf("10.30.0.%d", i%256), "")
		ev.Kind, ev.Direction, ev.MsgType, ev.HTTPStatus = event.KindMessage, event.DirClientToServer, event.MsgRequest, 200
		ev.ToolName, ev.Bytes, ev.SessionID = "search_docs", 180, fmt.Sprintf("session-%d", i%256)
		events[i] = ev
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ev := events[i%len(events)]
		ev.TS = t0.Add(time.Duration(i) * time.Millisecond)
		e.Process(ev)
	}
}
