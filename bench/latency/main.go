// Command latency measures packet-to-alert latency of live capture: it runs
// `mcpwatch run --iface lo` with a rule that alerts on every tools/call,
// drives a real Go SDK client against a real Go SDK server on loopback at a
// steady rate, and reports how long after each request was on the wire its
// alert came out (alert ts is the request's packet time). Needs root or
// CAP_NET_RAW.
//
//	go build -o bench/out/mcpwatch ./cmd/mcpwatch
//	go run ./bench/latency -mcpwatch bench/out/mcpwatch -calls 500 -rate 100
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

const probeRule = `rules:
  - id: every-tool-call
    name: Every tool call
    description: Latency probe; alerts on each tools/call request.
    severity: low
    category: probe
    type: match
    condition: kind == "message" && method == "tools/call" && msg_type == "request"
`

func main() {
	bin := flag.String("mcpwatch", "bench/out/mcpwatch", "mcpwatch binary")
	calls := flag.Int("calls", 500, "tool calls to make")
	rate := flag.Float64("rate", 100, "tool calls per second")
	flag.Parse()
	if err := run(*bin, *calls, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(1)
	}
}

func run(bin string, calls int, rate float64) error {
	dir, err := os.MkdirTemp("", "mcpwatch-latency-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "probe.yaml"), []byte(probeRule), 0o644); err != nil {
		return err
	}
	srv, err := scenario.StartServer(scenario.ServerSpec{Name: "probe", Version: "1", As: netip.MustParseAddrPort("127.0.0.1:1")})
	if err != nil {
		return err
	}
	defer srv.Close()

	cmd := exec.Command(bin, "run", "--iface", "lo", "--port", fmt.Sprint(srv.Port()), "--rules", dir,
		"--alerts-out", "-", "--token-key-file", filepath.Join(dir, "token.key"), "--log-level", "warn")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	latencies := make(chan time.Duration, calls)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var a event.Alert
			if json.Unmarshal(sc.Bytes(), &a) == nil && a.RuleID == "every-tool-call" {
				latencies <- time.Since(a.TS)
			}
		}
		close(latencies)
	}()
	time.Sleep(2 * time.Second) // the capture socket and the embedded NATS come up

	ctx := context.Background()
	cs, err := srv.Connect(ctx, &tcprec.Recorder{}, scenario.ClientSpec{Name: "probe-client", Version: "1", IP: netip.MustParseAddr("127.0.0.1"), DisableStandaloneSSE: true}, &scenario.Log{})
	if err != nil {
		return err
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	for range calls {
		<-tick.C
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "search_docs", Arguments: map[string]any{"query": "latency"}}); err != nil {
			return err
		}
	}
	tick.Stop()
	cs.Close()

	var got []time.Duration
	deadline := time.After(30 * time.Second)
collect:
	for len(got) < calls {
		select {
		case d, ok := <-latencies:
			if !ok {
				break collect
			}
			got = append(got, d)
		case <-deadline:
			break collect
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if len(got) == 0 {
		return errors.New("no alert arrived")
	}
	slices.Sort(got)
	pct := func(p float64) time.Duration { return got[min(len(got)-1, int(p*float64(len(got))))] }
	fmt.Printf("alerts %d/%d  p50 %s  p99 %s  max %s\n", len(got), calls, pct(0.50).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), got[len(got)-1].Round(time.Millisecond))
	return nil
}
