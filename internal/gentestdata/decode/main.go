// Command decode regenerates the captures under testdata/decode/ that the
// decode package's conformance tests read: real go-sdk conversations at
// every protocol version and response mode, stateless and stateful, legacy
// HTTP+SSE, batches, a 2026-07-28 header mismatch, an OAuth-protected
// server, a paginated and changing tool list, server→client requests
// inside tool calls, a 2026-07-28 multi-round-trip (input_required) call,
// a 2026-07-28 client's bare ping, a mark3labs/mcp-go server and client, the TypeScript SDK over
// Streamable HTTP and HTTP+SSE and its server-everything, MCP mixed with non-MCP HTTP and JSON-RPC,
// and real non-MCP JSON-RPC servers (a language server, ganache, jayson)
// sent MCP's method names.
//
//	go run ./internal/gentestdata/decode            # writes testdata/decode/
//	go test ./decode -update                        # rewrites the golden events
//	go run ./internal/gentestdata/decode -dir /tmp
//	go run ./internal/gentestdata/decode -run 'ping|peers'  # some of them
//
// The TypeScript and JSON-RPC peer captures need Node 20 and npm (the
// first run installs the pinned packages under internal/scenario/typescript
// and internal/scenario/jsonrpc).
// Each NAME.pcap gets a NAME.sdk.jsonl with what the client logged of every
// JSON-RPC message. A recording is kept only if capture.Engine pairs every
// response with its request: under CPU load the recorder can stamp a write
// after the answer to it was read, and such a capture would test the
// recorder's clock rather than the decoder.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

func main() {
	dir := flag.String("dir", "testdata/decode", "directory to write the captures to")
	run := flag.String("run", "", "regenerate only the captures whose name matches this regular expression")
	flag.Parse()
	only, err := regexp.Compile(*run)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gentestdata/decode: -run:", err)
		os.Exit(2)
	}
	if err := generate(*dir, only); err != nil {
		fmt.Fprintln(os.Stderr, "gentestdata/decode:", err)
		os.Exit(1)
	}
}

// recording plays one capture's conversations and returns what was
// recorded and what the clients logged.
type recording func(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error)

type captureSpec struct {
	name string
	run  recording
}

var (
	filesServer = scenario.ServerSpec{Name: "files", Version: "1.4.0", As: netip.MustParseAddrPort("10.0.0.5:8080"), Host: "files.corp.example:8080"}
	agent       = scenario.ClientSpec{Name: "agent", Version: "2.0", IP: netip.MustParseAddr("10.0.1.10")}
)

