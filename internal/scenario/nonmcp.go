package scenario

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// NonMCP records HTTP that a sensor must not report as MCP, between real
// net/http clients and servers: a REST JSON API at 10.0.0.20:8080 (one of
// whose paths starts with /mcp) and an Ethereum-style JSON-RPC 2.0 service
// at 10.0.0.21:8545 (eth_blockNumber, and a batch).
func NonMCP(ctx context.Context, rec *tcprec.Recorder) error {
	rest := http.NewServeMux()
	rest.HandleFunc("GET /api/v1/items", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"items":[{"id":1,"name":"widget"}],"next":null}`)
	})
	rest.HandleFunc("POST /api/v1/items", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":2}`)
	})
	rest.HandleFunc("GET /mcp/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	eth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(strings.TrimSpace(string(body)), "[") {
			io.WriteString(w, `[{"jsonrpc":"2.0","id":2,"result":"0x1"},{"jsonrpc":"2.0","id":3,"result":"0x5208"}]`)
			return
		}
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":"0x12a05f2"}`)
	})
	calls := []struct {
		handler      http.Handler
		as           netip.AddrPort
		method, path string
		body         string
	}{
		{rest, netip.MustParseAddrPort("10.0.0.20:8080"), "GET", "/api/v1/items", ""},
		{rest, netip.MustParseAddrPort("10.0.0.20:8080"), "POST", "/api/v1/items", `{"name":"gadget"}`},
		{rest, netip.MustParseAddrPort("10.0.0.20:8080"), "GET", "/mcp/status", ""},
		{eth, netip.MustParseAddrPort("10.0.0.21:8545"), "POST", "/", `{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}`},
		{eth, netip.MustParseAddrPort("10.0.0.21:8545"), "POST", "/", `[{"jsonrpc":"2.0","id":2,"method":"net_version","params":[]},{"jsonrpc":"2.0","id":3,"method":"eth_estimateGas","params":[{}]}]`},
	}
	client := netip.MustParseAddr("10.0.1.30")
	for _, c := range calls {
		if err := oneCall(ctx, rec, c.handler, c.as, client, c.method, c.path, c.body); err != nil {
			return err
		}
	}
	return nil
}

// oneCall serves h on loopback and makes one request to it on a fresh
// recorded connection, closed afterwards.
func oneCall(ctx context.Context, rec *tcprec.Recorder, h http.Handler, as netip.AddrPort, clientIP netip.Addr, method, path, body string) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for %s: %w", as, err)
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(l)
	defer hs.Close()
	tr := &http.Transport{DialContext: rec.DialContext(l.Addr().String(), clientIP, as)}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+as.String()+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("%s %s%s: %w", method, as, path, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err
}
