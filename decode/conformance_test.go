package decode

import (
	"cmp"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
)

// Every checked-in capture decodes to exactly its golden events: ids,
// timestamps, identities, counters and all.
func TestGoldenEvents(t *testing.T) {
	pcaps, err := filepath.Glob(filepath.Join(captureDir, "*.pcap"))
	if err != nil || len(pcaps) == 0 {
		t.Fatalf("no captures in %s (%v)", captureDir, err)
	}
	for _, p := range pcaps {
		name := strings.TrimSuffix(filepath.Base(p), ".pcap")
		t.Run(name, func(t *testing.T) {
			evs, _ := decodePcap(t, p, Config{})
			assertGolden(t, name, evs)
		})
	}
}

// The go-sdk at every protocol version it negotiates, SSE and JSON
// responses, stateful and stateless servers: decoded message events equal
// the SDK's own log one for one, and carry the session's identity.
func TestGoSDKStreamableHTTPVersions(t *testing.T) {
	for _, version := range []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "latest"} {
		for _, mode := range []string{"sse", "json", "stateless-sse", "stateless-json"} {
			stateless := strings.HasPrefix(mode, "stateless")
			t.Run(version+"/"+mode, func(t *testing.T) {
				evs, logged, st := decodeCapture(t, "gosdk-"+version+"-"+mode)
				assertMatchesSDK(t, evs, logged)
				wantVersion := version
				if version == "latest" {
					wantVersion = "2025-11-25" // a stateful server does not offer 2026-07-28
					if stateless {
						wantVersion = "2026-07-28"
					}
				}
				for _, e := range byKind(evs, event.KindMessage) {
					// server/discover probes are sessionless by design.
					sessionless := stateless || e.Method == "server/discover"
					if e.ServerKey != "http://files.corp.example:8080/mcp" || (e.SessionID == "") != sessionless || e.ClientName != "agent" {
						t.Errorf("%s %s: server_key %q session %q client %q", e.Direction, e.Method, e.ServerKey, e.SessionID, e.ClientName)
					}
					if e.Method != "initialize" && e.Method != "server/discover" && (e.ProtocolVersion != wantVersion || e.ServerName != "files") {
						t.Errorf("%s %s: protocol %q server %q, want %s files", e.Direction, e.Method, e.ProtocolVersion, e.ServerName, wantVersion)
					}
					if e.Direction == event.DirServerToClient && e.DurationMS <= 0 {
						t.Errorf("s2c %s: duration %v", e.Method, e.DurationMS)
					}
				}
				if st.HeaderMismatch != 0 || st.Unmatched != 0 || st.Malformed != 0 || st.Truncated != 0 {
					t.Errorf("stats: %+v", st)
				}
				var sessions []string
				for _, s := range byKind(evs, event.KindSession) {
					if s.ToolCalls > 0 {
						sessions = append(sessions, fmt.Sprintf("%s %d %v", s.EndReason, s.ToolCalls, s.ToolsCalled))
					}
				}
				want := "delete 2 [read_file search_docs]"
				if stateless {
					want = "input-end 2 [read_file search_docs]"
				}
				if len(sessions) != 1 || sessions[0] != want {
					t.Errorf("sessions with tool calls: %q, want [%q]", sessions, want)
				}
			})
		}
	}
}

// 2024-11-05 HTTP+SSE with go-sdk's SSEHandler: requests are POSTed on one
// connection and answered on the GET stream of another, joined by the
// session id of the endpoint event.
func TestGoSDKLegacySSE(t *testing.T) {
	evs, logged, st := decodeCapture(t, "gosdk-legacy-sse")
	assertMatchesSDK(t, evs, logged)
	var sessionID string
	for _, e := range byKind(evs, event.KindMessage) {
		if e.Transport != event.TransportHTTPSSE || e.ServerKey != "http://legacy.corp.example:8000/sse" || e.ClientName != "old-agent" {
			t.Errorf("%s %s: transport %q server_key %q client %q", e.Direction, e.Method, e.Transport, e.ServerKey, e.ClientName)
		}
		if e.Method != "initialize" && (e.ProtocolVersion != "2024-11-05" || e.ServerName != "legacy-files") {
			t.Errorf("%s %s: protocol %q server %q", e.Direction, e.Method, e.ProtocolVersion, e.ServerName)
		}
		if sessionID = cmp.Or(sessionID, e.SessionID); e.SessionID != sessionID {
			t.Errorf("%s %s: session %q, want one id", e.Direction, e.Method, e.SessionID)
		}
		if e.Direction == event.DirServerToClient && e.DurationMS <= 0 {
			t.Errorf("s2c %s: duration %v, want the time since its POST", e.Method, e.DurationMS)
		}
	}
	if st.Unmatched != 0 {
		t.Errorf("unmatched responses: %d", st.Unmatched)
	}
	sessions := byKind(evs, event.KindSession)
	if sessionID == "" || len(sessions) != 1 || sessions[0].ToolCalls != 2 || sessions[0].SessionID != sessionID {
		t.Errorf("session %q: %d session events, want 1 with 2 tool calls", sessionID, len(sessions))
	}
}