func captures() []captureSpec {
	var out []captureSpec
	modes := []struct {
		name string
		opts mcp.StreamableHTTPOptions
	}{
		{"sse", mcp.StreamableHTTPOptions{}},
		{"json", mcp.StreamableHTTPOptions{JSONResponse: true}},
		{"stateless-sse", mcp.StreamableHTTPOptions{Stateless: true}},
		{"stateless-json", mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true}},
	}
	// "latest" lets the SDK negotiate: 2026-07-28 with a stateless server,
	// 2025-11-25 with a stateful one.
	for _, version := range []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "latest"} {
		for _, m := range modes {
			srv, cl := filesServer, agent
			srv.Options = m.opts
			if version != "latest" {
				cl.ProtocolVersion = version
			}
			out = append(out, captureSpec{"gosdk-" + version + "-" + m.name, conversations(scenario.Conversation{Server: srv, Client: cl})})
		}
	}
	// Small segments put every body across several packets, for tests
	// that cut one out.
	srv, cl := filesServer, agent
	srv.Options, cl.ProtocolVersion = mcp.StreamableHTTPOptions{JSONResponse: true}, "2025-11-25"
	return append(out,
		captureSpec{"gosdk-2025-11-25-json-mss200", withMSS(200, conversations(scenario.Conversation{Server: srv, Client: cl}))},
		captureSpec{"gosdk-legacy-sse", legacySSE},
		captureSpec{"gosdk-batch-2025-03-26", raw(mcp.StreamableHTTPOptions{JSONResponse: true}, batchCalls)},
		captureSpec{"gosdk-header-mismatch-2026-07-28", raw(mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true}, mismatchCalls())},
		captureSpec{"gosdk-auth", func(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error) {
			rec := &tcprec.Recorder{}
			log, err := scenario.RunAuth(ctx, rec)
			return rec, []*scenario.Log{log}, err
		}},
		captureSpec{"gosdk-manifest-paged", func(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error) {
			rec := &tcprec.Recorder{}
			log, err := scenario.RunManifest(ctx, rec)
			return rec, []*scenario.Log{log}, err
		}},
		captureSpec{"gosdk-server-requests", func(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error) {
			rec := &tcprec.Recorder{}
			log, err := scenario.RunServerRequests(ctx, rec)
			return rec, []*scenario.Log{log}, err
		}},
		// mcp-go offers 2026-07-28, which is stateless; a client asking
		// for 2025-11-25 gets a session.
		captureSpec{"mcpgo-stateful-2025-11-25", mcpGo(false, "2025-11-25")},
		captureSpec{"mcpgo-stateless-latest", mcpGo(true, "")},
		captureSpec{"gosdk-input-required-2026-07-28", func(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error) {
			rec := &tcprec.Recorder{}
			log, err := scenario.RunInputRequired(ctx, rec)
			return rec, []*scenario.Log{log}, err
		}},
		captureSpec{"mcpgo-client", func(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error) {
			rec := &tcprec.Recorder{}
			log, err := scenario.RunMCPGoClient(ctx, rec)
			return rec, []*scenario.Log{log}, err
		}},
		captureSpec{"gosdk-stateless-ping-2026-07-28", func(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error) {
			rec := &tcprec.Recorder{}
			log, err := scenario.RunStatelessPing(ctx, rec)
			return rec, []*scenario.Log{log}, err
		}},
		captureSpec{"ts-streamable", typeScript("streamable")},
		captureSpec{"ts-legacy-sse", typeScript("sse")},
		captureSpec{"ts-server-everything", typeScript("everything")},
		captureSpec{"nonmcp-jsonrpc-peers", func(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error) {
			rec := &tcprec.Recorder{}
			logs, err := scenario.RunJSONRPCPeers(ctx, rec)
			return rec, logs, err
		}},
		captureSpec{"mixed-nonmcp", func(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error) {
			rec, logs, err := conversations(scenario.Demo[0])(ctx)
			if err != nil {
				return nil, nil, err
			}
			return rec, logs, scenario.NonMCP(ctx, rec)
		}},
	)
}

func conversations(convs ...scenario.Conversation) recording {
	return func(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error) {
		res, err := scenario.Run(ctx, convs)
		if err != nil {
			return nil, nil, err
		}
		return res.Recorder, res.Logs, nil
	}
}

// withMSS writes run's recording with TCP segments of at most mss bytes.
func withMSS(mss int, run recording) recording {
	return func(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error) {
		rec, logs, err := run(ctx)
		if rec != nil {
			rec.MSS = mss
		}
		return rec, logs, err
	}
}

func legacySSE(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error) {
	rec := &tcprec.Recorder{}
	log, err := scenario.RunLegacy(ctx, rec, scenario.Conversation{
		Server: scenario.ServerSpec{Name: "legacy-files", Version: "0.9.0", As: netip.MustParseAddrPort("10.0.0.7:8000"), Host: "legacy.corp.example:8000"},
		Client: scenario.ClientSpec{Name: "old-agent", Version: "0.1", IP: netip.MustParseAddr("10.0.1.12"), ProtocolVersion: "2024-11-05"},
	})
	return rec, []*scenario.Log{log}, err
}

