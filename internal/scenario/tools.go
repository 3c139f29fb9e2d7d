package scenario

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type searchArgs struct {
	Query string `json:"query" jsonschema:"text to look for"`
	Limit int    `json:"limit,omitempty" jsonschema:"most results to return"`
}

type searchResult struct {
	Matches []string `json:"matches"`
}

type readArgs struct {
	Path string `json:"path" jsonschema:"file to read"`
}

// DemoTools registers a small, realistic tool set: a read-only search tool,
// a file reader that fails on unknown paths, a resource and a prompt.
func DemoTools(s *mcp.Server) {
	readOnly := true
	mcp.AddTool(s, &mcp.Tool{
		Name:        "search_docs",
		Description: "Search the internal documentation.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: readOnly},
	}, func(_ context.Context, _ *mcp.CallToolRequest, in searchArgs) (*mcp.CallToolResult, searchResult, error) {
		var out searchResult
		for i := range max(in.Limit, 1) {
			out.Matches = append(out.Matches, fmt.Sprintf("doc-%d: %s", i, in.Query))
		}
		return nil, out, nil
	})
	mcp.AddTool(s, &mcp.Tool{
		Name:        "read_file",
		Description: "Read a file from the project workspace.",
	}, func(_ context.Context, _ *mcp.CallToolRequest, in readArgs) (*mcp.CallToolResult, any, error) {
		if !strings.HasPrefix(in.Path, "/workspace/") {
			return &mcp.CallToolResult{
				IsError: true,
				Content: []mcp.Content{&mcp.TextContent{Text: "path outside workspace: " + in.Path}},
			}, nil, nil
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("line of "+in.Path+"\n", 40)}}}, nil, nil
	})
	s.AddResource(&mcp.Resource{URI: "file:///workspace/README.md", Name: "readme", MIMEType: "text/markdown"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/markdown", Text: "# Workspace\n"}}}, nil
		})
	s.AddPrompt(&mcp.Prompt{Name: "summarize", Description: "Summarize a document."},
		func(_ context.Context, _ *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "Summarize it."}}}}, nil
		})
}

// DemoConversation drives a typical agent session: list and call tools
// (one failing), read a resource, get a prompt.
func DemoConversation(ctx context.Context, cs *mcp.ClientSession) error {
	steps := []struct {
		what string
		run  func() error
	}{
		{"tools/list", func() error { _, err := cs.ListTools(ctx, nil); return err }},
		{"tools/call search_docs", func() error {
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "search_docs", Arguments: map[string]any{"query": "quarterly revenue", "limit": 3}})
			return err
		}},
		{"tools/call read_file", func() error {
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "read_file", Arguments: map[string]any{"path": "/etc/shadow"}})
			return err
		}},
		{"resources/read", func() error {
			_, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///workspace/README.md"})
			return err
		}},
		{"prompts/get", func() error { _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "summarize"}); return err }},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}
