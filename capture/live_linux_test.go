//go:build linux

package capture

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// liveHandler collects, for one server port, the event streams a live
// Engine reports; the test goroutine reads them.
type liveHandler struct {
	port    uint16
	mu      sync.Mutex
	changed chan struct{}
	streams map[*Response]*liveStream
	foreign int // connections not to port, which the kernel filter drops
}

type liveStream struct {
	method string // of the request
	events []string
	ended  bool
}

func (h *liveHandler) signal() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

func (h *liveHandler) Request(*Request) {}
func (h *liveHandler) Response(req *Request, resp *Response) {
	if resp.Conn.Server.Port() != h.port || !resp.EventStream || req == nil {
		return
	}
	h.mu.Lock()
	h.streams[resp] = &liveStream{method: req.Method}
	h.mu.Unlock()
	h.signal()
}
func (h *liveHandler) SSEEvent(_ *Request, resp *Response, ev *SSEEvent) {
	h.mu.Lock()
	if s := h.streams[resp]; s != nil {
		s.events = append(s.events, ev.Data)
	}
	h.mu.Unlock()
	h.signal()
}
func (h *liveHandler) ResponseEnd(_ *Request, resp *Response) {
	h.mu.Lock()
	if s := h.streams[resp]; s != nil {
		s.ended = true
	}
	h.mu.Unlock()
	h.signal()
}
func (h *liveHandler) ConnEnd(c *Conn, _ *ConnEnd) {
	if c.Server.Port() != h.port && c.Client.Port() != h.port {
		h.mu.Lock()
		h.foreign++
		h.mu.Unlock()
	}
}

// waitFor waits for the Engine's reports until cond holds or ctx ends,
// and tells which.
func (h *liveHandler) waitFor(ctx context.Context, cond func() bool) bool {
	for {
		h.mu.Lock()
		ok := cond()
		h.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-h.changed:
		case <-ctx.Done():
			return false
		}
	}
}

// TestLiveLoopbackSSE captures a real go-sdk session on lo, filtered in the
// kernel to the server's port. A tool sends
// a progress notification on its POST's event stream and then waits until
// the capture has reported that event: only an Engine that delivers events
// while their stream is open lets the call finish.
func TestLiveLoopbackSSE(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("live capture needs root (CAP_NET_RAW); CI must run this test as root")
		}
		t.Skip("live capture needs root (CAP_NET_RAW)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	release := make(chan struct{})
	srv, err := scenario.StartServer(scenario.ServerSpec{Name: "live", Version: "1.0.0", As: netip.MustParseAddrPort("127.0.0.1:1"),
		Setup: func(s *mcp.Server) {
			s.AddTool(&mcp.Tool{Name: "slow_export", InputSchema: map[string]any{"type": "object"}},
				func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
					err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: 1, Total: 2, Message: "halfway"})
					if err != nil {
						return nil, err
					}
					select {
					case <-release:
					case <-ctx.Done():
						return nil, ctx.Err()
					}
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil
				})
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	src, err := OpenLive("lo", LiveOptions{RingSize: 8 << 20, PollTimeout: 50 * time.Millisecond, Ports: []uint16{srv.ListenPort()}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	h := &liveHandler{port: srv.ListenPort(), changed: make(chan struct{}, 1), streams: map[*Response]*liveStream{}}
	e, err := NewEngine(Config{}, h)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx, src) }()

	cs, err := srv.Connect(ctx, &tcprec.Recorder{}, scenario.ClientSpec{Name: "live-client", Version: "1.0.0",
		IP: netip.MustParseAddr("127.0.0.1"), ProtocolVersion: "2025-11-25", DisableStandaloneSSE: true}, &scenario.Log{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	callDone := make(chan error, 1)
	go func() {
		params := &mcp.CallToolParams{Name: "slow_export", Arguments: map[string]any{}}
		params.SetProgressToken("export-1")
		_, err := cs.CallTool(ctx, params)
		callDone <- err
	}()

	var progress liveStream
	ok := h.waitFor(ctx, func() bool {
		for _, s := range h.streams {
			for _, ev := range s.events {
				if strings.Contains(ev, "notifications/progress") {
					progress = *s
					return true
				}
			}
		}
		return false
	})
	close(release)
	if !ok {
		t.Fatal("the progress notification was not reported while the tool call was open")
	}
	if progress.ended || progress.method != "POST" {
		t.Errorf("progress reported on a %s stream, ended=%v", progress.method, progress.ended)
	}
	if err := <-callDone; err != nil {
		t.Fatal(err)
	}
	// The result follows on the same stream, which then ends.
	if !h.waitFor(ctx, func() bool {
		for _, s := range h.streams {
			if len(s.events) == 2 && strings.Contains(s.events[1], `"done"`) && s.ended {
				return true
			}
		}
		return false
	}) {
		t.Error("the tool result never completed its stream in the capture")
	}
	stop()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run: %v, want context.Canceled", err)
	}
	e.Finish()
	ks, err := src.(*Live).KernelStats()
	if err != nil || ks.Packets == 0 {
		t.Errorf("kernel stats %+v, %v", ks, err)
	}
	if h.foreign != 0 {
		t.Errorf("%d connections to other ports passed the port filter", h.foreign)
	}
}