// mcpGo records the go-sdk client against a mark3labs/mcp-go server.
func mcpGo(stateless bool, version string) recording {
	return func(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error) {
		rec, client := &tcprec.Recorder{}, agent
		client.ProtocolVersion = version
		log, err := scenario.RunMCPGo(ctx, rec, client, stateless)
		return rec, []*scenario.Log{log}, err
	}
}

// typeScript records the TypeScript SDK's client and server (Node 20; the
// first run installs the pinned npm packages).
func typeScript(mode string) recording {
	return func(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error) {
		rec := &tcprec.Recorder{}
		log, err := scenario.RunTypeScript(ctx, rec, mode)
		return rec, []*scenario.Log{log}, err
	}
}

func raw(opts mcp.StreamableHTTPOptions, calls []scenario.RawCall) recording {
	return func(ctx context.Context) (*tcprec.Recorder, []*scenario.Log, error) {
		rec := &tcprec.Recorder{}
		spec := filesServer
		spec.Options = opts
		log, err := scenario.RunRaw(ctx, rec, spec, netip.MustParseAddr("10.0.1.40"), calls)
		return rec, []*scenario.Log{log}, err
	}
}

// batchCalls are a 2025-03-26 session whose third POST is a batch.
var batchCalls = []scenario.RawCall{
	{Body: `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"batcher","version":"1.0"}}}`},
	{Body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`},
	{Body: `[{"jsonrpc":"2.0","id":2,"method":"ping"},{"jsonrpc":"2.0","id":3,"method":"tools/list"},{"jsonrpc":"2.0","id":"c-4","method":"tools/call","params":{"name":"search_docs","arguments":{"query":"x"}}}]`},
}

// mismatchCalls are two stateless tools/call requests; the second one's
// Mcp-Name header names another tool than its body.
func mismatchCalls() []scenario.RawCall {
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"sneaky","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`
	hdr := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "search_docs"}
	return []scenario.RawCall{
		{Header: hdr, Body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"ok"},` + meta + `}}`},
		{Header: hdr, Body: `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/etc/shadow"},` + meta + `}}`},
	}
}

func generate(dir string, only *regexp.Regexp) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range captures() {
		if !only.MatchString(c.name) {
			continue
		}
		if err := generateOne(dir, c); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return nil
}

// generateOne records c until capture.Engine finds every response's request
// in the recording, then writes it.
func generateOne(dir string, c captureSpec) error {
	const attempts = 10
	pcap := filepath.Join(dir, c.name+".pcap")
	for range attempts {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rec, logs, err := c.run(ctx)
		cancel()
		if err != nil {
			return err
		}
		if err := scenario.WriteCapture(pcap, rec); err != nil {
			return err
		}
		ok, err := causal(pcap)
		if err != nil {
			return err
		}
		if ok {
			fmt.Printf("wrote %s (%d connections)\n", pcap, rec.Conversations())
			return scenario.WriteLog(filepath.Join(dir, c.name+".sdk.jsonl"), logs)
		}
	}
	return errors.New("no recording with every response after its request")
}

// causal reports whether capture pairs every response with its request.
func causal(path string) (bool, error) {
	src, err := capture.OpenPcap(path)
	if err != nil {
		return false, err
	}
	defer src.Close()
	eng, err := capture.NewEngine(capture.Config{}, nopHandler{})
	if err != nil {
		return false, err
	}
	if err := eng.Run(context.Background(), src); err != nil {
		return false, fmt.Errorf("read back %s: %w", path, err)
	}
	eng.Finish()
	st := eng.Stats()
	return st.UnmatchedResponses == 0 && st.Requests == st.Responses, nil
}

type nopHandler struct{}

func (nopHandler) Request(*capture.Request)                                        {}
func (nopHandler) Response(*capture.Request, *capture.Response)                    {}
func (nopHandler) SSEEvent(*capture.Request, *capture.Response, *capture.SSEEvent) {}
func (nopHandler) ResponseEnd(*capture.Request, *capture.Response)                 {}
func (nopHandler) ConnEnd(*capture.Conn, *capture.ConnEnd)                         {}
