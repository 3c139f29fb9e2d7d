package scenario

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// StatelessPing is a go-sdk client of the SDK's latest revision
// (2026-07-28) talking to a stateless go-sdk server with JSON responses.
var StatelessPing = Conversation{
	Server: ServerSpec{Name: "files", Version: "1.4.0", As: netip.MustParseAddrPort("10.0.0.5:8080"), Host: "files.corp.example:8080",
		Options: mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true}},
	Client: ClientSpec{Name: "agent", Version: "2.0", IP: netip.MustParseAddr("10.0.1.10")},
}

// RunStatelessPing records StatelessPing: tools/list and a tool call, then
// ClientSession.Ping. The SDK sends that ping bare — no params, so no
// _meta identity, and nothing in the body that says MCP — on the keep-alive
// connection of the calls before it.
func RunStatelessPing(ctx context.Context, rec *tcprec.Recorder) (*Log, error) {
	c := StatelessPing
	srv, err := StartServer(c.Server)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	log := &Log{}
	cs, err := srv.Connect(ctx, rec, c.Client, log)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	if _, err := cs.ListTools(ctx, nil); err != nil {
		return nil, fmt.Errorf("tools/list: %w", err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "search_docs", Arguments: map[string]any{"query": "uptime"}}); err != nil {
		return nil, fmt.Errorf("tools/call: %w", err)
	}
	if err := cs.Ping(ctx, nil); err != nil {
		return nil, fmt.Errorf("ping: %w", err)
	}
	return log, cs.Close()
}
