package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/benchgen"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
)

// realisticSet is the mix of issue 18, traffic as agents make it: many
// sessions of small calls, a few multi-MB tool results — base64 files, hex
// dumps and documents, in JSON responses and in SSE streams — and non-MCP
// HTTP and JSON-RPC noise. Weights put about 40 % of the bytes in the large
// results and give about one MCP message per KB of the rest.
var realisticSet = templateSet{
	mcp: []mcpTemplate{
		{"chatty-sse", 300, realisticServer("crm", "10.0.0.30:8080", mcp.StreamableHTTPOptions{}), "2025-11-25", append(repeatCall("get_record", 30), reports(2<<10)...)},
		{"chatty-json-stateless", 150, realisticServer("inventory", "10.0.0.31:8080", mcp.StreamableHTTPOptions{JSONResponse: true, Stateless: true}), "", repeatCall("get_record", 20)},
		{"chatty-json", 150, realisticServer("billing", "10.0.0.32:3000", mcp.StreamableHTTPOptions{JSONResponse: true}), "2025-06-18", append(repeatCall("get_record", 20), reports(8<<10)...)},
		{"base64-sse", 1, realisticServer("files", "10.0.0.33:8080", mcp.StreamableHTTPOptions{}), "2025-11-25", append([]toolCall{{"read_file", 4 << 20}}, repeatCall("get_record", 3)...)},
		{"base64-json", 1, realisticServer("blobs", "10.0.0.34:8080", mcp.StreamableHTTPOptions{JSONResponse: true}), "2025-06-18", append([]toolCall{{"read_file", 3 << 20}}, repeatCall("get_record", 3)...)},
		{"hex-sse", 1, realisticServer("firmware", "10.0.0.35:8080", mcp.StreamableHTTPOptions{}), "2025-11-25", []toolCall{{"hexdump", 3 << 20}}},
		{"hex-json", 1, realisticServer("forensics", "10.0.0.36:8080", mcp.StreamableHTTPOptions{JSONResponse: true, Stateless: true}), "", []toolCall{{"hexdump", 3 << 20}}},
		{"prose-sse", 1, realisticServer("wiki", "10.0.0.37:8080", mcp.StreamableHTTPOptions{}), "2025-06-18", append([]toolCall{{"read_document", 4 << 20}}, repeatCall("get_record", 2)...)},
		{"prose-json", 1, realisticServer("contracts", "10.0.0.38:8080", mcp.StreamableHTTPOptions{JSONResponse: true}), "2025-11-25", []toolCall{{"read_document", 3 << 20}}},
	},
	rest: 60, jsonRPC: 60, tls: 30,
}

func realisticServer(name, addr string, opts mcp.StreamableHTTPOptions) scenario.ServerSpec {
	as := netip.MustParseAddrPort(addr)
	return scenario.ServerSpec{Name: name, Version: "1.4.2", As: as, Host: fmt.Sprintf("%s.corp.example:%d", name, as.Port()), Options: opts, Setup: realisticTools}
}

func repeatCall(tool string, n int) []toolCall {
	calls := make([]toolCall, n)
	for i := range calls {
		calls[i] = toolCall{tool, 0}
	}
	return calls
}

// realisticTools adds to benchTools a small record lookup and tools whose
// results are files (base64), dumps (hex) and documents (prose) of the size
// the client asks for.
func realisticTools(s *mcp.Server) {
	benchTools(s)
	mcp.AddTool(s, &mcp.Tool{Name: "get_record", Description: "Get a customer record.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, _ *mcp.CallToolRequest, _ reportArgs) (*mcp.CallToolResult, any, error) {
			return textResult(`{"id":81723,"customer":"acme","contact":"ops@acme.example","tier":"gold","region":"eu-west-1",` +
				`"orders":[{"id":"A-1","amount":1299.0,"status":"shipped"},{"id":"A-2","amount":42.5,"status":"open"}],` +
				`"notes":"` + strings.Repeat("renewal due in Q3; ", 12) + `"}`), nil, nil
		})
	for _, t := range []struct {
		name, description string
		content           func(int) string
	}{
		{"read_file", "Read a file; binary content comes base64-encoded.", benchgen.Base64Text},
		{"hexdump", "Dump a firmware image as hex.", benchgen.HexText},
		{"read_document", "Read a document as text.", benchgen.ProseText},
	} {
		mcp.AddTool(s, &mcp.Tool{Name: t.name, Description: t.description},
			func(_ context.Context, _ *mcp.CallToolRequest, in reportArgs) (*mcp.CallToolResult, any, error) {
				return textResult(t.content(in.Bytes)), nil, nil
			})
	}
}

func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}
