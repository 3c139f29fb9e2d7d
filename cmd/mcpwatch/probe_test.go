package main

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/internal/scenario"
)

// TestProbeCommand probes a real go-sdk server (open, on loopback), writes
// its events, grades them with posture, probes it again as a discovered
// server, and refuses a target outside --probe-allow.
func TestProbeCommand(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := "http://" + l.Addr().String() + "/mcp"
	h, err := scenario.AuthServerSpec{Resource: target, Open: true, OmitResourceMetadata: true}.Handler()
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	defer srv.Close()

	events := filepath.Join(t.TempDir(), "probe.jsonl")
	cards := parseScorecards(t, mcpwatch(t, nil, "probe", target, "--probe-allow", "127.0.0.0/8", "--events-out", events, "--json"))
	sc, ok := cards[target]
	if !ok || sc.Grade != "F" || status(sc, "auth-required") != "fail" || status(sc, "origin-validated") != "fail" {
		t.Errorf("probe scorecards %+v, want %s graded F for answering without credentials", cards, target)
	}
	if graded := parseScorecards(t, mcpwatch(t, nil, "posture", "--events", events, "--json")); graded[target].Grade != "F" {
		t.Errorf("posture of the probe's events: %+v", graded)
	}
	again := parseScorecards(t, mcpwatch(t, nil, "probe", "--discovered", "--events", events, "--probe-allow", "127.0.0.0/8", "--json"))
	if status(again[target], "auth-required") != "fail" {
		t.Errorf("discovered probe: %+v", again)
	}

	r := mcpwatch(t, nil, "probe", target, "--probe-allow", "10.0.0.0/8")
	if r.code != 0 || !strings.Contains(r.stderr, "skipped") || !strings.Contains(r.stderr, "--probe-allow") {
		t.Errorf("target outside --probe-allow: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := mcpwatch(t, nil, "probe", target); r.code != exitUsage || !strings.Contains(r.stderr, "--probe-allow") {
		t.Errorf("probe without --probe-allow: exit %d %s", r.code, r.stderr)
	}
}
