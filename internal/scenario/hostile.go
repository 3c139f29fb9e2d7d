package scenario

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// Hostile traffic of issue 13: what a server or client can put on the wire
// to leak credentials into the sensor's storage, drive an analyst's
// terminal, or hide a request.
const (
	// HostileToken is the bearer token the hostile client sends; the
	// server quotes it back in a JSON-RPC error, a resource URI and a 401
	// challenge. It must reach no stored event.
	HostileToken = "mcp_pat_Q7vL2xN9kR4tW8zB3mJ6hF1d"
	// HostileServerName holds terminal escapes: clear screen, cursor home,
	// a forged line.
	HostileServerName = "files\x1b[2J\x1b[H\r\nALL CLEAR: no alerts"
	// HostileHost is a Host header with an escape sequence and a CR LF.
	HostileHost = "evil\x1b]0;pwned\x07.corp.example\r\n"
	// HostileHeaderBytes is the padding of the hidden tools/call: more
	// than the 64 KiB sensors used to keep, less than the 1 MB Go serves.
	HostileHeaderBytes = 200 << 10
)

// hostileURI is a presigned-style URL, its credential in the query.
var hostileURI = "https://files.corp.example/q3.csv?access_token=" + HostileToken

// HostileServerAs is where the hostile scenario's server appears.
var HostileServerAs = netip.MustParseAddrPort("10.0.0.66:8080")

// RunHostile plays, against a real go-sdk server named HostileServerName:
//
//  1. a go-sdk client with Authorization: Bearer HostileToken reads
//     resource "https://files.corp.example/q3.csv?access_token=…"; the
//     server's handler fails quoting the token and the URI, which go-sdk
//     sends as the JSON-RPC error.message;
//  2. the same client calls delete_files with 200 KiB of X-Padding
//     headers, which net/http serves;
//  3. a request with a revoked-token marker gets a 401 whose
//     WWW-Authenticate error_description quotes the token;
//  4. a raw request whose Host header holds an escape sequence and CR LF.
func RunHostile(ctx context.Context, rec *tcprec.Recorder) error {
	srv, err := StartServer(ServerSpec{
		Name: HostileServerName, Version: "6.6.6", As: HostileServerAs, Host: "files.corp.example:8080",
		Setup: func(s *mcp.Server) {
			s.AddResource(&mcp.Resource{Name: "q3", URI: hostileURI},
				func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
					return nil, fmt.Errorf("upstream refused token %s for %s", HostileToken, req.Params.URI)
				})
			s.AddTool(&mcp.Tool{Name: "delete_files", InputSchema: map[string]any{"type": "object"}},
				func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "deleted 3 files"}}}, nil
				})
		},
		Wrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Revoked") != "" {
					w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The access token `+HostileToken+` was revoked"`)
					http.Error(w, "revoked", http.StatusUnauthorized)
					return
				}
				next.ServeHTTP(w, r)
			})
		},
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	ip := netip.MustParseAddr("10.0.1.66")
	auth := http.Header{"Authorization": {"Bearer " + HostileToken}}
	cs, err := srv.Connect(ctx, rec, ClientSpec{Name: "agent", Version: "1.0.0", IP: ip, DisableStandaloneSSE: true, Header: auth}, &Log{})
	if err != nil {
		return err
	}
	if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: hostileURI}); err == nil || !strings.Contains(err.Error(), HostileToken) {
		return fmt.Errorf("hostile scenario: resources/read did not fail quoting the token: %v", err)
	}
	cs.Close()

	padded := http.Header{"Authorization": auth["Authorization"], "X-Padding": {strings.Repeat("p", HostileHeaderBytes)}}
	cs, err = srv.Connect(ctx, rec, ClientSpec{Name: "agent", Version: "1.0.0", IP: ip, DisableStandaloneSSE: true, Header: padded}, &Log{})
	if err != nil {
		return err
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "delete_files", Arguments: map[string]any{"glob": "/srv/*"}}); err != nil {
		return fmt.Errorf("hostile scenario: padded tools/call: %w", err)
	}
	cs.Close()

	revoked := http.Header{"Authorization": auth["Authorization"], "X-Revoked": {"1"}}
	if _, err := srv.Connect(ctx, rec, ClientSpec{Name: "agent", Version: "1.0.0", IP: ip, DisableStandaloneSSE: true, Header: revoked}, &Log{}); err == nil {
		return errors.New("hostile scenario: revoked token accepted")
	}

	body := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	raw := "POST /mcp HTTP/1.1\r\nHost: " + strings.TrimSuffix(HostileHost, "\r\n") + "\x1b[31m\r\nMcp-Protocol-Version: 2025-06-18\r\n" +
		fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	return rawRequest(ctx, rec, srv, ip, raw)
}

// rawRequest sends raw bytes to s on a recorded connection and reads the
// answer, whatever its status.
func rawRequest(ctx context.Context, rec *tcprec.Recorder, s *Server, ip netip.Addr, raw string) error {
	c, err := rec.DialContext(s.realAddr, ip, s.Spec.As)(ctx, "tcp", "")
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return fmt.Errorf("raw request: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}