// 2025-03-26 allows JSON-RPC batches; every element is its own message
// event flagged batch, and responses in the answering array match by id.
func TestBatch20250326(t *testing.T) {
	evs, logged, _ := decodeCapture(t, "gosdk-batch-2025-03-26")
	assertMatchesSDK(t, evs, logged)
	batched := 0
	for _, e := range byKind(evs, event.KindMessage) {
		if e.Batch {
			batched++
			if e.ClientName != "batcher" || e.SessionID == "" || e.Bytes == 0 {
				t.Errorf("batch %s %s: client %q session %q bytes %d", e.Direction, e.Method, e.ClientName, e.SessionID, e.Bytes)
			}
		}
	}
	if batched != 6 {
		t.Errorf("%d messages flagged batch, want 6 (3 requests, 3 responses)", batched)
	}
}

// 2026-07-28 routing headers that disagree with the body are counted and
// flag the request's event header_mismatch, and the server's rejection
// (HTTP 400, JSON-RPC error -32020) shows on both messages.
func TestStatelessHeaderMismatch(t *testing.T) {
	evs, logged, st := decodeCapture(t, "gosdk-header-mismatch-2026-07-28")
	assertMatchesSDK(t, evs, logged)
	if st.HeaderMismatch != 1 {
		t.Errorf("header mismatches: %d, want 1", st.HeaderMismatch)
	}
	var rejected int
	for _, e := range byKind(evs, event.KindMessage) {
		if want := e.JSONRPCID == "2" && e.Direction == event.DirClientToServer; e.HeaderMismatch != want {
			t.Errorf("%s %s id %s: header_mismatch %v, want %v", e.Direction, e.Method, e.JSONRPCID, e.HeaderMismatch, want)
		}
		if e.JSONRPCID != "2" {
			continue
		}
		rejected++
		if e.HTTPStatus != 400 || e.ClientName != "sneaky" || e.ToolName != "read_file" {
			t.Errorf("%s: status %d client %q tool %q", e.Direction, e.HTTPStatus, e.ClientName, e.ToolName)
		}
		if e.Direction == event.DirServerToClient && e.ErrorCode != -32020 {
			t.Errorf("rejection: error %d %q, want -32020", e.ErrorCode, e.ErrorMessage)
		}
	}
	if rejected != 2 {
		t.Errorf("%d events for the rejected request, want 2", rejected)
	}
}

