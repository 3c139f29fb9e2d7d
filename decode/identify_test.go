package decode

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/event"
)

// Bodies of the stateless 2026-07-28 requests go-sdk v1.8.0 sends: every
// request but ping carries the _meta identity and the routing headers.
const (
	statelessMeta = `"_meta":{"io.modelcontextprotocol/clientInfo":{"name":"agent","version":"2.0"},"io.modelcontextprotocol/protocolVersion":"2026-07-28"}`
	barePing      = `{"jsonrpc":"2.0","id":9,"method":"ping"}`
	pingResult    = `{"jsonrpc":"2.0","id":9,"result":{}}`
)

var statelessHeaders = map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}

// messages lists the message events as "dir msg_type method id".
func messages(evs []*event.Event) []string {
	var out []string
	for _, e := range byKind(evs, event.KindMessage) {
		out = append(out, fmt.Sprintf("%s %s %s %s", e.Direction, e.MsgType, e.Method, e.JSONRPCID))
	}
	return out
}

func flows(evs []*event.Event) []string {
	var out []string
	for _, e := range byKind(evs, event.KindFlow) {
		out = append(out, e.AppProtocol+" "+e.MCPHint)
	}
	return out
}

// JSON-RPC that borrows MCP's method names, as other protocols and a
// confused or probing client send it, is not MCP without evidence: each
// exchange is held for its answer, which shows none, and its connection
// becomes a json-rpc flow.
func TestNonMCPLookalikes(t *testing.T) {
	for _, tc := range []struct{ name, body, answer string }{
		{"ping answered by an empty result", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, `{"jsonrpc":"2.0","id":1,"result":{}}`},
		{"LSP initialize: clientInfo, no protocolVersion; serverInfo without one",
			`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"processId":42,"clientInfo":{"name":"vscode","version":"1.96"},"rootUri":"file:///src","capabilities":{"textDocument":{}}}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"capabilities":{"hoverProvider":true},"serverInfo":{"name":"gopls","version":"v0.16.2"}}}`},
		{"tools/call with array params, -32601",
			`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":["search_docs",{"query":"x"}]}`,
			`{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"the method tools/call does not exist/is not available"}}`},
		{"tools/call with object params, -32601",
			`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"search_docs","arguments":{}}}`,
			`{"jsonrpc":"2.0","id":4,"error":{"code":-32601,"message":"Method not found"}}`},
		{"tools/call with array params answered by a result of MCP's shape",
			`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":["search_docs"]}`,
			`{"jsonrpc":"2.0","id":5,"result":{"content":[{"type":"text","text":"hi"}]}}`},
		{"MCP initialize refuted: a scanner probing a node",
			`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"scanner","version":"1"}}}`,
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"The method initialize does not exist/is not available"}}`},
		{"a notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, ""},
		{"Ethereum", `{"jsonrpc":"2.0","id":7,"method":"eth_blockNumber","params":[]}`, `{"jsonrpc":"2.0","id":7,"result":"0x12a05f2"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, evs := collect(t, Config{})
			w := newWire(d, 1)
			status := 200
			if tc.answer == "" {
				status = 204
			}
			w.send(hop{method: "POST", body: tc.body, status: status, respBody: tc.answer,
				respHeader: map[string]string{"Content-Type": "application/json"}})
			w.close()
			d.Finish(w.now)
			if got := flows(*evs); len(*evs) != 1 || !slices.Equal(got, []string{"json-rpc jsonrpc"}) {
				t.Errorf("events %d, flows %q; want only a json-rpc flow", len(*evs), got)
			}
			if st := d.Stats(); st.Held != 1 || st.HeldDropped != 1 || st.Messages != 0 {
				t.Errorf("held %d, dropped %d, messages %d; want 1, 1, 0", st.Held, st.HeldDropped, st.Messages)
			}
		})
	}
}

