package scenario

import (
	"bufio"
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
	"strings"
	"sync"

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
// pinned in typescript/package.json) talking to itself: server.mjs and
// client.mjs under Node, transport "streamable" (Streamable HTTP) or "sse"
// (2024-11-05 HTTP+SSE). The client's connections pass through a proxy
// that records them. The Log is what client.mjs printed of every message.
// The first run installs the npm packages (npm ci).
func RunTypeScript(ctx context.Context, rec *tcprec.Recorder, transport string) (*Log, error) {
	dir, err := typescriptDir()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		if out, err := command(ctx, dir, "npm", "ci", "--no-audit", "--no-fund").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("npm ci in %s: %w\n%s", dir, err, out)
		}
	}
	server := command(ctx, dir, "node", "server.mjs", transport)
	stdout, err := server.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var serverErr bytes.Buffer
	server.Stderr = &serverErr
	if err := server.Start(); err != nil {
		return nil, fmt.Errorf("start TypeScript server: %w", err)
	}
	defer server.Wait()
	defer server.Process.Kill()
	first, err := bufio.NewReader(stdout).ReadString('\n')
	port, ok := strings.CutPrefix(strings.TrimSpace(first), "listening ")
	if err != nil || !ok {
		return nil, fmt.Errorf("TypeScript server did not start: %q %v\n%s", first, err, serverErr.String())
	}

	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", TSProxyPort))
	if err != nil {
		return nil, fmt.Errorf("recording proxy: %w", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer l.Close()
	dial := rec.DialContext("127.0.0.1:"+port, tsClientIP, TSServerAs)
	wg.Go(func() { proxy(ctx, l, dial) })

	path := "/mcp"
	if transport == "sse" {
		path = "/sse"
	}
	log := &Log{}
	var clientErr bytes.Buffer
	client := command(ctx, dir, "node", "client.mjs", transport, fmt.Sprintf("http://127.0.0.1:%d%s", TSProxyPort, path))
	client.Stdout, client.Stderr = log, &clientErr
	if err := client.Run(); err != nil {
		return nil, fmt.Errorf("TypeScript client (%s): %w\n%s\nserver: %s", transport, err, clientErr.String(), serverErr.String())
	}
	return log, nil
}

func command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	return cmd
}

// typescriptDir is internal/scenario/typescript, found from this source
// file so that it works from any working directory.
func typescriptDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the TypeScript scenario")
	}
	return filepath.Join(filepath.Dir(file), "typescript"), nil
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