// go-sdk's auth middleware and PRM handler, a real OAuth client flow, and
// tokens for the wrong audience, without scope and right.
func TestGoSDKAuthScenario(t *testing.T) {
	evs, logged, _ := decodeCapture(t, "gosdk-auth")
	// The SDK does not log a write the server refused; those attempts are
	// checked by status below.
	var accepted []*event.Event
	for _, e := range evs {
		if e.HTTPStatus < 400 {
			accepted = append(accepted, e)
		}
	}
	assertMatchesSDK(t, accepted, logged)

	var got []string
	for _, e := range byKind(evs, event.KindAuth) {
		got = append(got, fmt.Sprintf("%s status=%d rm=%s scope=%q err=%s prm=%s%v grant=%s resource=%s pkce=%s client=%s",
			e.AuthEvent, e.HTTPStatus, e.ResourceMetadata, e.Scope, e.Error, e.PRMResource, e.PRMAuthorizationServers,
			e.GrantType, e.Resource, e.PKCEMethod, e.ClientID))
	}
	challenge := "challenge status=401 rm=" + scenario.AuthPRM + ` scope="files:read" err= prm=[] grant= resource= pkce= client=`
	want := []string{
		challenge, // no token
		"prm status=200 rm= scope=\"files:read\" err= prm=" + scenario.AuthResource + "[" + scenario.AuthIssuer + "] grant= resource= pkce= client=",
		"as_metadata status=200 rm= scope=\"\" err= prm=[] grant= resource= pkce= client=",
		"registration status=201 rm= scope=\"\" err= prm=[] grant= resource= pkce= client=dyn-client-1",
		"authorization_request status=302 rm= scope=\"files:read\" err= prm=[] grant= resource=" + scenario.AuthResource + " pkce=S256 client=dyn-client-1",
		"token_request status=200 rm= scope=\"\" err= prm=[] grant=authorization_code resource=" + scenario.AuthResource + " pkce= client=dyn-client-1",
		challenge, // wrong audience
		"forbidden status=403 rm=" + scenario.AuthPRM + ` scope="files:read" err= prm=[] grant= resource= pkce= client=`, // no scope
	}
	if !slices.Equal(got, want) {
		t.Errorf("auth events\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}

	var statuses []int
	for _, e := range byKind(evs, event.KindMessage) {
		if e.HTTPStatus >= 400 {
			statuses = append(statuses, e.HTTPStatus)
			continue
		}
		if e.AuthScheme != "bearer" || len(e.TokenID) != 32 || e.TokenIss != scenario.AuthIssuer ||
			!slices.Equal(e.TokenAud, []string{scenario.AuthResource}) || e.TokenScope != "files:read" ||
			e.TokenClientID != "dyn-client-1" || e.TokenExp == nil {
			t.Errorf("%s %s: credential %q %q %q %v %q %q %v", e.Direction, e.Method, e.AuthScheme, e.TokenID, e.TokenIss, e.TokenAud, e.TokenScope, e.TokenClientID, e.TokenExp)
		}
	}
	if !slices.Equal(statuses, []int{401, 401, 403}) {
		t.Errorf("rejected initialize attempts: statuses %v, want [401 401 403]", statuses)
	}
	sessions := byKind(evs, event.KindSession)
	var failures, authenticated int64
	for _, s := range sessions {
		failures += s.AuthFailures
		if s.Authenticated {
			authenticated++
		}
	}
	if failures != 3 || authenticated == 0 {
		t.Errorf("sessions: %d auth failures, %d authenticated; want 3 and some", failures, authenticated)
	}
	for _, e := range evs {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), "eyJ") { // base64url of `{"`: a JWT part
			t.Errorf("%s event leaks a token: %s", e.Kind, b)
		}
	}
}

// A capture mixing MCP with REST JSON and Ethereum JSON-RPC yields MCP
// events for the MCP conversation only and flow events for the rest, which
// say what they carried: http, or json-rpc.
func TestMixedCaptureNonMCPYieldsFlowsOnly(t *testing.T) {
	evs, logged, _ := decodeCapture(t, "mixed-nonmcp")
	assertMatchesSDK(t, evs, logged)
	var hints []string
	for _, e := range evs {
		nonMCP := e.ServerAddress == "10.0.0.20" || e.ServerAddress == "10.0.0.21"
		switch {
		case e.Kind == event.KindFlow && nonMCP:
			hints = append(hints, e.ServerAddress+" "+e.MCPHint)
			want := map[string]string{"10.0.0.20": event.AppHTTP, "10.0.0.21": event.AppJSONRPC}[e.ServerAddress]
			if e.AppProtocol != want || e.BytesC2S == 0 || e.BytesS2C == 0 {
				t.Errorf("flow %s: app %q bytes %d/%d", e.ServerAddress, e.AppProtocol, e.BytesC2S, e.BytesS2C)
			}
		case nonMCP:
			t.Errorf("%s event for non-MCP server %s: method %q", e.Kind, e.ServerAddress, e.Method)
		case e.Kind == event.KindFlow && e.BytesC2S+e.BytesS2C > 0:
			t.Errorf("flow event for an MCP connection to %s", e.ServerAddress)
		}
	}
	slices.Sort(hints)
	want := []string{"10.0.0.20 ", "10.0.0.20 ", "10.0.0.20 path", "10.0.0.21 jsonrpc", "10.0.0.21 jsonrpc"}
	if !slices.Equal(hints, want) {
		t.Errorf("flow hints %q, want %q", hints, want)
	}
}

