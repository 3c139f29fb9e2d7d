package scenario

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// RunInputRequired records a 2026-07-28 multi-round-trip tool call on a
// stateless go-sdk server: the first tools/call returns resultType
// input_required with an elicitation request, the client (go-sdk, with an
// elicitation handler) answers it and calls the tool again with
// inputResponses, and gets the result.
func RunInputRequired(ctx context.Context, rec *tcprec.Recorder) (*Log, error) {
	spec := ServerSpec{Name: "deployer", Version: "0.2.0", As: netip.MustParseAddrPort("10.0.0.70:8080"), Host: "deploy.corp.example:8080", Path: "/mcp"}
	srv, err := startWith(spec, nil, func(s *mcp.Server) http.Handler {
		return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
			&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, DisableLocalhostProtection: true})
	})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	mcp.AddTool(srv.MCP, &mcp.Tool{Name: "deploy", Description: "Deploy to production after confirmation."},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			if req.Params.InputResponses == nil {
				return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{
					"confirm": &mcp.ElicitParams{Mode: "form", Message: "Deploy to production?",
						RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"ok": map[string]any{"type": "boolean"}}}},
				}}, nil, nil
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "deployed"}}}, nil, nil
		})
	client := mcp.NewClient(&mcp.Implementation{Name: "ops-agent", Version: "1.0"}, &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"ok": true}}, nil
		},
	})
	log := &Log{}
	cs, err := srv.connectWith(ctx, rec, client, ClientSpec{IP: netip.MustParseAddr("10.0.1.95")}, log)
	if err != nil {
		return nil, err
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "deploy", Arguments: map[string]any{}})
	if err != nil {
		cs.Close()
		return nil, fmt.Errorf("call deploy: %w", err)
	}
	if len(res.Content) == 0 {
		cs.Close()
		return nil, fmt.Errorf("deploy: no result after input")
	}
	return log, cs.Close()
}
