package pipeline

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// TestScenarioNonMCPJSONRPCPeers runs real non-MCP JSON-RPC servers under
// Node — a language server (vscode-languageserver), an Ethereum node
// (ganache), a generic JSON-RPC 2.0 server (jayson) — sent MCP's method
// names, next to a go-sdk client in stateless 2026-07-28 mode whose last
// request is a bare ping, through the whole pipeline and the default rule
// pack, with an allowlist that approves only the MCP server. The peers
// give no MCP event, no server in the inventory and no alert (none of
// unexpected-server, plaintext-transport, unexpected-tls-server): only
// json-rpc flows. The MCP server is listed, its ping reported.
func TestScenarioNonMCPJSONRPCPeers(t *testing.T) {
	pcap := record(t, func(ctx context.Context, rec *tcprec.Recorder) error {
		if _, err := scenario.RunJSONRPCPeers(ctx, rec); err != nil {
			return err
		}
		_, err := scenario.RunStatelessPing(ctx, rec)
		return err
	})
	cfg := testConfig(t, pcap) // the allowlist approves files.corp.example only
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	const files = "http://files.corp.example:8080/mcp"
	var servers []string
	for _, s := range sum.Servers {
		servers = append(servers, s.ServerKey)
	}
	if !slices.Equal(servers, []string{files}) {
		t.Errorf("server inventory %q, want only %s", servers, files)
	}
	peers := map[string]bool{}
	for _, p := range scenario.JSONRPCPeers {
		peers[p.As.Addr().String()] = true
	}
	var flows, pings []string
	for _, e := range readEvents(t, cfg.EventsOut) {
		switch {
		case peers[e.ServerAddress] && e.Kind == event.KindFlow:
			flows = append(flows, fmt.Sprintf("%s:%d %s", e.ServerAddress, e.ServerPort, e.AppProtocol))
		case peers[e.ServerAddress]:
			t.Errorf("%s event for JSON-RPC peer %s: %s %s %s", e.Kind, e.ServerAddress, e.Direction, e.MsgType, e.Method)
		case e.Kind == event.KindMessage && e.Method == "ping":
			pings = append(pings, e.Direction+" "+e.MsgType+" "+e.ClientName)
		}
	}
	slices.Sort(flows)
	if want := []string{"10.0.0.30:2087 json-rpc", "10.0.0.31:8545 json-rpc", "10.0.0.32:3000 json-rpc"}; !slices.Equal(flows, want) {
		t.Errorf("peer flows %q, want %q", flows, want)
	}
	if want := []string{"c2s request agent", "s2c response agent"}; !slices.Equal(pings, want) {
		t.Errorf("ping events %q, want %q", pings, want)
	}
	// The MCP server at 10.0.0.5 (not loopback) answers a tool call
	// without credentials over plain HTTP: its two alerts are the only ones.
	var alerts []string
	for _, a := range readAlerts(t, cfg.AlertsOut) {
		alerts = append(alerts, a.RuleID+" "+a.ServerKey+" "+a.Attributes["server_address"]+a.Attributes["value"])
	}
	slices.Sort(alerts)
	if want := []string{plaintextRule + " " + files + " " + files, "unauthenticated-server " + files + " " + files}; !slices.Equal(alerts, want) {
		t.Errorf("alerts %q, want %q", alerts, want)
	}
}
