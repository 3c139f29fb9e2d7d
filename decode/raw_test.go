package decode

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// runRaw posts calls to a real go-sdk server and decodes the recording.
func runRaw(t *testing.T, opts mcp.StreamableHTTPOptions, calls []scenario.RawCall) ([]*event.Event, []scenario.LoggedMessage, Stats) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := &tcprec.Recorder{}
	spec := scenario.ServerSpec{Name: "files", Version: "1.4.0", As: netip.MustParseAddrPort("10.0.0.5:8080"), Options: opts}
	log, err := scenario.RunRaw(ctx, rec, spec, netip.MustParseAddr("10.0.1.40"), calls)
	if err != nil {
		t.Fatal(err)
	}
	logged, err := log.Messages()
	if err != nil {
		t.Fatal(err)
	}
	d, evs := collect(t, Config{})
	replay(t, rec.Recorded(), d)
	d.Finish(time.Now())
	return *evs, logged, d.Stats()
}

const initialize20250326 = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"batcher","version":"1.0"}}}`

// 2025-03-26 allows JSON-RPC batches; every element is its own message
// event flagged batch, and responses in the answering array match by id.
func TestBatch20250326(t *testing.T) {
	evs, logged, _ := runRaw(t, mcp.StreamableHTTPOptions{JSONResponse: true}, []scenario.RawCall{
		{Body: initialize20250326},
		{Body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`},
		{Body: `[{"jsonrpc":"2.0","id":2,"method":"ping"},{"jsonrpc":"2.0","id":3,"method":"tools/list"},{"jsonrpc":"2.0","id":"c-4","method":"tools/call","params":{"name":"search_docs","arguments":{"query":"x"}}}]`},
	})
	assertMatchesSDK(t, evs, logged)
	batched := 0
	for _, e := range byKind(evs, event.KindMessage) {
		if e.Batch {
			batched++
			if e.ClientName != "batcher" || e.SessionID == "" || e.Bytes == 0 {
				t.Errorf("batch %s %s: client %q session %q bytes %d", e.Direction, e.Method, e.ClientName, e.SessionID, e.Bytes)
			}
		}
	}
	if batched != 6 {
		t.Errorf("%d messages flagged batch, want 6 (3 requests, 3 responses)", batched)
	}
}

// 2026-07-28 routing headers that disagree with the body are counted, and
// the server's rejection (HTTP 400, JSON-RPC error) shows on both messages.
func TestStatelessHeaderMismatch(t *testing.T) {
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"sneaky","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`
	hdr := func(method, name string) map[string]string {
		return map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": method, "Mcp-Name": name}
	}
	evs, logged, st := runRaw(t, mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true}, []scenario.RawCall{
		{Header: hdr("tools/call", "search_docs"), Body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"ok"},` + meta + `}}`},
		{Header: hdr("tools/call", "search_docs"), Body: `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/etc/shadow"},` + meta + `}}`},
	})
	assertMatchesSDK(t, evs, logged)
	if st.HeaderMismatch != 1 {
		t.Errorf("header mismatches: %d, want 1", st.HeaderMismatch)
	}
	for _, e := range byKind(evs, event.KindMessage) {
		if e.JSONRPCID != "2" {
			continue
		}
		if e.HTTPStatus != 400 || e.ClientName != "sneaky" || e.ToolName != "read_file" {
			t.Errorf("%s: status %d client %q tool %q", e.Direction, e.HTTPStatus, e.ClientName, e.ToolName)
		}
		if e.Direction == event.DirServerToClient && e.ErrorCode != -32020 {
			t.Errorf("rejection: error %d %q, want -32020", e.ErrorCode, e.ErrorMessage)
		}
	}
}
