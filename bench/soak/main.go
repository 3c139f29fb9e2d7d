// Command soak is the workload of scripts/soak.sh: real MCP servers (go-sdk
// with SSE and with JSON responses, stateful and stateless, and a
// mark3labs/mcp-go server) and plain HTTP / non-MCP JSON-RPC noise on
// 127.0.0.1, driven by go-sdk clients that connect, initialize, list and
// call tools (small, large and progress-streaming results), disconnect and
// start over on new TCP connections, for -duration.
//
// It counts every JSON-RPC message its clients wrote and read (the messages
// on the wire: the servers send nothing the clients do not read), so the
// sensor's count can be checked against it.
//
// Protocol with the script: the servers start, their ports go to -ports
// (line 1: the ports to capture, comma-separated; line 2: a free port for
// the sensor's metrics), then it waits for SIGUSR1 before driving clients,
// so the sensor is capturing from the first connection. SIGINT/SIGTERM stop
// it early. At the end the counts go to stdout as one JSON object.
//
//	go run ./bench/soak -duration 1m -ports /tmp/ports
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	mcpgoserver "github.com/mark3labs/mcp-go/server"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/scenario"
)

// counts is what the workload did; Messages is what the sensor should see.
type counts struct {
	Written      atomic.Int64 `json:"-"` // client → server messages
	Read         atomic.Int64 `json:"-"` // server → client messages
	Sessions     atomic.Int64 `json:"-"`
	ToolCalls    atomic.Int64 `json:"-"`
	LargeResults atomic.Int64 `json:"-"`
	Progress     atomic.Int64 `json:"-"` // tool calls streaming progress
	TCPConns     atomic.Int64 `json:"-"` // MCP client connections dialled
	Noise        atomic.Int64 `json:"-"` // non-MCP HTTP requests
	Errors       atomic.Int64 `json:"-"`
}

func (c *counts) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]int64{
		"messages": c.Written.Load() + c.Read.Load(), "written": c.Written.Load(), "read": c.Read.Load(),
		"sessions": c.Sessions.Load(), "tool_calls": c.ToolCalls.Load(), "large_results": c.LargeResults.Load(),
		"progress_calls": c.Progress.Load(), "mcp_tcp_conns": c.TCPConns.Load(), "noise_requests": c.Noise.Load(),
		"errors": c.Errors.Load(),
	})
}

var stats counts

// countingTransport counts the JSON-RPC messages of one client session.
type countingTransport struct{ mcp.Transport }

func (t countingTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return countingConn{c}, nil
}

type countingConn struct{ mcp.Connection }

func (c countingConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	m, err := c.Connection.Read(ctx)
	if err == nil {
		stats.Read.Add(1)
	}
	return m, err
}

func (c countingConn) Write(ctx context.Context, m jsonrpc.Message) error {
	err := c.Connection.Write(ctx, m)
	if err == nil {
		stats.Written.Add(1)
	}
	return err
}

type exportArgs struct {
	KB int `json:"kb" jsonschema:"size of the report in KiB"`
}

type longArgs struct {
	Steps int `json:"steps" jsonschema:"progress notifications to send"`
}

// soakTools adds the demo tools and two more: a large result and a call
// that streams progress notifications before its result.
func soakTools(s *mcp.Server) {
	scenario.DemoTools(s)
	mcp.AddTool(s, &mcp.Tool{Name: "export_report", Description: "Export a report as CSV."},
		func(_ context.Context, _ *mcp.CallToolRequest, in exportArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: scenario.CustomerCSV(in.KB << 10)}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "long_task", Description: "Run a job, reporting progress."},
		func(ctx context.Context, req *mcp.CallToolRequest, in longArgs) (*mcp.CallToolResult, any, error) {
			tok := req.Params.GetProgressToken()
			for i := range in.Steps {
				if tok != nil {
					req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i + 1), Total: float64(in.Steps), Message: "working"})
				}
				time.Sleep(5 * time.Millisecond)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
}

// server is one MCP endpoint of the workload.
type server struct {
	name  string
	url   string
	mcpgo bool // has only the demo tools
}

func listen(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go (&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}).Serve(l)
	return l.Addr().String(), nil
}

func goSDKServer(name string, opts mcp.StreamableHTTPOptions) (server, error) {
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1.0.0"}, nil)
	soakTools(s)
	opts.SessionTimeout = time.Minute // sessions of clients that vanished
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &opts))
	addr, err := listen(mux)
	return server{name: name, url: "http://" + addr + "/mcp"}, err
}

