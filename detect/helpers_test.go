package detect

import (
	"fmt"
	"testing"
	"testing/fstest"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

// newTestEngine compiles one rule given as the YAML of a rule list entry
// and builds an engine over it.
func newTestEngine(t *testing.T, cfg Config, allow *Allowlist, rule string) *Engine {
	t.Helper()
	e, err := NewEngine(cfg, mustLoad(t, rule), allow)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// authFailure is a 401 answer to a tools/call, as decode reports it.
func authFailure(n int, at time.Duration, client, token string) *event.Event {
	return &event.Event{
		Schema: event.SchemaVersion, EventID: fmt.Sprintf("ev-%d", n), Kind: event.KindMessage, TS: t0.Add(at),
		ClientAddress: client, ClientPort: 40000 + n, ServerAddress: "10.20.0.9", ServerPort: 8080,
		ServerKey: "http://files.corp.example:8080/mcp", Transport: event.TransportStreamableHTTP,
		Direction: event.DirServerToClient, MsgType: event.MsgError, Method: "tools/call", JSONRPCID: fmt.Sprint(n),
		HTTPMethod: "POST", HTTPPath: "/mcp", HTTPStatus: 401, AuthScheme: "bearer", TokenID: token,
	}
}

// processAll runs events through e and returns every alert.
func processAll(e *Engine, events ...*event.Event) []*event.Alert {
	var out []*event.Alert
	for _, ev := range events {
		out = append(out, e.Process(ev)...)
	}
	return out
}

func mustLoad(t testing.TB, rule string) []*Rule {
	t.Helper()
	rules, err := LoadRules(fstest.MapFS{"r.yaml": {Data: []byte("rules:\n" + rule)}})
	if err != nil {
		t.Fatal(err)
	}
	return rules
}
