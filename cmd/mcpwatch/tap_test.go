package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The HAR of a real go-sdk conversation, read by tap, finds what the
// packet path finds in the capture of the same conversation.
func TestTapHARMatchesPacketPath(t *testing.T) {
	logtap := func(name string) string { return filepath.Join("..", "..", "testdata", "logtap", name) }
	fromPcap := mcpwatch(t, nil, "run", "--pcap", logtap("demo.pcap"), "--alerts-out", "")
	fromHAR := mcpwatch(t, nil, "tap", "--format", "har", logtap("demo.har"), "--alerts-out", "")
	viaRun := mcpwatch(t, nil, "run", "--tap", "har:"+logtap("demo.har"), "--alerts-out", "")
	for _, r := range []result{fromPcap, fromHAR, viaRun} {
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
	}
	// HAR has no client addresses: the clients column is left out.
	clients := regexp.MustCompile(`clients \d+`)
	servers := func(summary string) string {
		_, after, _ := strings.Cut(summary, "MCP servers")
		return clients.ReplaceAllString(after, "")
	}
	if servers(fromHAR.stderr) != servers(fromPcap.stderr) || servers(viaRun.stderr) != servers(fromPcap.stderr) {
		t.Errorf("servers and alerts differ:\npcap:%s\nhar:%s\nrun --tap:%s", servers(fromPcap.stderr), servers(fromHAR.stderr), servers(viaRun.stderr))
	}
	if !strings.Contains(fromHAR.stderr, "log records:") || !strings.Contains(fromHAR.stderr, "files 1.4.0") {
		t.Errorf("tap summary lacks log records or the server:\n%s", fromHAR.stderr)
	}
}
