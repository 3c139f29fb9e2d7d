package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// TypeScript SDK parties as they appear in the capture. The client speaks
// to a loopback proxy, so its Host header names 127.0.0.1:TSProxyPort.
var (
	TSServerAs = netip.MustParseAddrPort("10.0.0.80:8080")
	tsClientIP = netip.MustParseAddr("10.0.1.80")
)

// TSProxyPort is the loopback port the TypeScript client connects to.
const TSProxyPort = 18931

// RunTypeScript records the TypeScript SDK (@modelcontextprotocol/sdk,
// pinned in typescript/package.json) under Node. mode "streamable" and
// "sse" run server.mjs (the demo tools) over Streamable HTTP or 2024-11-05
// HTTP+SSE; "everything" runs @modelcontextprotocol/server-everything over
// Streamable HTTP. client.mjs connects through a proxy that records its
// connections; the Log is what it printed of every message. The first run
// installs the npm packages (npm ci).
func RunTypeScript(ctx context.Context, rec *tcprec.Recorder, mode string) (*Log, error) {
	ts, err := StartTypeScriptServer(ctx, mode)
	if err != nil {
		return nil, err
	}
	defer ts.Stop()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", TSProxyPort))
	if err != nil {
		return nil, fmt.Errorf("recording proxy: %w", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer l.Close()
	dial := rec.DialContext(ts.Addr, tsClientIP, TSServerAs)
	wg.Go(func() { proxy(ctx, l, dial) })

	log := &Log{}
	var clientErr bytes.Buffer
	client := command(ctx, ts.dir, "node", "client.mjs", mode, fmt.Sprintf("http://127.0.0.1:%d%s", TSProxyPort, ts.path))
	client.Stdout, client.Stderr = log, &clientErr
	if err := client.Run(); err != nil {
		return nil, fmt.Errorf("TypeScript client (%s): %w\n%s\nserver: %s", mode, err, clientErr.String(), ts.out.String())
	}
	return log, nil
}

// TypeScriptServer is a TypeScript SDK server running under Node on a
// loopback port.
type TypeScriptServer struct {
	// Addr is its 127.0.0.1:port, URL its MCP endpoint there.
	Addr, URL string
	dir, path string
	cmd       *exec.Cmd
	out       bytes.Buffer
}

// StartTypeScriptServer starts the server of RunTypeScript's mode
// (server.mjs over "streamable" HTTP or "sse", or server-everything) and
// waits until it listens.
func StartTypeScriptServer(ctx context.Context, mode string) (*TypeScriptServer, error) {
	dir, err := nodeDir(ctx, "typescript")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	ts := &TypeScriptServer{Addr: "127.0.0.1:" + port, dir: dir, path: "/mcp"}
	ts.cmd = command(ctx, dir, "node", "server.mjs", mode)
	switch mode {
	case "everything":
		ts.cmd = command(ctx, dir, "node", "node_modules/@modelcontextprotocol/server-everything/dist/index.js", "streamableHttp")
	case "sse":
		ts.path = "/sse"
	}
	ts.URL = "http://" + ts.Addr + ts.path
	ts.cmd.Env = append(os.Environ(), "PORT="+port)
	ts.cmd.Stdout, ts.cmd.Stderr = &ts.out, &ts.out
	if err := ts.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start TypeScript server: %w", err)
	}
	if err := awaitListener(ctx, ts.Addr); err != nil {
		ts.Stop()
		return nil, fmt.Errorf("TypeScript server (%s): %w\n%s", mode, err, ts.out.String())
	}
	return ts, nil
}

// Stop ends the server.
func (ts *TypeScriptServer) Stop() {
	ts.cmd.Process.Kill()
	ts.cmd.Wait()
}

// freePort returns a loopback port nothing listens on right now.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// awaitListener waits until addr accepts connections.
func awaitListener(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nothing listens on %s: %w", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	return cmd
}

// nodeDir is the Node project internal/scenario/NAME, found from this
// source file so that it works from any working directory, with its
// pinned npm packages installed (npm ci on first use).
func nodeDir(ctx context.Context, name string) (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the Node scenarios")
	}
	dir := filepath.Join(filepath.Dir(file), name)
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		if out, err := command(ctx, dir, "npm", "ci", "--no-audit", "--no-fund").CombinedOutput(); err != nil {
			return "", fmt.Errorf("npm ci in %s: %w\n%s", dir, err, out)
		}
	}
	return dir, nil
}

// proxy relays every connection accepted on l to a recorded upstream
// connection until l is closed.
func proxy(ctx context.Context, l net.Listener, dial func(context.Context, string, string) (net.Conn, error)) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		down, err := l.Accept()
		if err != nil {
			return
		}
		wg.Go(func() {
			defer down.Close()
			up, err := dial(ctx, "tcp", "")
			if err != nil {
				return
			}
			defer up.Close()
			go func() {
				io.Copy(up, down)
				up.Close()
			}()
			io.Copy(down, up)
		})
	}
}