// mcpGoServer is the demo tool set in mark3labs/mcp-go (as in
// internal/scenario's RunMCPGo).
func mcpGoServer() (server, error) {
	s := mcpgoserver.NewMCPServer("mcpgo-files", "0.5.0", mcpgoserver.WithToolCapabilities(true))
	s.AddTool(mcpgo.NewTool("search_docs", mcpgo.WithDescription("Search the internal documentation."),
		mcpgo.WithString("query", mcpgo.Required()), mcpgo.WithNumber("limit")),
		func(_ context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			return mcpgo.NewToolResultText("doc-0: " + req.GetString("query", "")), nil
		})
	s.AddTool(mcpgo.NewTool("read_file", mcpgo.WithDescription("Read a file from the project workspace."),
		mcpgo.WithString("path", mcpgo.Required())),
		func(_ context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			path := req.GetString("path", "")
			if !strings.HasPrefix(path, "/workspace/") {
				return mcpgo.NewToolResultError("path outside workspace: " + path), nil
			}
			return mcpgo.NewToolResultText(strings.Repeat("line of "+path+"\n", 40)), nil
		})
	h := mcpgoserver.NewStreamableHTTPServer(s, mcpgoserver.WithEndpointPath("/mcp"))
	addr, err := listen(h)
	return server{name: "mcpgo", url: "http://" + addr + "/mcp", mcpgo: true}, err
}

// noiseServer is a REST API and an Ethereum-style JSON-RPC service: HTTP
// the sensor parses and must not take for MCP.
func noiseServer() (string, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/items", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"items":[{"id":1,"name":"widget"},{"id":2,"name":"gadget"}],"next":null}`)
	})
	mux.HandleFunc("POST /api/v1/items", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":3}`)
	})
	mux.HandleFunc("GET /static/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, strings.Repeat("static asset bytes ", 3000))
	})
	mux.HandleFunc("POST /rpc", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(strings.TrimSpace(string(body)), "[") {
			io.WriteString(w, `[{"jsonrpc":"2.0","id":2,"result":"0x1"},{"jsonrpc":"2.0","id":3,"result":"0x5208"}]`)
			return
		}
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":"0x12a05f2"}`)
	})
	return listen(mux)
}

func main() {
	duration := flag.Duration("duration", 10*time.Minute, "how long to drive clients")
	clients := flag.Int("clients", 6, "concurrent MCP client loops")
	pause := flag.Duration("pause", 100*time.Millisecond, "most idle time between a loop's sessions (random up to this)")
	noiseRate := flag.Float64("noise-rate", 20, "non-MCP HTTP requests per second")
	portsFile := flag.String("ports", "", "write the ports to capture (line 1) and a free metrics port (line 2) here")
	wait := flag.Bool("wait", true, "wait for SIGUSR1 after writing -ports before starting")
	flag.Parse()
	if err := run(*duration, *clients, *pause, *noiseRate, *portsFile, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(duration time.Duration, clients int, pause time.Duration, noiseRate float64, portsFile string, wait bool) error {
	var servers []server
	for _, s := range []struct {
		name string
		opts mcp.StreamableHTTPOptions
	}{
		{"sse", mcp.StreamableHTTPOptions{}},                      // stateful, SSE responses
		{"json", mcp.StreamableHTTPOptions{JSONResponse: true}},   // stateful, JSON responses
		{"stateless", mcp.StreamableHTTPOptions{Stateless: true}}, // stateless, SSE responses
		{"stateless-json", mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true}},
	} {
		srv, err := goSDKServer(s.name, s.opts)
		if err != nil {
			return err
		}
		servers = append(servers, srv)
	}
	mg, err := mcpGoServer()
	if err != nil {
		return err
	}
	servers = append(servers, mg)
	noise, err := noiseServer()
	if err != nil {
		return err
	}

	var ports []string
	for _, s := range servers {
		ports = append(ports, s.url[strings.LastIndexByte(s.url[:len(s.url)-4], ':')+1:len(s.url)-4])
	}
	ports = append(ports, noise[strings.LastIndexByte(noise, ':')+1:])
	metrics, err := freePort()
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGINT, syscall.SIGTERM)
	if portsFile != "" {
		if err := os.WriteFile(portsFile+".tmp", []byte(strings.Join(ports, ",")+"\n"+metrics+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.Rename(portsFile+".tmp", portsFile); err != nil {
			return err
		}
	}
	if wait {
		if s := <-sig; s != syscall.SIGUSR1 {
			return nil
		}
	}
	fmt.Fprintf(os.Stderr, "soak: driving %d client loops against %d MCP servers and noise on %s for %s\n", clients, len(servers), noise, duration)

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	go func() {
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
		}
	}()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { clientLoop(ctx, i, servers, pause) })
	}
	wg.Go(func() { noiseLoop(ctx, "http://"+noise, noiseRate) })
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(&stats)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port), nil
}

var protocolVersions = []string{"", "", "2025-11-25", "2025-06-18", "2025-03-26"}

