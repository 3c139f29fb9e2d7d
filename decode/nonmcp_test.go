package decode

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
)

// A capture mixing MCP with REST JSON and Ethereum JSON-RPC yields MCP
// events for the MCP conversation only and flow events for the rest.
func TestMixedCaptureNonMCPYieldsFlowsOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := scenario.Run(ctx, scenario.Demo[:1])
	if err != nil {
		t.Fatal(err)
	}
	logged, err := res.Logs[0].Messages()
	if err != nil {
		t.Fatal(err)
	}
	if err := scenario.NonMCP(ctx, res.Recorder); err != nil {
		t.Fatal(err)
	}
	d, evs := collect(t, Config{})
	convs := res.Recorder.Recorded()
	replay(t, convs, d)
	d.Finish(time.Now())

	assertMatchesSDK(t, *evs, logged)
	var hints []string
	for _, e := range *evs {
		nonMCP := e.ServerAddress == "10.0.0.20" || e.ServerAddress == "10.0.0.21"
		switch {
		case e.Kind == event.KindFlow && nonMCP:
			hints = append(hints, e.ServerAddress+" "+e.MCPHint)
			if e.AppProtocol != "http" || e.BytesC2S == 0 || e.BytesS2C == 0 {
				t.Errorf("flow %s: app %q bytes %d/%d", e.ServerAddress, e.AppProtocol, e.BytesC2S, e.BytesS2C)
			}
		case nonMCP:
			t.Errorf("%s event for non-MCP server %s: method %q", e.Kind, e.ServerAddress, e.Method)
		case e.Kind == event.KindFlow:
			t.Errorf("flow event for an MCP connection to %s", e.ServerAddress)
		}
	}
	slices.Sort(hints)
	want := []string{"10.0.0.20 ", "10.0.0.20 ", "10.0.0.20 path", "10.0.0.21 jsonrpc", "10.0.0.21 jsonrpc"}
	if !slices.Equal(hints, want) {
		t.Errorf("flow hints %q, want %q", hints, want)
	}
}
