package decode

import (
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
)

// BenchmarkIdentifyHeld is the path identification adds for other
// JSON-RPC: an exchange with an MCP method name but no evidence (ganache's
// answer to tools/call) is held, its answer parsed, and dropped. Bytes are
// the request's and answer's bodies.
func BenchmarkIdentifyHeld(b *testing.B) {
	const (
		body   = `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"quarterly revenue"}}}`
		answer = `{"id":9,"jsonrpc":"2.0","error":{"message":"The method tools/call does not exist/is not available","code":-32700}}`
	)
	d, err := New(Config{TokenKey: []byte("k")}, func(ev *event.Event) { b.Fatalf("%s event from non-MCP JSON-RPC", ev.Kind) })
	if err != nil {
		b.Fatal(err)
	}
	w := newWire(d, 1)
	x := hop{method: "POST", body: body, status: 200, respBody: answer, respHeader: map[string]string{"Content-Type": "application/json"}}
	b.SetBytes(int64(len(body) + len(answer)))
	b.ReportAllocs()
	for b.Loop() {
		w.send(x)
	}
	if st := d.Stats(); st.HeldDropped != st.Held || st.Held == 0 {
		b.Fatalf("held %d, dropped %d", st.Held, st.HeldDropped)
	}
}
