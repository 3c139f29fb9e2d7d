package logtap

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
)

// statelessDir holds access logs of the demo conversation in the
// 2026-07-28 stateless revision, whose Mcp-Method and Mcp-Name headers
// name every request (rewritten with -update).
const statelessDir = sampleDir + "/stateless"

var statelessSamples = []sample{
	{"envoy-access.jsonl", Config{Format: FormatAccessLog}, true, true, toFile(func(w io.Writer, exs []*proxied) error {
		return writeAccessLog(w, exs, EnvoyAccessLogFields(), false)
	})},
	{"nginx-access.jsonl", Config{Format: FormatAccessLog, AccessLogFields: NginxAccessLogFields()}, true, true, toFile(func(w io.Writer, exs []*proxied) error {
		return writeAccessLog(w, exs, NginxAccessLogFields(), true)
	})},
}

// statelessThroughProxy runs the SDK's latest (stateless) revision through
// a logging reverse proxy and returns what the proxy logged, with the
// client and server addresses filled in.
func statelessThroughProxy(t *testing.T) ([]*proxied, *scenario.FrontedResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conv := scenario.Demo[0]
	conv.Client.ProtocolVersion = ""
	conv.Server.Options = mcp.StreamableHTTPOptions{Stateless: true}
	pl := &proxyLog{}
	// The proxy logs an exchange after the client has read its response,
	// so the conversation may be over before the last one is logged: wait
	// for every exchange the proxy took on.
	var inFlight sync.WaitGroup
	res, err := scenario.RunFronted(ctx, []scenario.Conversation{conv}, func(_ int, proxy http.Handler) http.Handler {
		logged := pl.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The client hangs up once it has read the response off an
			// event stream; ReverseProxy then aborts the handler with a
			// panic, which would skip the exchange's log line. Proxies log
			// such exchanges too.
			defer func() {
				if err := recover(); err != nil && err != http.ErrAbortHandler {
					panic(err)
				}
			}()
			proxy.ServeHTTP(w, r)
		}))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inFlight.Add(1)
			defer inFlight.Done()
			logged.ServeHTTP(w, r)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	inFlight.Wait()
	exs := pl.take()
	for _, ex := range exs {
		ex.client, ex.server = res.Peers[0][ex.peer], conv.Server.As
	}
	return exs, res
}

// writeStateless plays the demo conversation between the go-sdk client at
// its latest revision and a stateless go-sdk server behind the logging
// proxy, and writes into dir the SDK's log (demo.sdk.jsonl) and the
// proxy's access logs.
func writeStateless(t *testing.T, dir string) {
	t.Helper()
	exs, res := statelessThroughProxy(t)
	msgs, err := res.Logs[0].Messages()
	if err != nil {
		t.Fatal(err)
	}
	var sdk bytes.Buffer
	for _, m := range msgs {
		b, _ := json.Marshal(m)
		sdk.Write(append(b, '\n'))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "demo.sdk.jsonl"), sdk.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range statelessSamples {
		if err := s.write(filepath.Join(dir, s.name), exs); err != nil {
			t.Fatalf("write %s: %v", s.name, err)
		}
	}
}

// A header-only access log of 2026-07-28 traffic gives, through decode,
// the message events of the conversation the SDK logged — direction,
// method and tool, one for one — though no body was logged: each request
// from its Mcp-Method/Mcp-Name headers, each answer from its exchange.
// Ids and everything else a body carries stay unknown, so every event is
// flagged truncated. Runs on the checked-in samples and on a fresh
// conversation.
func TestAccessLogStatelessMessages(t *testing.T) {
	t.Run("checked-in", func(t *testing.T) {
		if *update {
			writeStateless(t, statelessDir)
		}
		checkStatelessMessages(t, statelessDir)
	})
	t.Run("live", func(t *testing.T) {
		dir := t.TempDir()
		writeStateless(t, dir)
		checkStatelessMessages(t, dir)
	})
}

func checkStatelessMessages(t *testing.T, dir string) {
	var want []string
	for _, m := range readSDK(t, dir) {
		want = append(want, m.Direction+" "+m.Method+" "+m.ToolName)
	}
	slices.Sort(want)
	if len(want) == 0 {
		t.Fatal("the SDK logged no messages")
	}
	for _, s := range statelessSamples {
		t.Run(s.name, func(t *testing.T) {
			evs, _ := tapEvents(t, s, filepath.Join(dir, s.name))
			var got []string
			for _, e := range byKind(evs, event.KindMessage) {
				got = append(got, e.Direction+" "+e.Method+" "+e.ToolName)
				if !e.Truncated || e.JSONRPCID != "" || e.Bytes <= 0 || e.ProtocolVersion != "2026-07-28" || e.HTTPStatus != http.StatusOK {
					t.Errorf("%s %s: truncated %v id %q bytes %d protocol %q status %d",
						e.Direction, e.Method, e.Truncated, e.JSONRPCID, e.Bytes, e.ProtocolVersion, e.HTTPStatus)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("message events differ from the SDK log\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
			}
		})
	}
}