// The README's demo capture: message events equal the SDK log one for one,
// and both servers' sessions are reported.
func TestDemoPcapEndToEnd(t *testing.T) {
	evs, st := decodePcap(t, "../testdata/demo.pcap", Config{})
	assertMatchesSDK(t, evs, readSDKLog(t, "../testdata/demo.sdk.jsonl"))
	want := map[string]string{
		"http://files.corp.example:8080/mcp": "claude-code files 1.4.0 2025-11-25",
		"http://10.0.0.9:3000/mcp":           "cursor shadow-db 0.3.1 2025-06-18",
	}
	sessions := byKind(evs, event.KindSession)
	if len(sessions) != len(want) {
		t.Fatalf("%d session events, want %d", len(sessions), len(want))
	}
	for _, s := range sessions {
		if got := s.ClientName + " " + s.ServerName + " " + s.ServerVersion + " " + s.ProtocolVersion; got != want[s.ServerKey] {
			t.Errorf("session at %q: %q, want %q", s.ServerKey, got, want[s.ServerKey])
		}
	}
	// capture reports a packet arriving after a connection's close as a
	// connection of its own, without payload; nothing with payload may
	// become a flow in an all-MCP capture.
	for _, f := range byKind(evs, event.KindFlow) {
		if f.BytesC2S+f.BytesS2C > 0 {
			t.Errorf("flow event with payload for an all-MCP capture: %s:%d %s", f.ClientAddress, f.ClientPort, f.AppProtocol)
		}
	}
	if st.Unmatched != 0 || st.Malformed != 0 || st.Truncated != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// Decoding is deterministic: the same capture gives the same event ids,
// each used once.
func TestEventIDsDeterministic(t *testing.T) {
	ids := func() []string {
		evs, _ := decodePcap(t, "../testdata/demo.pcap", Config{})
		var out []string
		for _, e := range evs {
			out = append(out, e.EventID)
		}
		slices.Sort(out)
		return out
	}
	a, b := ids(), ids()
	if !slices.Equal(a, b) {
		t.Fatalf("two runs gave different event ids:\n%v\n%v", a, b)
	}
	if c := slices.Compact(slices.Clone(a)); len(c) != len(a) {
		t.Errorf("%d event ids used more than once", len(a)-len(c))
	}
}

// A github.com/mark3labs/mcp-go server, stateful and stateless, talking to
// the go-sdk client, and an mcp-go client talking to a go-sdk server (its
// ground truth taken at its HTTP layer): another SDK's headers, SSE framing
// and session ids.
func TestMCPGo(t *testing.T) {
	for _, tc := range []struct{ name, serverKey, client, server string }{
		{"stateful-2025-11-25", "http://mcpgo.corp.example:8080/mcp", "agent", "mcpgo-files"},
		{"stateless-latest", "http://mcpgo.corp.example:8080/mcp", "agent", "mcpgo-files"},
		{"client", "http://files2.corp.example:8080/mcp", "mcpgo-agent", "files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stateless := strings.HasPrefix(tc.name, "stateless")
			evs, logged, st := decodeCapture(t, "mcpgo-"+tc.name)
			assertMatchesSDK(t, evs, logged)
			for _, e := range byKind(evs, event.KindMessage) {
				if e.ServerKey != tc.serverKey || e.ClientName != tc.client ||
					(e.MsgType != event.MsgRequest && e.ServerName != tc.server) || (e.SessionID == "") != stateless {
					t.Errorf("%s %s: server_key %q client %q server %q session %q", e.Direction, e.Method, e.ServerKey, e.ClientName, e.ServerName, e.SessionID)
				}
			}
			if st.Unmatched != 0 || st.Malformed != 0 {
				t.Errorf("stats: %+v", st)
			}
			if m := byKind(evs, event.KindManifest); len(m) != 1 || m[0].ToolCount != 2 {
				t.Errorf("manifests: %d", len(m))
			}
		})
	}
}

