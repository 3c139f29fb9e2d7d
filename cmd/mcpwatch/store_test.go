package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/sink"
)

// clickHouseServer is a ClickHouse of the test's own, on its own ports, so
// the test may kill it.
type clickHouseServer struct {
	dir, addr string
	env       []string
}

// startClickHouse starts it on free ports (native, HTTP, interserver), so
// test runs sharing the machine do not collide; a restart (start after
// kill) reuses them.
func startClickHouse(t *testing.T) *clickHouseServer {
	t.Helper()
	p := freeTCPPorts(t, 3)
	s := &clickHouseServer{dir: t.TempDir(), env: append(os.Environ(),
		fmt.Sprintf("CLICKHOUSE_TCP_PORT=%d", p[0]), fmt.Sprintf("CLICKHOUSE_HTTP_PORT=%d", p[1]),
		fmt.Sprintf("CLICKHOUSE_INTERSERVER_PORT=%d", p[2]))}
	s.start(t)
	t.Cleanup(func() { s.script("stop") })
	return s
}

// freeTCPPorts returns n distinct ports the kernel found free on 127.0.0.1:
// all n are held open at once, then closed for the caller to use. Another
// process may take one in between, which is far less likely than two runs
// both choosing a fixed port.
func freeTCPPorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

func (s *clickHouseServer) script(verb string) (string, error) {
	cmd := exec.Command("../../scripts/clickhouse.sh", verb, s.dir)
	cmd.Env = s.env
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

func (s *clickHouseServer) start(t *testing.T) {
	t.Helper()
	addr, err := s.script("start")
	if err != nil {
		t.Fatalf("start ClickHouse: %v", err)
	}
	s.addr = addr
}

// kill ends the server with SIGKILL: no flush, no goodbye.
func (s *clickHouseServer) kill(t *testing.T) {
	t.Helper()
	pid, err := os.ReadFile(filepath.Join(s.dir, "clickhouse.pid"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
	syscall.Kill(n, syscall.SIGKILL)
	for syscall.Kill(n, 0) == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

func countEventsByKind(t *testing.T, path string) map[event.Kind]int {
	t.Helper()
	out := map[event.Kind]int{}
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, path)), "\n") {
		ev, err := event.DecodeEvent([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		out[ev.Kind]++
	}
	return out
}

// TestStoreSurvivesClickHouseKill publishes a capture's events with a
// sensor, stores them with a store process, SIGKILLs ClickHouse in the
// middle and restarts it: every event ends up stored exactly once.
func TestStoreSurvivesClickHouseKill(t *testing.T) {
	natsURL := startNATS(t)
	ch := startClickHouse(t)
	pcap := benchCapture(t)
	tokenKey := "--token-key-file=" + filepath.Join(t.TempDir(), "token.key")

	refEvents := filepath.Join(t.TempDir(), "events.jsonl")
	if r := mcpwatch(t, nil, "run", "--pcap", pcap, "--events-out", refEvents, "--alerts-out", "", "--sensor", "s1", tokenKey); r.code != 0 {
		t.Fatalf("reference run: %s", r.stderr)
	}
	want := countEventsByKind(t, refEvents)
	if r := mcpwatch(t, nil, "sensor", "--pcap", pcap, "--nats", natsURL, "--sensor", "s1", tokenKey); r.code != 0 {
		t.Fatalf("sensor: %s", r.stderr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := sink.ClickHouseConfig{Addr: ch.addr, Database: "mcpwatch"}
	store := startProcess(t, "store", "--nats", natsURL, "--clickhouse", ch.addr, "--batch-size", "64", "--ack-wait", "2s", "--posture-every", "200ms")
	db, err := sink.OpenClickHouse(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rows := func() uint64 {
		var n uint64
		if err := db.Conn().QueryRow(ctx, "SELECT count() FROM mcpwatch.messages").Scan(&n); err != nil {
			return 0
		}
		return n
	}
	for rows() == 0 {
		if ctx.Err() != nil {
			t.Fatalf("nothing stored before the kill; store said:\n%s", store.output(t))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if stored := rows(); stored >= uint64(want[event.KindMessage]) {
		t.Fatalf("all %d messages were stored before the kill; nothing tested", stored)
	}
	db.Close()
	ch.kill(t)
	time.Sleep(time.Second) // the store process meets the dead server
	ch.start(t)

	b, err := bus.Connect(ctx, bus.Config{URL: natsURL})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WaitDrained(ctx, "store-events"); err != nil {
		t.Fatalf("%v; store said:\n%s", err, store.output(t))
	}
	db, err = sink.OpenClickHouse(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for kind, table := range map[event.Kind]string{event.KindMessage: "messages", event.KindSession: "sessions",
		event.KindManifest: "manifests", event.KindFlow: "flows"} {
		var final, distinct uint64
		q := "SELECT (SELECT count() FROM mcpwatch." + table + " FINAL), (SELECT uniqExact(event_id) FROM mcpwatch." + table + ")"
		if err := db.Conn().QueryRow(ctx, q).Scan(&final, &distinct); err != nil {
			t.Fatal(err)
		}
		if final != uint64(want[kind]) || distinct != uint64(want[kind]) {
			t.Errorf("%s: %d rows after dedup, %d distinct event ids; the capture has %d", table, final, distinct, want[kind])
		}
	}
	// The store's posture refresh outlived the kill too: once every
	// event is in, a later pass grades every server the events name.
	graded := func() (cards, servers uint64) {
		q := "SELECT (SELECT count() FROM mcpwatch.posture FINAL WHERE NOT tls_only), (SELECT count() FROM mcpwatch.servers WHERE NOT tls_only)"
		if err := db.Conn().QueryRow(ctx, q).Scan(&cards, &servers); err != nil {
			t.Fatal(err)
		}
		return cards, servers
	}
	for cards, servers := graded(); cards != servers || servers == 0; cards, servers = graded() {
		if ctx.Err() != nil {
			t.Fatalf("%d scorecards stored for %d servers; store said:\n%s", cards, servers, store.output(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
