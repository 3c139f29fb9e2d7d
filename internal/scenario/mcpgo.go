package scenario

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	mcpgoserver "github.com/mark3labs/mcp-go/server"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// MCPGoServer is the mark3labs/mcp-go server of RunMCPGo, as it appears in
// the capture.
var MCPGoServer = ServerSpec{Name: "mcpgo-files", Version: "0.5.0", As: netip.MustParseAddrPort("10.0.0.50:8080"), Host: "mcpgo.corp.example:8080", Path: "/mcp"}

// RunMCPGo records the go-sdk client's DemoConversation against a
// github.com/mark3labs/mcp-go server over Streamable HTTP, with the demo's
// tools rebuilt in mcp-go's API. The Log is the go-sdk client's.
func RunMCPGo(ctx context.Context, rec *tcprec.Recorder, client ClientSpec, stateless bool) (*Log, error) {
	srv, err := serve(MCPGoHandler(stateless))
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	fronted := &Server{Spec: MCPGoServer, realAddr: srv.Addr().String()}
	log := &Log{}
	cs, err := fronted.Connect(ctx, rec, client, log)
	if err != nil {
		return nil, err
	}
	if err := DemoConversation(ctx, cs); err != nil {
		cs.Close()
		return nil, fmt.Errorf("%s → mcp-go: %w", client.Name, err)
	}
	return log, cs.Close()
}

// MCPGoHandler is the github.com/mark3labs/mcp-go server of RunMCPGo: the
// demo's tools, resource and prompt over Streamable HTTP at /mcp, without
// authentication.
func MCPGoHandler(stateless bool) http.Handler {
	s := mcpgoserver.NewMCPServer(MCPGoServer.Name, MCPGoServer.Version, mcpgoserver.WithToolCapabilities(true))
	s.AddTool(mcpgo.NewTool("search_docs",
		mcpgo.WithDescription("Search the internal documentation."),
		mcpgo.WithReadOnlyHintAnnotation(true),
		mcpgo.WithString("query", mcpgo.Required()), mcpgo.WithNumber("limit"),
	), func(_ context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		return mcpgo.NewToolResultText("doc-0: " + req.GetString("query", "")), nil
	})
	s.AddTool(mcpgo.NewTool("read_file",
		mcpgo.WithDescription("Read a file from the project workspace."),
		mcpgo.WithString("path", mcpgo.Required()),
	), func(_ context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		path := req.GetString("path", "")
		if !strings.HasPrefix(path, "/workspace/") {
			return mcpgo.NewToolResultError("path outside workspace: " + path), nil
		}
		return mcpgo.NewToolResultText("line of " + path), nil
	})
	s.AddResource(mcpgo.NewResource("file:///workspace/README.md", "readme", mcpgo.WithMIMEType("text/markdown")),
		func(_ context.Context, req mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
			return []mcpgo.ResourceContents{mcpgo.TextResourceContents{URI: req.Params.URI, MIMEType: "text/markdown", Text: "# Workspace\n"}}, nil
		})
	s.AddPrompt(mcpgo.NewPrompt("summarize", mcpgo.WithPromptDescription("Summarize a document.")),
		func(context.Context, mcpgo.GetPromptRequest) (*mcpgo.GetPromptResult, error) {
			return mcpgo.NewGetPromptResult("", []mcpgo.PromptMessage{mcpgo.NewPromptMessage(mcpgo.RoleUser, mcpgo.NewTextContent("Summarize it."))}), nil
		})
	return mcpgoserver.NewStreamableHTTPServer(s, mcpgoserver.WithEndpointPath(MCPGoServer.Path),
		mcpgoserver.WithStateLess(stateless), mcpgoserver.WithDisableLocalhostProtection(true))
}
