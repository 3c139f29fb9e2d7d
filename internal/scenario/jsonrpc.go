package scenario

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// JSONRPCPeer is a real non-MCP JSON-RPC 2.0 server (jsonrpc/peers.mjs,
// npm packages pinned in jsonrpc/package.json) and what a client sends it:
// its own protocol, and the MCP method names that collide with it.
type JSONRPCPeer struct {
	Name string // peers.mjs mode
	// As is where the server appears in the capture.
	As    netip.AddrPort
	Path  string
	Calls []string // request bodies, POSTed in order on one connection
}

// JSONRPCClientIP is the client of every peer in the capture.
var JSONRPCClientIP = netip.MustParseAddr("10.0.1.60")

// MCP's method names as other JSON-RPC services receive them: from a
// confused client, or a scanner looking for MCP servers.
const (
	lspInitialize    = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"processId":4242,"clientInfo":{"name":"Visual Studio Code","version":"1.96.2"},"locale":"en","rootUri":"file:///src/app","capabilities":{"textDocument":{"hover":{"contentFormat":["markdown","plaintext"]}},"workspace":{"configuration":true}},"trace":"off","workspaceFolders":[{"uri":"file:///src/app","name":"app"}]}}`
	collidingPing    = `{"jsonrpc":"2.0","id":%d,"method":"ping"}`
	toolsCallArray   = `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":["search_docs",{"query":"quarterly revenue"}]}`
	toolsCallObject  = `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"quarterly revenue"}}}`
	initializedNotif = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
)

// JSONRPCPeers are the three peers: a language server
// (vscode-languageserver), an Ethereum node (ganache) and a generic
// JSON-RPC 2.0 server (jayson) whose job API has a method named tools/call.
var JSONRPCPeers = []JSONRPCPeer{
	{
		Name: "lsp", As: netip.MustParseAddrPort("10.0.0.30:2087"), Path: "/lsp",
		Calls: []string{
			lspInitialize,
			`{"jsonrpc":"2.0","method":"initialized","params":{}}`,
			`{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///src/app/main.go","languageId":"go","version":1,"text":"package main\n\nfunc main() {}\n"}}}`,
			`{"jsonrpc":"2.0","id":2,"method":"textDocument/hover","params":{"textDocument":{"uri":"file:///src/app/main.go"},"position":{"line":2,"character":6}}}`,
			fmt.Sprintf(collidingPing, 3),
			fmt.Sprintf(toolsCallArray, 4),
			fmt.Sprintf(toolsCallObject, 5),
			initializedNotif,
			`{"jsonrpc":"2.0","id":6,"method":"shutdown"}`,
		},
	},
	{
		Name: "eth", As: netip.MustParseAddrPort("10.0.0.31:8545"), Path: "/",
		Calls: []string{
			`{"jsonrpc":"2.0","id":1,"method":"web3_clientVersion","params":[]}`,
			`{"jsonrpc":"2.0","id":2,"method":"eth_chainId","params":[]}`,
			`{"jsonrpc":"2.0","id":3,"method":"eth_getBalance","params":["0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1","latest"]}`,
			`[{"jsonrpc":"2.0","id":4,"method":"eth_blockNumber","params":[]},{"jsonrpc":"2.0","id":5,"method":"net_version","params":[]}]`,
			strings.Replace(lspInitialize, `"id":1`, `"id":6`, 1),
			fmt.Sprintf(collidingPing, 7),
			fmt.Sprintf(toolsCallArray, 8),
			fmt.Sprintf(toolsCallObject, 9),
			initializedNotif,
		},
	},
	{
		Name: "generic", As: netip.MustParseAddrPort("10.0.0.32:3000"), Path: "/rpc",
		Calls: []string{
			fmt.Sprintf(collidingPing, 1),
			fmt.Sprintf(toolsCallArray, 2),
			fmt.Sprintf(toolsCallObject, 3),
			strings.Replace(lspInitialize, `"id":1`, `"id":4`, 1),
			`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"user"}}`,
			`[{"jsonrpc":"2.0","id":5,"method":"ping"},{"jsonrpc":"2.0","id":6,"method":"tools/list","params":{}}]`,
		},
	},
}

// RunJSONRPCPeers runs every peer under Node and plays its calls from
// JSONRPCClientIP on one recorded keep-alive connection. Each peer's Log
// holds every message written and read. The first run installs the npm
// packages (npm ci in internal/scenario/jsonrpc).
func RunJSONRPCPeers(ctx context.Context, rec *tcprec.Recorder) ([]*Log, error) {
	var logs []*Log
	for _, p := range JSONRPCPeers {
		log := &Log{}
		if err := runPeer(ctx, rec, p, log); err != nil {
			return nil, fmt.Errorf("JSON-RPC peer %s: %w", p.Name, err)
		}
		logs = append(logs, log)
	}
	return logs, nil
}

func runPeer(ctx context.Context, rec *tcprec.Recorder, p JSONRPCPeer, log *Log) error {
	dir, err := nodeDir(ctx, "jsonrpc")
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	server := command(ctx, dir, "node", "peers.mjs", p.Name)
	server.Env = append(os.Environ(), "PORT="+port)
	var serverOut bytes.Buffer
	server.Stdout, server.Stderr = &serverOut, &serverOut
	if err := server.Start(); err != nil {
		return fmt.Errorf("start node: %w", err)
	}
	defer server.Wait()
	defer server.Process.Kill()
	if err := awaitListener(ctx, "127.0.0.1:"+port); err != nil {
		return fmt.Errorf("%w\n%s", err, serverOut.String())
	}
	tr := &http.Transport{DialContext: rec.DialContext("127.0.0.1:"+port, JSONRPCClientIP, p.As)}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for _, body := range p.Calls {
		req, err := http.NewRequestWithContext(ctx, "POST", "http://"+p.As.String()+p.Path, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		logMessages(log, "write", []byte(body))
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("POST %s: %w\n%s", body, err, serverOut.String())
		}
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("POST %s: read answer: %w", body, err)
		}
		if len(answer) > 0 {
			logMessages(log, "read", answer)
		}
	}
	return nil
}
