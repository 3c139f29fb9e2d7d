package sink

import (
	"fmt"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// sampleEvents returns one event of every kind with every field of that kind
// set to a distinct non-zero value, so a field written to the wrong column or
// dropped shows up in a read-back. seed varies the ids and times.
func sampleEvents(seed int) []*event.Event {
	t0 := time.Date(2026, 7, 28, 10, 11, 12, 123456789, time.UTC).Add(time.Duration(seed) * time.Minute)
	at := func(d time.Duration) *time.Time { t := t0.Add(d); return &t }
	envelope := func(kind event.Kind, n int) event.Event {
		return event.Event{
			Schema:          event.SchemaVersion,
			EventID:         event.NewID("sink-test", fmt.Sprint(seed), string(kind), fmt.Sprint(n)),
			Kind:            kind,
			TS:              t0.Add(time.Duration(n) * time.Millisecond),
			Sensor:          "sensor-a",
			Source:          "pcap:demo.pcap",
			ClientAddress:   "10.0.0.7",
			ClientPort:      51234,
			ServerAddress:   "10.0.0.5",
			ServerPort:      8080,
			ServerKey:       "http://10.0.0.5:8080/mcp",
			Transport:       event.TransportStreamableHTTP,
			ProtocolVersion: "2025-06-18",
			SessionID:       "sess-1",
			ClientName:      "go-client",
			ClientVersion:   "1.2.3",
			ServerName:      "notes",
			ServerVersion:   "0.9.0",
		}
	}
	msg := envelope(event.KindMessage, 1)
	msg.Direction = event.DirServerToClient
	msg.MsgType = event.MsgResponse
	msg.Method = "tools/call"
	msg.JSONRPCID = "7"
	msg.ToolName = "search"
	msg.ResourceURI = "file:///notes/a.md"
	msg.PromptName = "summarize"
	msg.ErrorCode = -32602
	msg.ErrorMessage = "invalid params"
	msg.ToolIsError = true
	msg.Bytes = 1234
	msg.DurationMS = 12.5
	msg.HTTPMethod = "POST"
	msg.HTTPPath = "/mcp"
	msg.HTTPStatus = 200
	msg.UserAgent = "Go-http-client/1.1"
	msg.AuthScheme = "bearer"
	msg.TokenID = "00112233445566778899aabbccddeeff"
	msg.TokenIss = "https://as.example"
	msg.TokenAud = []string{"https://mcp.example", "api"}
	msg.TokenScope = "notes:read"
	msg.TokenClientID = "client-42"
	msg.TokenExp = at(time.Hour)
	msg.Batch = true
	msg.Truncated = true

	sess := envelope(event.KindSession, 2)
	sess.StartTS = at(-time.Minute)
	sess.EndTS = at(2 * time.Millisecond)
	sess.EndReason = event.EndDelete
	sess.MessagesC2S = 5
	sess.MessagesS2C = 6
	sess.BytesC2S = 700
	sess.BytesS2C = 8000
	sess.Requests = 4
	sess.Errors = 1
	sess.ToolCalls = 2
	sess.AuthFailures = 3
	sess.Authenticated = true
	sess.Methods = []string{"initialize", "tools/list", "tools/call"}
	sess.ToolsCalled = []string{"search"}
	sess.ClientCapabilities = []string{"roots", "sampling"}
	sess.ServerCapabilities = []string{"tools", "logging"}

	auth := envelope(event.KindAuth, 3)
	auth.AuthEvent = "challenge"
	auth.HTTPMethod = "POST"
	auth.HTTPPath = "/mcp"
	auth.HTTPStatus = 401
	auth.WWWAuthenticate = `Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource"`
	auth.ResourceMetadata = "https://mcp.example/.well-known/oauth-protected-resource"
	auth.Scope = "notes:read"
	auth.Error = "invalid_token"
	auth.PRMResource = "https://mcp.example"
	auth.PRMAuthorizationServers = []string{"https://as.example", "https://as2.example"}
	auth.GrantType = "authorization_code"
	auth.Resource = "https://mcp.example"
	auth.PKCEMethod = "S256"
	auth.ClientID = "client-42"
	auth.TokenID = "ffeeddccbbaa99887766554433221100"

	man := envelope(event.KindManifest, 4)
	man.ManifestHash = "ab12"
	man.ToolCount = 2
	man.Tools = []event.Tool{
		{Name: "search", Hash: "h1", Description: "Search notes.", ReadOnly: true},
		{Name: "delete", Hash: "h2", Description: "Delete a note.", Destructive: true},
	}
	man.AfterListChanged = true

	flow := envelope(event.KindFlow, 5)
	flow.AppProtocol = "tls"
	flow.TLSSNI = "mcp.example"
	flow.TLSALPN = []string{"h2", "http/1.1"}
	flow.BytesC2S = 300
	flow.BytesS2C = 4000
	flow.Packets = 17
	flow.DurationMS = 250.25
	flow.MCPHint = "sni"
	flow.Gaps = 12

	return []*event.Event{&msg, &sess, &auth, &man, &flow}
}

// sampleAlerts returns alerts with every field set.
func sampleAlerts(seed int) []*event.Alert {
	t0 := time.Date(2026, 7, 28, 11, 0, 0, 987654321, time.UTC).Add(time.Duration(seed) * time.Minute)
	first := t0.Add(-5 * time.Minute)
	evs := sampleEvents(seed)
	return []*event.Alert{
		{
			Schema:           event.SchemaVersion,
			AlertID:          event.NewID("sink-test-alert", fmt.Sprint(seed), "1"),
			TS:               t0,
			RuleID:           "unexpected-server",
			RuleName:         "Unexpected MCP server",
			Severity:         event.SeverityHigh,
			Category:         "unexpected_server",
			Summary:          "MCP server http://10.0.0.5:8080/mcp is not on the allowlist",
			ServerKey:        "http://10.0.0.5:8080/mcp",
			ClientAddress:    "10.0.0.7",
			SessionID:        "sess-1",
			ToolName:         "search",
			Count:            3,
			WindowS:          60,
			FirstSeen:        &first,
			LastSeen:         &t0,
			EvidenceEventIDs: []string{evs[0].EventID, evs[1].EventID},
			Attributes:       map[string]string{"zone": "lab", "allowlist": "demo.yaml"},
		},
		{
			Schema:   event.SchemaVersion,
			AlertID:  event.NewID("sink-test-alert", fmt.Sprint(seed), "2"),
			TS:       t0.Add(time.Second),
			RuleID:   "legacy-protocol",
			RuleName: "Legacy protocol version",
			Severity: event.SeverityLow,
			Category: "legacy_protocol",
			Summary:  "server speaks 2024-11-05",
		},
	}
}
