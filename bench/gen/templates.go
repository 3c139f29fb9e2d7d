package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/benchgen"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// mcpTemplate is an MCP conversation recorded from the real Go SDK: a
// session that lists tools and makes the calls.
type mcpTemplate struct {
	name     string
	weight   int
	server   scenario.ServerSpec
	protocol string
	calls    []toolCall
}

// toolCall is one tools/call of a template: a tool of benchTools and the
// size of the result it asks for.
type toolCall struct {
	tool  string
	bytes int
}

// reports calls fetch_report for each size, each followed by a lookup.
func reports(sizes ...int) []toolCall {
	var calls []toolCall
	for _, n := range sizes {
		calls = append(calls, toolCall{"fetch_report", n}, toolCall{"lookup", 0})
	}
	return calls
}

var mcpTemplates = []mcpTemplate{
	{"sse-small", 6, scenario.ServerSpec{Name: "docs", Version: "1.0.0", As: netip.MustParseAddrPort("10.0.0.5:8080"), Host: "docs.corp.example:8080"}, "2025-11-25", reports(1<<10, 2<<10, 1<<10, 4<<10, 1<<10)},
	{"sse-medium", 3, scenario.ServerSpec{Name: "search", Version: "2.3.1", As: netip.MustParseAddrPort("10.0.0.6:8080"), Host: "search.corp.example:8080"}, "2025-06-18", reports(10<<10, 20<<10, 10<<10)},
	{"json-large", 2, scenario.ServerSpec{Name: "warehouse", Version: "0.9.0", As: netip.MustParseAddrPort("10.0.0.7:3000"), Options: mcp.StreamableHTTPOptions{JSONResponse: true}}, "2025-06-18", reports(50<<10, 200<<10)},
	{"stateless", 3, scenario.ServerSpec{Name: "tickets", Version: "3.1.0", As: netip.MustParseAddrPort("10.0.0.8:8443"), Host: "tickets.corp.example:8443", Options: mcp.StreamableHTTPOptions{Stateless: true}}, "", reports(5<<10, 100<<10)},
}

type reportArgs struct {
	Bytes int `json:"bytes" jsonschema:"size of the report to produce"`
}

// benchTools registers a tool whose result size the client chooses, so a
// template has realistic 1 KB–200 KB tools/call results.
func benchTools(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{Name: "fetch_report", Description: "Fetch a generated report."},
		func(_ context.Context, _ *mcp.CallToolRequest, in reportArgs) (*mcp.CallToolResult, any, error) {
			line := "2026-11-27T10:00:00Z order=81723 customer=acme amount=1299.00 status=shipped\n"
			return textResult(strings.Repeat(line, in.Bytes/len(line)+1)[:in.Bytes]), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "lookup", Description: "Look up a record.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, _ *mcp.CallToolRequest, in reportArgs) (*mcp.CallToolResult, any, error) {
			return textResult("ok"), nil, nil
		})
}

// templateSet is what bench/gen -record records: MCP templates and the
// weights of the non-MCP ones (0 leaves one out).
type templateSet struct {
	mcp                []mcpTemplate
	rest, jsonRPC, tls int
}

var standardSet = templateSet{mcp: mcpTemplates, rest: 2, tls: 2}

// recordTemplates runs every template of set against real servers once.
func recordTemplates(ctx context.Context, set templateSet) ([]benchgen.Template, error) {
	var out []benchgen.Template
	for _, mt := range set.mcp {
		convs, err := recordMCP(ctx, mt)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", mt.name, err)
		}
		out = append(out, benchgen.Template{Name: mt.name, Weight: mt.weight, Convs: convs})
	}
	for _, noise := range []struct {
		name   string
		weight int
		record func(context.Context) ([]tcprec.Conversation, error)
	}{{"rest-json", set.rest, recordREST}, {"json-rpc", set.jsonRPC, recordJSONRPC}, {"tls", set.tls, recordTLS}} {
		if noise.weight == 0 {
			continue
		}
		convs, err := noise.record(ctx)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", noise.name, err)
		}
		out = append(out, benchgen.Template{Name: noise.name, Weight: noise.weight, Convs: convs})
	}
	return out, nil
}