// go-sdk's stateless ping goes out bare — no headers, no _meta — on the
// connection of the requests before it. Once the endpoint is MCP, the ping
// and its answer are too, on that connection and on a new one; a bare ping
// to another path of the same host, or from another client, is not.
func TestBarePingOnMCPEndpoint(t *testing.T) {
	d, evs := collect(t, Config{})
	w := newWire(d, 1)
	w.send(hop{method: "POST", reqHeader: statelessHeaders, body: `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{` + statelessMeta + `}}`,
		status: 200, respBody: `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`})
	w.send(hop{method: "POST", body: barePing, status: 200, respBody: pingResult})
	other := newWire(d, 2)
	other.send(hop{method: "POST", body: barePing, status: 200, respBody: pingResult})
	elsewhere := newWire(d, 3)
	elsewhere.send(hop{method: "POST", target: "/rpc", body: barePing, status: 200, respBody: pingResult})
	// Endpoints are known per client (capture shards deal by address
	// pair): another client's first request, bare, shows nothing.
	stranger := newWire(d, 4)
	stranger.conn.Client = netip.MustParseAddrPort("10.0.1.99:40004")
	stranger.send(hop{method: "POST", body: barePing, status: 200, respBody: pingResult})
	w.close()
	other.close()
	elsewhere.close()
	stranger.close()
	d.Finish(w.now)
	want := []string{
		"c2s request tools/list 1", "s2c response tools/list 1",
		"c2s request ping 9", "s2c response ping 9", // same connection
		"c2s request ping 9", "s2c response ping 9", // same server_key, new connection
	}
	if got := messages(*evs); !slices.Equal(got, want) {
		t.Errorf("messages\n got %q\nwant %q", got, want)
	}
	// On its connection the ping joins the logical session of the
	// requests before it; on a new one it starts a nameless one.
	for i, e := range byKind(*evs, event.KindMessage) {
		if want := map[bool]string{true: "agent", false: ""}[i < 4]; e.ClientName != want || e.ServerKey != "http://files.corp.example:8080/mcp" {
			t.Errorf("%s %s: client %q (want %q) server_key %q", e.Direction, e.Method, e.ClientName, want, e.ServerKey)
		}
	}
	if got := flows(*evs); !slices.Equal(got, []string{"json-rpc jsonrpc", "json-rpc jsonrpc"}) {
		t.Errorf("flows %q, want the /rpc connection's and the other client's", got)
	}
}

// Without headers (a stateless server of 2025-03-26), a tools/call is held
// until its answer: a result of tools/call's shape shows MCP, and the
// connection is MCP from then on.
func TestHeldUntilAnswered(t *testing.T) {
	d, evs := collect(t, Config{})
	w := newWire(d, 1)
	w.send(hop{method: "POST", body: `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"q"}}}`,
		status: 200, respBody: `{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"found"}],"isError":false}}`})
	w.send(hop{method: "POST", body: barePing, status: 200, respBody: pingResult})
	w.close()
	d.Finish(w.now)
	want := []string{"c2s request tools/call 3", "s2c response tools/call 3", "c2s request ping 9", "s2c response ping 9"}
	if got := messages(*evs); !slices.Equal(got, want) {
		t.Errorf("messages\n got %q\nwant %q", got, want)
	}
	if st := d.Stats(); st.Held != 1 || st.HeldDropped != 0 {
		t.Errorf("held %d, dropped %d; want 1, 0", st.Held, st.HeldDropped)
	}
	if call := find(*evs, event.KindMessage, event.DirServerToClient, "tools/call"); call == nil || call.ToolName != "search_docs" || call.DurationMS <= 0 {
		t.Errorf("tools/call response: %+v", call)
	}
}

// An answer on an event stream decides at the event that shows MCP; the
// held request goes out before it.
func TestHeldUntilStreamAnswers(t *testing.T) {
	d, evs := collect(t, Config{})
	w := newWire(d, 1)
	sse := map[string]string{"Content-Type": "text/event-stream"}
	w.send(hop{method: "POST", body: `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search_docs"}}`, status: 200, respHeader: sse,
		events: []string{`{"jsonrpc":"2.0","id":3,"result":{"content":[]}}`}})
	w.close()
	w = newWire(d, 2) // the same host, another path: not known to be MCP
	w.send(hop{method: "POST", target: "/other", body: `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x"}}`, status: 200, respHeader: sse,
		events: []string{`{"jsonrpc":"2.0","id":4,"error":{"code":-32601,"message":"no"}}`}})
	w.close()
	d.Finish(w.now)
	want := []string{"c2s request tools/call 3", "s2c response tools/call 3"}
	if got := messages(*evs); !slices.Equal(got, want) {
		t.Errorf("messages\n got %q\nwant %q", got, want)
	}
	if st := d.Stats(); st.Held != 2 || st.HeldDropped != 1 {
		t.Errorf("held %d, dropped %d; want 2, 1", st.Held, st.HeldDropped)
	}
}

