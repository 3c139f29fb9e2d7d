package scenario

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// RunServerRequests records server→client traffic inside tool calls: a
// tool that asks the client for its roots (roots/list) and reports
// progress, and one that asks the client's model for a completion
// (sampling/createMessage). The client answers on new POSTs while the
// tools' own responses wait on their SSE streams.
func RunServerRequests(ctx context.Context, rec *tcprec.Recorder) (*Log, error) {
	spec := ServerSpec{Name: "agentic", Version: "1.1.0", As: netip.MustParseAddrPort("10.0.0.60:8080"), Host: "agentic.corp.example:8080", Path: "/mcp"}
	srv, err := startWith(spec, nil, func(s *mcp.Server) http.Handler {
		return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{DisableLocalhostProtection: true})
	})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	mcp.AddTool(srv.MCP, &mcp.Tool{Name: "workspace_roots", Description: "List the client's workspace roots."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			if token := req.Params.GetProgressToken(); token != nil {
				req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: 0.5, Message: "asking for roots"})
			}
			roots, err := req.Session.ListRoots(ctx, nil)
			if err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(len(roots.Roots), " roots")}}}, nil, nil
		})
	mcp.AddTool(srv.MCP, &mcp.Tool{Name: "ask_model", Description: "Ask the client's model."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 50,
				Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "Say hi."}}}})
			if err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{res.Content}}, nil, nil
		})
	client := mcp.NewClient(&mcp.Implementation{Name: "desktop", Version: "4.2"}, &mcp.ClientOptions{
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "local-model", Role: "assistant", Content: &mcp.TextContent{Text: "hi"}}, nil
		},
	})
	client.AddRoots(&mcp.Root{URI: "file:///home/alice/project", Name: "project"})
	log := &Log{}
	cs, err := srv.connectWith(ctx, rec, client, ClientSpec{Name: "desktop", IP: netip.MustParseAddr("10.0.1.70"),
		ProtocolVersion: "2025-11-25", DisableStandaloneSSE: true}, log)
	if err != nil {
		return nil, err
	}
	for _, tool := range []string{"workspace_roots", "ask_model"} {
		params := &mcp.CallToolParams{Name: tool, Arguments: map[string]any{}}
		params.SetProgressToken("p-" + tool)
		if _, err := cs.CallTool(ctx, params); err != nil {
			cs.Close()
			return nil, fmt.Errorf("call %s: %w", tool, err)
		}
	}
	return log, cs.Close()
}

// connectWith connects client to s over Streamable HTTP from spec.IP,
// recording like Connect; spec's name and version are client's own.
func (s *Server) connectWith(ctx context.Context, rec *tcprec.Recorder, client *mcp.Client, spec ClientSpec, log *Log) (*mcp.ClientSession, error) {
	httpClient := &http.Client{Transport: &http.Transport{DialContext: rec.DialContext(s.realAddr, spec.IP, s.Spec.As)}}
	cs, err := client.Connect(ctx, &mcp.LoggingTransport{Transport: &mcp.StreamableClientTransport{
		Endpoint: s.URL(), HTTPClient: httpClient, MaxRetries: -1, DisableStandaloneSSE: spec.DisableStandaloneSSE,
	}, Writer: log}, &mcp.ClientSessionOptions{ProtocolVersion: spec.ProtocolVersion})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", s.URL(), err)
	}
	return cs, nil
}
