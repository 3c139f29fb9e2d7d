package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/detect"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/rules"
)

// unexpected reports whether the engine alerts on a first message from
// server at ts.
func unexpected(engine *detect.Engine, server string, ts time.Time) bool {
	ev := &event.Event{Schema: 1, EventID: event.NewID(server, ts.String()), Kind: event.KindMessage, TS: ts,
		ServerKey: server, ServerAddress: "10.0.0.9", ServerPort: 3000, ClientAddress: "10.0.1.11",
		Direction: event.DirClientToServer, MsgType: event.MsgRequest, Method: "initialize", Transport: event.TransportStreamableHTTP}
	for _, a := range engine.Process(ev) {
		if a.RuleID == "unexpected-server" {
			return true
		}
	}
	return false
}

func TestAllowlistReloadOnSignal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "allow.yaml")
	write := func(servers string) {
		if err := os.WriteFile(path, []byte("servers:\n"+servers), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("  - http://files.corp.example:8080/mcp\n")
	rs, err := detect.LoadRules(rules.Default)
	if err != nil {
		t.Fatal(err)
	}
	allow, err := detect.LoadAllowlist(path)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := detect.NewEngine(detect.DefaultConfig(), rs, allow)
	if err != nil {
		t.Fatal(err)
	}
	reload := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := Config{AllowlistPath: path, ReloadAllowlist: reload, Log: slog.New(slog.DiscardHandler)}
	go watchAllowlist(ctx, cfg, engine)

	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	if !unexpected(engine, "http://10.0.0.9:3000/mcp", t0) {
		t.Fatal("shadow server not flagged before it was approved")
	}
	write("  - http://files.corp.example:8080/mcp\n  - 10.0.0.0/24\n")
	reload <- os.Interrupt // any signal value: the channel is what counts
	deadline := time.Now().Add(10 * time.Second)
	// Each look uses a server of its own: the rule alerts once per server.
	for i := 1; unexpected(engine, fmt.Sprintf("http://10.0.0.9:3000/p%d", i), t0.Add(time.Duration(i)*time.Minute)); i++ {
		if time.Now().After(deadline) {
			t.Fatal("allowlist with 10.0.0.0/24 never took effect")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A broken file keeps the last good allowlist.
	write("  - [unclosed\n")
	reload <- os.Interrupt
	time.Sleep(100 * time.Millisecond)
	if unexpected(engine, "http://10.0.0.9:3000/third", t0.Add(time.Hour)) {
		t.Error("a broken allowlist replaced the good one")
	}
}
