package pipeline

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// An agent pastes an AWS access key into a tool call and the real go-sdk
// search tool echoes it back: both directions raise secret-in-tool-traffic,
// and no event or alert contains the key itself.
func TestScenarioSecretInToolCall(t *testing.T) {
	const key = "AKIAIOSFODNN7EXAMPLE"
	pcap := record(t, func(ctx context.Context, rec *tcprec.Recorder) error {
		srv, err := scenario.StartServer(scenario.ServerSpec{Name: "docs", Version: "1.0.0", As: netip.MustParseAddrPort("10.0.0.5:8080"), Host: "docs.corp.example:8080"})
		if err != nil {
			return err
		}
		defer srv.Close()
		cs, err := srv.Connect(ctx, rec, scenario.ClientSpec{Name: "agent", Version: "1.0.0", IP: netip.MustParseAddr("10.0.1.20"), DisableStandaloneSSE: true}, &scenario.Log{})
		if err != nil {
			return err
		}
		defer cs.Close()
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "search_docs", Arguments: map[string]any{"query": "quarterly revenue"}}); err != nil {
			return err
		}
		_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "search_docs", Arguments: map[string]any{"query": "deploy with " + key}})
		return err
	})
	cfg, alerts := analyse(t, pcap, scenarioAllowlist)
	var directions []string
	for _, a := range alerts {
		if a.RuleID == "secret-in-tool-traffic" {
			directions = append(directions, a.Attributes["direction"])
			if a.ToolName != "search_docs" || a.Attributes["kinds"] != "aws_access_key" {
				t.Errorf("alert %+v", a)
			}
		}
	}
	if strings.Join(directions, ",") != "c2s,s2c" && strings.Join(directions, ",") != "s2c,c2s" {
		t.Errorf("secret alerts for directions %v, want c2s and s2c", directions)
	}
	for _, ev := range readEvents(t, cfg.EventsOut) {
		if ev.Kind == event.KindMessage && ev.Method == "tools/call" && ev.JSONRPCID == "2" && len(ev.SecretKinds) != 0 {
			t.Errorf("the call without a key was flagged: %+v", ev)
		}
	}
	events, _ := os.ReadFile(cfg.EventsOut)
	alertsOut, _ := os.ReadFile(cfg.AlertsOut)
	if strings.Contains(string(events)+string(alertsOut), key) {
		t.Error("the key itself reached the events or alerts")
	}
}
