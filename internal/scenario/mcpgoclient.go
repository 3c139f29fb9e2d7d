package scenario

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// RunMCPGoClient records a github.com/mark3labs/mcp-go client playing the
// demo conversation against a go-sdk server (Streamable HTTP, SSE
// responses, protocol 2025-11-25). mcp-go's client keeps no message log, so
// the Log is taken at its HTTP layer: every JSON-RPC message of the bodies
// it sent and of the responses and event streams it read.
func RunMCPGoClient(ctx context.Context, rec *tcprec.Recorder) (*Log, error) {
	spec := ServerSpec{Name: "files", Version: "1.4.0", As: netip.MustParseAddrPort("10.0.0.52:8080"), Host: "files2.corp.example:8080"}
	srv, err := StartServer(spec)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	log := &Log{}
	hc := &http.Client{Transport: &wireLog{log: log, next: &http.Transport{
		DialContext: rec.DialContext(srv.realAddr, netip.MustParseAddr("10.0.1.90"), spec.As)}}}
	c, err := mcpgoclient.NewStreamableHttpClient(srv.URL(), transport.WithHTTPBasicClient(hc))
	if err != nil {
		return nil, fmt.Errorf("mcp-go client: %w", err)
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		return nil, fmt.Errorf("mcp-go client start: %w", err)
	}
	steps := []struct {
		what string
		run  func() error
	}{
		{"initialize", func() error {
			_, err := c.Initialize(ctx, mcpgo.InitializeRequest{Params: mcpgo.InitializeParams{
				ProtocolVersion: "2025-11-25", ClientInfo: mcpgo.Implementation{Name: "mcpgo-agent", Version: "1.2.1"}}})
			return err
		}},
		{"tools/list", func() error { _, err := c.ListTools(ctx, mcpgo.ListToolsRequest{}); return err }},
		{"tools/call search_docs", func() error {
			_, err := c.CallTool(ctx, mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: "search_docs", Arguments: map[string]any{"query": "quarterly revenue"}}})
			return err
		}},
		{"tools/call read_file", func() error {
			_, err := c.CallTool(ctx, mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: "read_file", Arguments: map[string]any{"path": "/etc/shadow"}}})
			return err
		}},
		{"resources/read", func() error {
			_, err := c.ReadResource(ctx, mcpgo.ReadResourceRequest{Params: mcpgo.ReadResourceParams{URI: "file:///workspace/README.md"}})
			return err
		}},
		{"prompts/get", func() error {
			_, err := c.GetPrompt(ctx, mcpgo.GetPromptRequest{Params: mcpgo.GetPromptParams{Name: "summarize"}})
			return err
		}},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			return nil, fmt.Errorf("mcp-go client %s: %w", s.what, err)
		}
	}
	return log, c.Close()
}

// wireLog logs the JSON-RPC messages of every request body and response
// (JSON body or event stream) passing through it.
type wireLog struct {
	log  *Log
	next http.RoundTripper
}

func (w *wireLog) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		logMessages(w.log, "write", body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := w.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body = &sseLog{ReadCloser: resp.Body, log: w.log}
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) > 0 {
		logMessages(w.log, "read", body)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// sseLog logs the data lines of an event stream as the client reads it.
type sseLog struct {
	io.ReadCloser
	log     *Log
	partial []byte
}

func (s *sseLog) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	s.partial = append(s.partial, p[:n]...)
	for {
		line, rest, ok := bytes.Cut(s.partial, []byte("\n"))
		if !ok {
			break
		}
		if data, found := bytes.CutPrefix(bytes.TrimRight(line, "\r"), []byte("data: ")); found && len(data) > 0 {
			logMessages(s.log, "read", data)
		}
		s.partial = rest
	}
	return n, err
}
