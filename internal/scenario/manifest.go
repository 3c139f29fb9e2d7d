package scenario

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// startWith starts an MCP server for spec with server options opts, served
// over HTTP by the handler serve builds.
func startWith(spec ServerSpec, opts *mcp.ServerOptions, serve func(*mcp.Server) http.Handler) (*Server, error) {
	if spec.Host == "" {
		spec.Host = spec.As.String()
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: spec.Name, Version: spec.Version}, opts)
	if spec.Setup != nil {
		spec.Setup(srv)
	} else {
		DemoTools(srv)
	}
	mux := http.NewServeMux()
	mux.Handle(spec.Path, serve(srv))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for %s: %w", spec.Name, err)
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(l)
	return &Server{Spec: spec, MCP: srv, realAddr: l.Addr().String(), http: hs, listener: l}, nil
}

// RunManifest records a server that pages tools/list one tool at a time
// and changes its tool set mid-session: the client lists the tools (two
// pages), the server adds a destructive tool, and the client lists again
// (three pages).
func RunManifest(ctx context.Context, rec *tcprec.Recorder) (*Log, error) {
	spec := ServerSpec{Name: "changing", Version: "1.0.0", As: netip.MustParseAddrPort("10.0.0.40:8080"), Host: "tools.corp.example:8080", Path: "/mcp"}
	srv, err := startWith(spec, &mcp.ServerOptions{PageSize: 1}, func(s *mcp.Server) http.Handler {
		return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{DisableLocalhostProtection: true})
	})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	client := mcp.NewClient(&mcp.Implementation{Name: "lister", Version: "1.0"}, nil)
	log := &Log{}
	cs, err := srv.connectWith(ctx, rec, client, ClientSpec{IP: netip.MustParseAddr("10.0.1.60"), ProtocolVersion: "2025-11-25", DisableStandaloneSSE: true}, log)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	listAll := func() error {
		for _, err := range cs.Tools(ctx, nil) {
			if err != nil {
				return fmt.Errorf("list tools: %w", err)
			}
		}
		return nil
	}
	if err := listAll(); err != nil {
		return nil, err
	}
	srv.MCP.AddTool(&mcp.Tool{
		Name: "delete_file", Description: "Delete a file from the workspace.",
		InputSchema: map[string]any{"type": "object", "properties": map[string]any{"path": map[string]any{"type": "string"}}},
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(true)},
	}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	})
	if err := listAll(); err != nil {
		return nil, err
	}
	return log, cs.Close()
}

func ptr[T any](v T) *T { return &v }