func recordMCP(ctx context.Context, mt mcpTemplate) ([]tcprec.Conversation, error) {
	spec := mt.server
	if spec.Setup == nil {
		spec.Setup = benchTools
	}
	srv, err := scenario.StartServer(spec)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	rec := &tcprec.Recorder{}
	cs, err := srv.Connect(ctx, rec, scenario.ClientSpec{
		Name: "agent", Version: "1.0.0", IP: netip.MustParseAddr("10.1.0.1"),
		ProtocolVersion: mt.protocol, DisableStandaloneSSE: true,
	}, &scenario.Log{})
	if err != nil {
		return nil, err
	}
	if _, err := cs.ListTools(ctx, nil); err != nil {
		return nil, err
	}
	for _, c := range mt.calls {
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: c.tool, Arguments: map[string]any{"bytes": c.bytes}}); err != nil {
			return nil, err
		}
	}
	if err := cs.Close(); err != nil {
		return nil, err
	}
	return rec.Recorded(), nil
}

// recordREST records plain JSON REST traffic that must not become MCP.
func recordREST(ctx context.Context) ([]tcprec.Conversation, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/orders/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":81723,"status":"shipped","items":[{"sku":"A-1","qty":2}]}`)
	})
	var reqs []*http.Request
	for i := range 5 {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://orders.corp.example/api/v1/orders/%d", 81720+i), nil)
		reqs = append(reqs, req)
	}
	return recordHTTP(mux, netip.MustParseAddrPort("10.0.0.20:80"), reqs)
}

// recordJSONRPC records an Ethereum-style JSON-RPC 2.0 service — single
// calls and a batch over HTTP POST — which must not become MCP either.
func recordJSONRPC(ctx context.Context) ([]tcprec.Conversation, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rpc", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(string(body), "[") {
			io.WriteString(w, `[{"jsonrpc":"2.0","id":2,"result":"0x1"},{"jsonrpc":"2.0","id":3,"result":"0x5208"}]`)
			return
		}
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":"0x12a05f2"}`)
	})
	var reqs []*http.Request
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}`,
		`[{"jsonrpc":"2.0","id":2,"method":"net_version","params":[]},{"jsonrpc":"2.0","id":3,"method":"eth_estimateGas","params":[{}]}]`,
		`{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x407d73d8a49eeb85d32cf465507dd71d507100c1","latest"]}`,
	} {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://node.corp.example:8545/rpc", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		reqs = append(reqs, req)
	}
	return recordHTTP(mux, netip.MustParseAddrPort("10.0.0.21:8545"), reqs)
}

// recordHTTP records reqs made over one keep-alive connection to h, which
// appears in the capture as the server as.
func recordHTTP(h http.Handler, as netip.AddrPort, reqs []*http.Request) ([]tcprec.Conversation, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(l)
	defer hs.Close()
	rec := &tcprec.Recorder{}
	client := &http.Client{Transport: &http.Transport{DialContext: rec.DialContext(l.Addr().String(), netip.MustParseAddr("10.1.0.1"), as)}}
	for _, req := range reqs {
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	client.CloseIdleConnections()
	return rec.Recorded(), nil
}

// recordTLS records a real TLS 1.3 session (SNI, ALPN, encrypted payload),
// the shape of MCP traffic to a remote server on a span port.
func recordTLS(ctx context.Context) ([]tcprec.Conversation, error) {
	cert, err := selfSigned("mcp.saas.example")
	if err != nil {
		return nil, err
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(strings.Repeat(`{"jsonrpc":"2.0","id":1,"result":{}}`, 200)))
	})}
	go hs.Serve(l)
	defer hs.Close()
	rec := &tcprec.Recorder{}
	dial := rec.DialContext(l.Addr().String(), netip.MustParseAddr("10.1.0.1"), netip.MustParseAddrPort("203.0.113.10:443"))
	client := &http.Client{Transport: &http.Transport{
		DialContext:     dial,
		TLSClientConfig: &tls.Config{ServerName: "mcp.saas.example", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}},
	}}
	for range 3 {
		req, _ := http.NewRequestWithContext(ctx, "POST", "https://mcp.saas.example/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	client.CloseIdleConnections()
	return rec.Recorded(), nil
}

func selfSigned(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