// Server→client requests inside tool calls (roots/list, sampling/
// createMessage) travel on the tool call's SSE stream; the client answers
// on a new POST. Both directions match by id, and progress arrives.
func TestGoSDKServerRequests(t *testing.T) {
	evs, logged, st := decodeCapture(t, "gosdk-server-requests")
	assertMatchesSDK(t, evs, logged)
	var got []string
	for _, e := range byKind(evs, event.KindMessage) {
		switch e.Method {
		case "roots/list", "sampling/createMessage", "notifications/progress":
			got = append(got, fmt.Sprintf("%s %s %s status=%d matched=%v", e.Direction, e.MsgType, e.Method, e.HTTPStatus, e.MsgType == event.MsgNotification || e.MsgType == event.MsgRequest || e.DurationMS > 0))
		}
	}
	want := []string{
		"s2c notification notifications/progress status=200 matched=true",
		"s2c request roots/list status=200 matched=true",
		"c2s response roots/list status=202 matched=true",
		"s2c request sampling/createMessage status=200 matched=true",
		"c2s response sampling/createMessage status=202 matched=true",
	}
	if !slices.Equal(got, want) {
		t.Errorf("server requests\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
	if st.Unmatched != 0 || st.Unanswered != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// The TypeScript SDK's client and server (Node), over Streamable HTTP and
// over 2024-11-05 HTTP+SSE (its /messages?sessionId= endpoint); it writes
// jsonrpc and id last and starts ids at 0.
func TestTypeScriptSDK(t *testing.T) {
	for _, tc := range []struct{ name, transport, serverKey string }{
		{"ts-streamable", event.TransportStreamableHTTP, "http://127.0.0.1:18931/mcp"},
		{"ts-legacy-sse", event.TransportHTTPSSE, "http://127.0.0.1:18931/sse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, logged, st := decodeCapture(t, tc.name)
			assertMatchesSDK(t, evs, logged)
			for _, e := range byKind(evs, event.KindMessage) {
				if e.Transport != tc.transport || e.ServerKey != tc.serverKey || e.ClientName != "ts-agent" || e.SessionID == "" ||
					(e.Method != "initialize" && (e.ServerName != "ts-files" || e.ProtocolVersion != "2025-11-25")) {
					t.Errorf("%s %s: transport %q server_key %q client %q server %q %q session %q",
						e.Direction, e.Method, e.Transport, e.ServerKey, e.ClientName, e.ServerName, e.ProtocolVersion, e.SessionID)
				}
			}
			if st.Unmatched != 0 || st.Malformed != 0 {
				t.Errorf("stats: %+v", st)
			}
			if s := byKind(evs, event.KindSession); len(s) != 1 || s[0].ToolCalls != 2 {
				t.Errorf("%d session events, want 1 with 2 tool calls", len(s))
			}
		})
	}
}

// @modelcontextprotocol/server-everything (the reference server) with the
// TypeScript client: many tools, an image result, progress notifications
// from a long-running tool, resources and prompts.
func TestTypeScriptServerEverything(t *testing.T) {
	evs, logged, st := decodeCapture(t, "ts-server-everything")
	assertMatchesSDK(t, evs, logged)
	progress := 0
	for _, e := range byKind(evs, event.KindMessage) {
		if e.Method != "initialize" && (e.ServerName != "mcp-servers/everything" || e.ServerVersion != "2.0.0" || e.SessionID == "") {
			t.Errorf("%s %s: server %q %q session %q", e.Direction, e.Method, e.ServerName, e.ServerVersion, e.SessionID)
		}
		if e.Method == "notifications/progress" && e.Direction == event.DirServerToClient {
			progress++
		}
	}
	if progress == 0 || st.Unmatched != 0 || st.Malformed != 0 {
		t.Errorf("%d progress notifications; stats %+v", progress, st)
	}
	if m := byKind(evs, event.KindManifest); len(m) != 1 || m[0].ToolCount < 10 {
		t.Errorf("manifests: %+v", m)
	}
}

// A 2026-07-28 multi-round-trip call: tools/call answered input_required
// (an elicitation inside the result), then retried with inputResponses.
// Both calls are ordinary tools/call exchanges of one logical session.
func TestGoSDKInputRequired(t *testing.T) {
	evs, logged, st := decodeCapture(t, "gosdk-input-required-2026-07-28")
	assertMatchesSDK(t, evs, logged)
	for _, e := range byKind(evs, event.KindMessage) {
		if e.ClientName != "ops-agent" || e.ProtocolVersion != "2026-07-28" || e.SessionID != "" ||
			(e.Direction == event.DirServerToClient && e.ServerName != "deployer") {
			t.Errorf("%s %s: client %q protocol %q session %q server %q", e.Direction, e.Method, e.ClientName, e.ProtocolVersion, e.SessionID, e.ServerName)
		}
	}
	sessions := byKind(evs, event.KindSession)
	if len(sessions) != 1 || sessions[0].ToolCalls != 2 || sessions[0].EndReason != event.EndInputEnd || st.Unmatched != 0 {
		t.Errorf("sessions %d (want 1 with 2 tool calls), stats %+v", len(sessions), st)
	}
}

// go-sdk v1.8.0 in stateless 2026-07-28 mode sends ClientSession.Ping bare:
// no params (so no _meta identity) and no MCP headers, on the keep-alive
// connection of the requests before it. Those made the endpoint MCP, so
// the ping and its answer get message events of the same logical session.
func TestGoSDKStatelessBarePing(t *testing.T) {
	evs, logged, st := decodeCapture(t, "gosdk-stateless-ping-2026-07-28")
	assertMatchesSDK(t, evs, logged)
	for _, m := range logged {
		if m.Method == "ping" && m.Direction == event.DirClientToServer && strings.Contains(string(m.Raw), "params") {
			t.Fatalf("the recorded ping is not bare: %s", m.Raw)
		}
	}
	var pings []string
	for _, e := range byKind(evs, event.KindMessage) {
		if e.Method != "ping" {
			continue
		}
		pings = append(pings, e.Direction+" "+e.MsgType)
		if e.ClientName != "agent" || e.ServerName != "files" || e.ProtocolVersion != "2026-07-28" || e.SessionID != "" ||
			e.ServerKey != "http://files.corp.example:8080/mcp" || (e.Direction == event.DirServerToClient && e.DurationMS <= 0) {
			t.Errorf("%s ping: client %q server %q protocol %q session %q server_key %q duration %v",
				e.Direction, e.ClientName, e.ServerName, e.ProtocolVersion, e.SessionID, e.ServerKey, e.DurationMS)
		}
	}
	if want := []string{"c2s request", "s2c response"}; !slices.Equal(pings, want) {
		t.Errorf("ping events %q, want %q", pings, want)
	}
	if s := byKind(evs, event.KindSession); len(s) != 1 || !slices.Contains(s[0].Methods, "ping") {
		t.Errorf("sessions: %d, want 1 with ping among its methods", len(s))
	}
	if st.Unmatched != 0 || st.HeldDropped != 0 || len(byKind(evs, event.KindFlow)) != 0 {
		t.Errorf("stats %+v, flows %d", st, len(byKind(evs, event.KindFlow)))
	}
}

// Real non-MCP JSON-RPC servers — a language server on
// vscode-languageserver, the ganache Ethereum node, a jayson JSON-RPC 2.0
// server with a method of its own named tools/call — sent MCP's method
// names (initialize with clientInfo, ping, tools/call with array and object
// params, notifications/…) on one keep-alive connection each: no MCP
// event, and one json-rpc flow per connection.
func TestNonMCPJSONRPCPeers(t *testing.T) {
	evs, logged, st := decodeCapture(t, "nonmcp-jsonrpc-peers")
	// The capture holds the collisions this test is about.
	var sent []string
	for _, m := range logged {
		if m.Direction == event.DirClientToServer {
			var probe struct {
				Params json.RawMessage `json:"params"`
			}
			json.Unmarshal(m.Raw, &probe)
			kind := "none"
			if len(probe.Params) > 0 {
				kind = string(probe.Params[:1])
			}
			sent = append(sent, m.Method+" "+kind)
		}
	}
	for _, want := range []string{"initialize {", "ping none", "tools/call [", "tools/call {", "notifications/initialized none", "notifications/cancelled {"} {
		if !slices.Contains(sent, want) {
			t.Errorf("the capture sends no %s", want)
		}
	}

	var flows []string
	for _, e := range evs {
		if e.Kind != event.KindFlow {
			t.Errorf("%s event %s %s %s for a non-MCP JSON-RPC server %s", e.Kind, e.Direction, e.MsgType, e.Method, e.ServerAddress)
			continue
		}
		flows = append(flows, fmt.Sprintf("%s:%d %s %s", e.ServerAddress, e.ServerPort, e.AppProtocol, e.MCPHint))
	}
	slices.Sort(flows)
	want := []string{"10.0.0.30:2087 json-rpc jsonrpc", "10.0.0.31:8545 json-rpc jsonrpc", "10.0.0.32:3000 json-rpc jsonrpc"}
	if !slices.Equal(flows, want) {
		t.Errorf("flows %q, want %q", flows, want)
	}
	var posts int64
	for _, p := range scenario.JSONRPCPeers {
		posts += int64(len(p.Calls))
	}
	if st.MCPExchanges != 0 || st.Held != posts || st.HeldDropped != posts {
		t.Errorf("stats: %d MCP exchanges, %d held, %d dropped; want 0, and all %d POSTs held and dropped", st.MCPExchanges, st.Held, st.HeldDropped, posts)
	}
}