// One-sided captures: the client's side alone (initialize asks for a
// protocolVersion, so the bare ping after it is MCP too), and the server's
// alone (an initialize result names serverInfo and protocolVersion, and
// the connection's ping result follows it).
func TestIdentifyOneSided(t *testing.T) {
	t.Run("client side", func(t *testing.T) {
		d, evs := collect(t, Config{})
		w := newWire(d, 1)
		w.send(hop{method: "POST", body: `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"agent","version":"2.0"}}}`, noResponse: true})
		w.send(hop{method: "POST", body: barePing, noResponse: true})
		w.close()
		d.Finish(w.now)
		if got, want := messages(*evs), []string{"c2s request initialize 1", "c2s request ping 9"}; !slices.Equal(got, want) {
			t.Errorf("messages %q, want %q", got, want)
		}
	})
	t.Run("server side", func(t *testing.T) {
		d, evs := collect(t, Config{})
		w := newWire(d, 1)
		for i, body := range []string{
			`{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-03-26","capabilities":{"tools":{}},"serverInfo":{"name":"files","version":"1.4.0"}}}`,
			pingResult,
		} {
			w.now = w.now.Add(time.Millisecond)
			resp := &capture.Response{Conn: w.conn, Seq: i, Time: w.now, End: w.now, StatusCode: 200, Proto: "HTTP/1.1",
				Header: header(map[string]string{"Content-Type": "application/json"}), Body: []byte(body), BodyLen: int64(len(body))}
			d.Response(nil, resp)
			d.ResponseEnd(nil, resp)
		}
		w.close()
		d.Finish(w.now)
		if got, want := messages(*evs), []string{"s2c response  1", "s2c response  9"}; !slices.Equal(got, want) {
			t.Errorf("messages %q, want %q", got, want)
		}
		if e := byKind(*evs, event.KindMessage); len(e) == 0 || e[0].ServerName != "files" {
			t.Errorf("server name not learnt: %+v", e)
		}
	})
}

// MaxHeld bounds the undecided exchanges held at once, and counts the rest.
func TestMaxHeld(t *testing.T) {
	d, evs := collect(t, Config{MaxHeld: 1})
	w := newWire(d, 1)
	w.send(hop{method: "POST", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}`, noResponse: true})
	w.send(hop{method: "POST", body: `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"b"}}`, noResponse: true})
	if st := d.Stats(); st.Held != 1 || st.HeldOverflow != 1 {
		t.Errorf("held %d, overflow %d; want 1, 1", st.Held, st.HeldOverflow)
	}
	w.close()
	d.Finish(w.now)
	if st := d.Stats(); st.HeldDropped != 1 || len(messages(*evs)) != 0 || d.held != 0 {
		t.Errorf("dropped %d, messages %q, still held %d", st.HeldDropped, messages(*evs), d.held)
	}
}

// MaxEndpoints bounds the server_keys remembered as MCP: the least
// recently used is forgotten, and a bare ping to it is no longer MCP.
func TestMaxEndpoints(t *testing.T) {
	d, evs := collect(t, Config{MaxEndpoints: 1})
	for i, path := range []string{"/a/mcp", "/b/mcp"} {
		w := newWire(d, uint64(i))
		w.send(hop{method: "POST", target: path, reqHeader: statelessHeaders, body: `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`,
			status: 200, respBody: `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`})
		w.close()
	}
	for i, path := range []string{"/a/mcp", "/b/mcp"} {
		w := newWire(d, uint64(10+i))
		w.send(hop{method: "POST", target: path, body: barePing, status: 200, respBody: pingResult})
		w.close()
	}
	d.Finish(t0.Add(time.Minute))
	var pings []string
	for _, e := range byKind(*evs, event.KindMessage) {
		if e.Method == "ping" {
			pings = append(pings, e.Direction+" "+strings.TrimPrefix(e.ServerKey, "http://files.corp.example:8080"))
		}
	}
	if want := []string{"c2s /b/mcp", "s2c /b/mcp"}; !slices.Equal(pings, want) || d.Stats().EndpointsEvicted != 1 {
		t.Errorf("pings %q (want %q), endpoints evicted %d", pings, want, d.Stats().EndpointsEvicted)
	}
}
