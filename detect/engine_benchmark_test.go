package detect

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/rules"
)

// BenchmarkProcessDefaultPack runs every rule of the default pack over a
// stream shaped like the benchmark capture's events (bench/gen): mostly
// tools/call requests and responses, with the initialize, tools/list,
// manifest and session events of each conversation, some TLS flows and
// authorization events, across 200 servers and 600 clients. One op is one
// event; bytes are the MCP bytes the events carry, so MB/s is the traffic
// the rules keep up with. The stream is replayed with advancing event time,
// so after the first pass the rules run in their steady state.
func BenchmarkProcessDefaultPack(b *testing.B) {
	pack, err := LoadRules(rules.Default)
	if err != nil {
		b.Fatal(err)
	}
	exampleData, err := rules.Default.ReadFile("examples/allowlist.yaml")
	if err != nil {
		b.Fatal(err)
	}
	example, err := ParseAllowlist("examples/allowlist.yaml", exampleData)
	if err != nil {
		b.Fatal(err)
	}
	events := benchStream(20_000)
	var mcpBytes int64
	for _, ev := range events {
		mcpBytes += ev.Bytes + ev.BytesC2S + ev.BytesS2C
	}
	for _, bc := range []struct {
		name  string
		allow *Allowlist
	}{{"allowlist=none", nil}, {"allowlist=example", example}} {
		b.Run(bc.name, func(b *testing.B) {
			e, err := NewEngine(Config{}, pack, bc.allow)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(mcpBytes / int64(len(events)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				ev := events[i%len(events)]
				ev.TS = t0.Add(time.Duration(i) * benchEventGap)
				e.Process(ev)
				i++
			}
		})
	}
}

// benchEventGap spaces the stream at 20 000 events per second of event time.
const benchEventGap = 50 * time.Microsecond

// benchStream returns n events of 64 concurrent conversations, interleaved,
// drawn deterministically.
func benchStream(n int) []*event.Event {
	rng := rand.New(rand.NewPCG(1, 2))
	const servers, clients, concurrent = 200, 600, 64
	active := make([][]*event.Event, concurrent)
	conv := 0
	events := make([]*event.Event, 0, n)
	for len(events) < n {
		k := rng.IntN(concurrent)
		if len(active[k]) == 0 {
			active[k] = benchConversation(rng, conv, rng.IntN(servers), rng.IntN(clients))
			conv++
		}
		ev := active[k][0]
		active[k] = active[k][1:]
		ev.EventID = fmt.Sprintf("%032x", len(events))
		events = append(events, ev)
	}
	return events
}

// benchConversation is one client's session with one server: initialize,
// tools/list and its manifest, a few tool calls, the session summary; TLS
// conversations are a flow event alone, and a server that wants a token
// answers the first attempt with a challenge.
func benchConversation(rng *rand.Rand, conv, server, client int) []*event.Event {
	base := event.Event{
		Schema: event.SchemaVersion, Sensor: "bench", Source: "pcap:bench.pcap",
		ClientAddress: fmt.Sprintf("10.2.%d.%d", client/250, client%250+1), ClientPort: 20000 + conv%40000,
		ServerAddress: fmt.Sprintf("10.%d.%d.%d", server%2, server/250, server%250+1), ServerPort: 8080,
		Transport: event.TransportStreamableHTTP, ClientName: "agent", ClientVersion: "1.0.0",
		ServerName: fmt.Sprintf("srv%d", server), ServerVersion: "1.2.0",
		ProtocolVersion: []string{"2025-06-18", "2025-11-25", "2026-07-28", "2025-03-26"}[server%4],
		SessionID:       fmt.Sprintf("%026x", conv), HTTPMethod: "POST", HTTPPath: "/mcp", HTTPStatus: 200,
		UserAgent: "Go-http-client/1.1", AuthScheme: "none",
	}
	base.ServerKey = fmt.Sprintf("http://srv%d.corp.example:8080/mcp", server)
	if server%5 == 0 {
		base.ServerKey = fmt.Sprintf("http://%s:8080/mcp", base.ServerAddress)
	}
	if rng.IntN(100) == 0 {
		return []*event.Event{{
			Schema: base.Schema, Sensor: base.Sensor, Source: base.Source, Kind: event.KindFlow,
			ClientAddress: base.ClientAddress, ClientPort: base.ClientPort,
			ServerAddress: fmt.Sprintf("203.0.113.%d", server%250+1), ServerPort: 443,
			AppProtocol: "tls", TLSSNI: fmt.Sprintf("mcp%d.saas.example", server%7), TLSALPN: []string{"http/1.1"},
			MCPHint: "sni", Packets: 32, BytesC2S: 2178, BytesS2C: 23951, DurationMS: 1.6,
		}}
	}
	var out []*event.Event
	if server%4 == 1 {
		// A server that wants a token: the first request is refused, the
		// client fetches the Protected Resource Metadata, then retries.
		challenge := base
		challenge.Kind, challenge.AuthEvent, challenge.HTTPStatus = event.KindAuth, "challenge", 401
		challenge.WWWAuthenticate = `Bearer resource_metadata="https://srv.example/.well-known/oauth-protected-resource"`
		challenge.ResourceMetadata = "https://srv.example/.well-known/oauth-protected-resource"
		prm := challenge
		prm.AuthEvent, prm.HTTPStatus, prm.HTTPMethod, prm.HTTPPath = "prm", 200, "GET", "/.well-known/oauth-protected-resource"
		prm.PRMResource = base.ServerKey
		out = append(out, &challenge, &prm)
		base.AuthScheme, base.TokenID, base.TokenIss = "bearer", fmt.Sprintf("tok%d", client), "https://idp.corp.example"
		base.TokenAud, base.TokenClientID = []string{base.ServerKey}, "agent"
	}
	message := func(method, dir, msgType string, bytes int64) {
		m := base
		m.Kind, m.Method, m.Direction, m.MsgType, m.Bytes = event.KindMessage, method, dir, msgType, bytes
		m.JSONRPCID = fmt.Sprint(len(out))
		out = append(out, &m)
	}
	message("initialize", event.DirClientToServer, event.MsgRequest, 182)
	message("initialize", event.DirServerToClient, event.MsgResponse, 420)
	message("notifications/initialized", event.DirClientToServer, event.MsgNotification, 54)
	message("tools/list", event.DirClientToServer, event.MsgRequest, 60)
	message("tools/list", event.DirServerToClient, event.MsgResponse, 1200)
	manifest := base
	manifest.Kind, manifest.ManifestHash, manifest.ToolCount = event.KindManifest, fmt.Sprintf("%064x", server), 3
	manifest.Tools = []event.Tool{
		{Name: "search_docs", Hash: "a1", Description: "Search the documentation.", ReadOnly: true},
		{Name: "read_file", Hash: "b2", Description: "Read a file of the workspace.", ReadOnly: true},
		{Name: "open_ticket", Hash: "c3", Description: "Open a ticket.", Destructive: true},
	}
	out = append(out, &manifest)
	calls := 2 + rng.IntN(12)
	for range calls {
		tool := manifest.Tools[rng.IntN(len(manifest.Tools))].Name
		base.ToolName = tool
		message("tools/call", event.DirClientToServer, event.MsgRequest, 200+rng.Int64N(1800))
		// Results of 1 KB to 200 KB, most of them small.
		message("tools/call", event.DirServerToClient, event.MsgResponse, 1000+rng.Int64N(1000)*rng.Int64N(200))
		if rng.IntN(200) == 0 {
			out[len(out)-1].SecretKinds = []string{"aws_access_key"}
		}
	}
	session := base
	session.Kind, session.ToolName, session.EndReason = event.KindSession, "", "delete"
	session.MessagesC2S, session.MessagesS2C, session.ToolCalls = int64(3+calls), int64(2+calls), int64(calls)
	session.Methods = []string{"initialize", "notifications/initialized", "tools/call", "tools/list"}
	return append(out, &session)
}

// BenchmarkThresholdFullWindow runs a sum threshold whose window holds
// 10 000 events and drops one for every one it takes, as windows do after
// their first minutes; bytes are the events' bytes.
func BenchmarkThresholdFullWindow(b *testing.B) {
	e, err := NewEngine(Config{}, mustLoad(b, `
  - id: volume
    name: Volume
    description: Bytes per server.
    severity: low
    category: test
    type: threshold
    condition: kind == "message"
    group_by: [server_key]
    window: 1s
    aggregate: sum(bytes)
    threshold: 1e12
`), nil)
	if err != nil {
		b.Fatal(err)
	}
	ev := authFailure(1, 0, "10.0.0.7", "")
	ev.Bytes = 1000
	b.SetBytes(ev.Bytes)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev.TS = t0.Add(time.Duration(i) * 100 * time.Microsecond)
		e.Process(ev)
		i++
	}
}
