package scenario

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// Demo is the README's scenario: two servers, one of them approved.
//   - files: http://files.corp.example:8080/mcp at 10.0.0.5, stateful, SSE
//     responses, protocol 2025-11-25, used by 10.0.1.10 (claude-code);
//   - shadow-db: http://10.0.0.9:3000/mcp, stateful, JSON responses,
//     protocol 2025-06-18, used by 10.0.1.11 (cursor) — not on the demo
//     allowlist.
var Demo = []Conversation{
	{
		Server: ServerSpec{Name: "files", Version: "1.4.0", As: netip.MustParseAddrPort("10.0.0.5:8080"), Host: "files.corp.example:8080"},
		Client: ClientSpec{Name: "claude-code", Version: "2.1.0", IP: netip.MustParseAddr("10.0.1.10"), ProtocolVersion: "2025-11-25", DisableStandaloneSSE: true},
	},
	{
		Server: ServerSpec{Name: "shadow-db", Version: "0.3.1", As: netip.MustParseAddrPort("10.0.0.9:3000"), Options: mcp.StreamableHTTPOptions{JSONResponse: true}},
		Client: ClientSpec{Name: "cursor", Version: "1.7.2", IP: netip.MustParseAddr("10.0.1.11"), ProtocolVersion: "2025-06-18", DisableStandaloneSSE: true},
	},
}

// Conversation is one client talking to one server with DemoConversation.
type Conversation struct {
	Server ServerSpec
	Client ClientSpec
}

// Result is what a run of conversations produced.
type Result struct {
	Recorder *tcprec.Recorder
	// Logs holds, per conversation, what the client SDK logged.
	Logs []*Log
}

// Run plays the conversations one after another against fresh servers,
// recording all of them into one Recorder.
func Run(ctx context.Context, convs []Conversation) (*Result, error) {
	res := &Result{Recorder: &tcprec.Recorder{}}
	for _, c := range convs {
		log := &Log{}
		if err := runOne(ctx, res.Recorder, c, log); err != nil {
			return nil, err
		}
		res.Logs = append(res.Logs, log)
	}
	return res, nil
}

func runOne(ctx context.Context, rec *tcprec.Recorder, c Conversation, log *Log) error {
	srv, err := StartServer(c.Server)
	if err != nil {
		return err
	}
	defer srv.Close()
	cs, err := srv.Connect(ctx, rec, c.Client, log)
	if err != nil {
		return err
	}
	if err := DemoConversation(ctx, cs); err != nil {
		cs.Close()
		return fmt.Errorf("%s → %s: %w", c.Client.Name, c.Server.Name, err)
	}
	return cs.Close()
}