// clientLoop runs sessions one after another until ctx ends. A session
// finishes its work even when ctx ends during it, so every message is
// answered and counted.
func clientLoop(ctx context.Context, loop int, servers []server, pause time.Duration) {
	rng := rand.New(rand.NewPCG(uint64(loop), uint64(time.Now().UnixNano())))
	for ctx.Err() == nil {
		if err := session(rng, servers[rng.IntN(len(servers))], loop); err != nil {
			stats.Errors.Add(1)
			if stats.Errors.Load() <= 20 {
				fmt.Fprintln(os.Stderr, "soak: session:", err)
			}
		}
		if pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(rng.Int64N(int64(pause)))):
			}
		}
	}
}

// session is one agent session on fresh TCP connections: initialize, list
// tools, 1–6 calls, maybe a resource and a prompt, close.
func session(rng *rand.Rand, srv server, loop int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dialer := &net.Dialer{}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			stats.TCPConns.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
		DisableKeepAlives: rng.IntN(4) == 0, // a connection per request
	}
	defer tr.CloseIdleConnections()
	transport := &mcp.StreamableClientTransport{
		Endpoint:             srv.url,
		HTTPClient:           &http.Client{Transport: tr},
		MaxRetries:           -1,
		DisableStandaloneSSE: rng.IntN(2) == 0,
	}
	client := mcp.NewClient(&mcp.Implementation{Name: fmt.Sprintf("soak-agent-%d", loop), Version: "1.0"}, nil)
	cs, err := client.Connect(ctx, countingTransport{transport},
		&mcp.ClientSessionOptions{ProtocolVersion: protocolVersions[rng.IntN(len(protocolVersions))]})
	if err != nil {
		return fmt.Errorf("connect to %s: %w", srv.name, err)
	}
	defer cs.Close()
	stats.Sessions.Add(1)
	if _, err := cs.ListTools(ctx, nil); err != nil {
		return fmt.Errorf("%s tools/list: %w", srv.name, err)
	}
	for range 1 + rng.IntN(6) {
		p := &mcp.CallToolParams{Name: "search_docs", Arguments: map[string]any{"query": "quarterly revenue", "limit": 1 + rng.IntN(5)}}
		switch r := rng.IntN(20); {
		case r < 3:
			p = &mcp.CallToolParams{Name: "read_file", Arguments: map[string]any{"path": "/etc/shadow"}}
		case r < 6:
			p = &mcp.CallToolParams{Name: "read_file", Arguments: map[string]any{"path": "/workspace/main.go"}}
		case r < 8 && !srv.mcpgo:
			p = &mcp.CallToolParams{Name: "export_report", Arguments: map[string]any{"kb": 16 << rng.IntN(6)}} // 16 KiB – 512 KiB
			stats.LargeResults.Add(1)
		case r < 10 && !srv.mcpgo:
			p = &mcp.CallToolParams{Name: "long_task", Arguments: map[string]any{"steps": 2 + rng.IntN(8)}}
			p.SetProgressToken(fmt.Sprintf("job-%d-%d", loop, rng.Int64()))
			stats.Progress.Add(1)
		}
		if _, err := cs.CallTool(ctx, p); err != nil {
			return fmt.Errorf("%s tools/call %s: %w", srv.name, p.Name, err)
		}
		stats.ToolCalls.Add(1)
	}
	if !srv.mcpgo && rng.IntN(4) == 0 {
		if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///workspace/README.md"}); err != nil {
			return fmt.Errorf("%s resources/read: %w", srv.name, err)
		}
		if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "summarize"}); err != nil {
			return fmt.Errorf("%s prompts/get: %w", srv.name, err)
		}
	}
	return cs.Close()
}

// noiseLoop makes non-MCP requests at about rate per second, a new
// connection every few requests.
func noiseLoop(ctx context.Context, base string, rate float64) {
	if rate <= 0 {
		return
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	reqs := []struct{ method, path, body string }{
		{"GET", "/api/v1/items", ""},
		{"POST", "/api/v1/items", `{"name":"gadget"}`},
		{"GET", "/static/app.js", ""},
		{"POST", "/rpc", `{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}`},
		{"POST", "/rpc", `[{"jsonrpc":"2.0","id":2,"method":"net_version","params":[]},{"jsonrpc":"2.0","id":3,"method":"eth_estimateGas","params":[{}]}]`},
	}
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r := reqs[n%len(reqs)]
		var body io.Reader
		ct := ""
		if r.body != "" {
			body, ct = strings.NewReader(r.body), "application/json"
		}
		req, _ := http.NewRequest(r.method, base+r.path, body)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := c.Do(req)
		if err != nil {
			stats.Errors.Add(1)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		stats.Noise.Add(1)
		if n%7 == 6 {
			tr.CloseIdleConnections() // new TCP connections now and then
		}
	}
}
