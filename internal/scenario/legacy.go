package scenario

import (
	"context"
	"fmt"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// StartLegacyServer starts spec as a 2024-11-05 HTTP+SSE server (go-sdk's
// SSEHandler): clients GET spec.Path (default "/sse") for the event stream
// and POST to the endpoint it announces. Stop it with Close.
func StartLegacyServer(spec ServerSpec) (*Server, error) {
	if spec.Path == "" {
		spec.Path = "/sse"
	}
	return startWith(spec, nil, func(s *mcp.Server) http.Handler {
		return mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return s }, &mcp.SSEOptions{DisableLocalhostProtection: true})
	})
}

// ConnectLegacy connects a go-sdk client over HTTP+SSE to a server started
// with StartLegacyServer, recording like Connect.
func (s *Server) ConnectLegacy(ctx context.Context, rec *tcprec.Recorder, spec ClientSpec, log *Log) (*mcp.ClientSession, error) {
	httpClient := &http.Client{Transport: &http.Transport{DialContext: rec.DialContext(s.realAddr, spec.IP, s.Spec.As)}}
	transport := &mcp.SSEClientTransport{Endpoint: s.URL(), HTTPClient: httpClient}
	client := mcp.NewClient(&mcp.Implementation{Name: spec.Name, Version: spec.Version}, nil)
	cs, err := client.Connect(ctx, &mcp.LoggingTransport{Transport: transport, Writer: log},
		&mcp.ClientSessionOptions{ProtocolVersion: spec.ProtocolVersion})
	if err != nil {
		return nil, fmt.Errorf("connect %s to %s over HTTP+SSE: %w", spec.Name, s.URL(), err)
	}
	return cs, nil
}

// RunLegacy plays DemoConversation over HTTP+SSE and records it into rec.
func RunLegacy(ctx context.Context, rec *tcprec.Recorder, c Conversation) (*Log, error) {
	srv, err := StartLegacyServer(c.Server)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	log := &Log{}
	cs, err := srv.ConnectLegacy(ctx, rec, c.Client, log)
	if err != nil {
		return nil, err
	}
	if err := DemoConversation(ctx, cs); err != nil {
		cs.Close()
		return nil, fmt.Errorf("%s → %s over HTTP+SSE: %w", c.Client.Name, c.Server.Name, err)
	}
	return log, cs.Close()
}
