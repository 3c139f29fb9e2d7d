package logtap

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/decode"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

var update = flag.Bool("update", false, "rewrite testdata/logtap from a fresh real SDK conversation")

const sampleDir = "../../testdata/logtap"

// sample is one tap file (or, for file_per_tap, directory of files) of the
// demo conversation and what its format records of the connection.
type sample struct {
	name   string
	cfg    Config
	client bool // the log records the client address
	server bool // the log records the address the client connected to
	write  func(path string, exs []*proxied) error
}

func toFile(write func(io.Writer, []*proxied) error) func(string, []*proxied) error {
	return func(path string, exs []*proxied) error {
		var b bytes.Buffer
		if err := write(&b, exs); err != nil {
			return err
		}
		return os.WriteFile(path, b.Bytes(), 0o644)
	}
}

var samples = []sample{
	{"demo.envoy-buffered.json", Config{Format: FormatEnvoyTap}, true, true, toFile(writeEnvoyBuffered)},
	{"demo.envoy-streamed", Config{Format: FormatEnvoyTap}, false, false, func(dir string, exs []*proxied) error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return writeEnvoyStreamed(dir, exs)
	}},
	// Envoy's default tap output (no times, no connections), the traces
	// of the whole conversation in one file, as the admin /tap stream or
	// a collector saves them: the CLI test's input.
	{"demo.envoy-default.json", Config{Format: FormatEnvoyTap}, false, false, toFile(writeEnvoyDefault)},
	{"demo.har", Config{Format: FormatHAR}, false, true, toFile(writeHAR)},
	{"demo.envoy-access.jsonl", Config{Format: FormatAccessLog}, true, true, toFile(func(w io.Writer, exs []*proxied) error {
		return writeAccessLog(w, exs, EnvoyAccessLogFields(), false)
	})},
	{"demo.nginx-access.jsonl", Config{Format: FormatAccessLog, AccessLogFields: NginxAccessLogFields()}, true, true, toFile(func(w io.Writer, exs []*proxied) error {
		return writeAccessLog(w, exs, NginxAccessLogFields(), true)
	})},
}

// writeDemo plays scenario.Demo through a logging reverse proxy and writes
// into dir the capture between clients and proxy (demo.pcap), what the
// client SDK logged (demo.sdk.jsonl) and the proxy's log in every sample
// format.
//
// tcprec stamps a write when the Write call returns, so now and then a
// response the client read at once is stamped before the request that
// caused it; the capture engine then pairs the connection's exchanges off
// by one. Such a recording is not what a span port sees, so it is played
// again. So is one the proxy logged out of start order (a short exchange
// that started later completed first): a log without times — Envoy's
// default — cannot be put back in start order, so it would not give the
// packet path's events (TestEnvoyDefaultOutput; timed logs are reordered).
// And so is one whose proxy lost an exchange from its log (the test proxy
// does not log an event stream ReverseProxy aborted once the client hung
// up): the packet path has it, no log can.
func writeDemo(t *testing.T, dir string) []*proxied {
	t.Helper()
	for try := 1; ; try++ {
		all, pcap, sdk := recordDemo(t)
		p := filepath.Join(dir, "demo.pcap")
		if err := os.WriteFile(p, pcap, 0o644); err != nil {
			t.Fatal(err)
		}
		_, st := packetEvents(t, p)
		if st.Unmatched == 0 && inStartOrder(all) && loggedEvery(t, all, sdk) {
			writeDemoFiles(t, dir, all, sdk)
			return all
		}
		if try == 10 {
			t.Fatalf("ten recordings with responses stamped before their requests or logged out of start order (decode stats %+v)", st)
		}
		t.Logf("recording %d has a response stamped before its request or was logged out of order; recording again", try)
	}
}

// loggedEvery reports whether the proxy logged an exchange for every
// message the clients sent (the demo sends no batches).
func loggedEvery(t *testing.T, all []*proxied, sdk []byte) bool {
	t.Helper()
	sent := 0
	for _, line := range bytes.Split(bytes.TrimSpace(sdk), []byte("\n")) {
		var m scenario.LoggedMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		if m.Direction == "c2s" {
			sent++
		}
	}
	withBody := 0
	for _, ex := range all {
		if len(ex.reqBody) > 0 {
			withBody++
		}
	}
	return withBody == sent
}

// inStartOrder reports whether the proxy logged the exchanges of each
// conversation in the order they started.
func inStartOrder(all []*proxied) bool {
	last := map[netip.AddrPort]time.Time{}
	for _, ex := range all {
		if ex.start.Before(last[ex.server]) {
			return false
		}
		last[ex.server] = ex.start
	}
	return true
}

func writeDemoFiles(t *testing.T, dir string, all []*proxied, sdk []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "demo.sdk.jsonl"), sdk, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		if err := s.write(filepath.Join(dir, s.name), all); err != nil {
			t.Fatalf("write %s: %v", s.name, err)
		}
	}
}

// recordDemo plays scenario.Demo through a logging reverse proxy and
// returns what the proxy logged (in the order it logged it), the capture
// between clients and proxy, and what the client SDK logged (JSON lines).
func recordDemo(t *testing.T) (all []*proxied, pcap, sdk []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logs := make([]*proxyLog, len(scenario.Demo))
	res, err := scenario.RunFronted(ctx, scenario.Demo, func(i int, proxy http.Handler) http.Handler {
		logs[i] = &proxyLog{}
		return logs[i].wrap(proxy)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, pl := range logs {
		for _, ex := range pl.take() {
			client, ok := res.Peers[i][ex.peer]
			if !ok {
				t.Fatalf("conversation %d: proxy saw a connection from %s that the capture lacks", i, ex.peer)
			}
			ex.client, ex.server = client, scenario.Demo[i].Server.As
			all = append(all, ex)
		}
	}
	var pcapBuf, sdkBuf bytes.Buffer
	if err := res.Recorder.WriteTo(&pcapBuf, tcprec.Pcap); err != nil {
		t.Fatal(err)
	}
	for _, l := range res.Logs {
		msgs, err := l.Messages()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			b, _ := json.Marshal(m)
			sdkBuf.Write(append(b, '\n'))
		}
	}
	return all, pcapBuf.Bytes(), sdkBuf.Bytes()
}

// demoDir is the checked-in samples, rewritten first with -update.
func demoDir(t *testing.T) string {
	t.Helper()
	if *update {
		writeDemo(t, sampleDir)
	}
	return sampleDir
}

func readSDK(t *testing.T, dir string) []scenario.LoggedMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "demo.sdk.jsonl"))
	if err != nil {
		t.Fatalf("%v (regenerate with go test ./capture/logtap -run TestGolden -update)", err)
	}
	var out []scenario.LoggedMessage
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var m scenario.LoggedMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

var tokenKey = []byte("logtap test key")

// packetEvents runs a pcap through capture.Engine and decode, as the sensor
// does.
func packetEvents(t *testing.T, path string) ([]*event.Event, decode.Stats) {
	t.Helper()
	var evs []*event.Event
	d, err := decode.New(decode.Config{Sensor: "s", Source: "pcap:demo.pcap", TokenKey: tokenKey}, func(e *event.Event) { evs = append(evs, e) })
	if err != nil {
		t.Fatal(err)
	}
	src, err := capture.OpenPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	eng, err := capture.NewEngine(capture.Config{Tick: d.Tick}, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	eng.Finish()
	d.Finish(time.Time{})
	return evs, d.Stats()
}

// tapEvents runs a tap sample through ReadFiles and decode, as
// `mcpwatch tap` does.
func tapEvents(t *testing.T, s sample, path string) ([]*event.Event, Stats) {
	t.Helper()
	var evs []*event.Event
	d, err := decode.New(decode.Config{Sensor: "s", Source: "tap:" + string(s.cfg.Format) + ":" + s.name, TokenKey: tokenKey}, func(e *event.Event) { evs = append(evs, e) })
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{path}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		// file_per_tap: trace files named by trace id, in start order
		paths, _ = filepath.Glob(filepath.Join(path, "*.json"))
		sort.Strings(paths)
	}
	cfg := s.cfg
	cfg.OnBadRecord = func(b BadRecord) { t.Errorf("bad record: %s", b) }
	st, err := ReadFiles(context.Background(), cfg, paths, d)
	if err != nil {
		t.Fatal(err)
	}
	d.Finish(time.Time{})
	return evs, st
}

// comparable strips what legitimately differs between the packet path and
// a log: source, ids, times (the proxy stamps exchanges a little after the
// capture saw their bytes) and the addresses the format does not record.
func comparable(evs []*event.Event, client, server bool) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == event.KindFlow {
			continue
		}
		c := *e
		c.EventID, c.Source, c.TS, c.DurationMS, c.StartTS, c.EndTS = "", "", time.Time{}, 0, nil, nil
		if !client {
			c.ClientAddress, c.ClientPort = "", 0
		}
		if !server {
			c.ServerAddress, c.ServerPort = "", 0
		}
		b, _ := json.Marshal(&c)
		out = append(out, string(b))
	}
	return out
}

// The acceptance test of issue 7: for one real go-sdk conversation, the
// packet path and every tap format with bodies produce the same message,
// session, auth and manifest events. It runs on the checked-in samples
// and on a fresh conversation.
func TestGoldenEquivalence(t *testing.T) {
	t.Run("checked-in", func(t *testing.T) { checkEquivalence(t, demoDir(t)) })
	t.Run("live", func(t *testing.T) {
		dir := t.TempDir()
		writeDemo(t, dir)
		checkEquivalence(t, dir)
	})
}

func checkEquivalence(t *testing.T, dir string) {
	sdk := readSDK(t, dir)
	packet, _ := packetEvents(t, filepath.Join(dir, "demo.pcap"))
	if n := len(byKind(packet, event.KindMessage)); n != len(sdk) {
		t.Fatalf("packet path gave %d message events for %d SDK messages", n, len(sdk))
	}
	for _, s := range samples {
		if s.cfg.Format == FormatAccessLog {
			continue // header-only: TestAccessLogGolden
		}
		t.Run(s.name, func(t *testing.T) {
			tap, st := tapEvents(t, s, filepath.Join(dir, s.name))
			want, got := comparable(packet, s.client, s.server), comparable(tap, s.client, s.server)
			if len(got) != len(want) {
				t.Errorf("%d events from the tap, %d from the packets; stats %+v", len(got), len(want), st)
			}
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Errorf("event %d differs:\n tap    %s\n packet %s", i, got[i], want[i])
				}
			}
		})
	}
}

func byKind(evs []*event.Event, k event.Kind) []*event.Event {
	var out []*event.Event
	for _, e := range evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// Header-only access logs cannot give message or manifest events (see
// FieldMap), but through the mapped Mcp-Session-Id headers, status and
// addresses they give the same sessions as the packet path: same server,
// session id, client and end.
func TestAccessLogGolden(t *testing.T) {
	dir := demoDir(t)
	packet, _ := packetEvents(t, filepath.Join(dir, "demo.pcap"))
	project := func(evs []*event.Event) []string {
		var out []string
		for _, e := range byKind(evs, event.KindSession) {
			out = append(out, fmt.Sprintf("%s %s %s %s:%d %s", e.ServerKey, e.SessionID, e.ClientAddress, e.ServerAddress, e.ServerPort, e.EndReason))
		}
		sort.Strings(out)
		return out
	}
	want := project(packet)
	if len(want) != len(scenario.Demo) {
		t.Fatalf("packet path: %d sessions for %d conversations", len(want), len(scenario.Demo))
	}
	for _, s := range samples {
		if s.cfg.Format != FormatAccessLog {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			evs, st := tapEvents(t, s, filepath.Join(dir, s.name))
			if got := project(evs); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("sessions\n got %q\nwant %q", got, want)
			}
			// Every exchange is handed on header-only: bodies flagged
			// truncated wherever the log counted bytes.
			if st.Exchanges != st.Records || st.BodiesTruncated == 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// With 2026-07-28 (stateless) traffic every request names its method and
// target in headers. Through the access-log mapping those headers reach
// the Handler for every request the go-sdk client sent: what decode can
// read from a log that holds no body.
func TestAccessLogStatelessHeaders(t *testing.T) {
	exs, res := statelessThroughProxy(t)
	var log bytes.Buffer
	if err := writeAccessLog(&log, exs, EnvoyAccessLogFields(), false); err != nil {
		t.Fatal(err)
	}
	rec, _, bad := run(t, Config{Format: FormatAccessLog}, log.String())
	if len(bad) != 0 {
		t.Fatal(bad)
	}
	var got, want []string
	for _, r := range rec.reqs {
		if m := r.Header.Get("Mcp-Method"); m != "" {
			got = append(got, m+" "+r.Header.Get("Mcp-Name"))
		}
	}
	msgs, err := res.Logs[0].Messages()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Direction != "c2s" || m.Method == "" {
			continue
		}
		var p struct {
			Params struct{ Name, URI string } `json:"params"`
		}
		json.Unmarshal(m.Raw, &p)
		want = append(want, m.Method+" "+p.Params.Name+p.Params.URI)
	}
	t.Logf("requests named by headers: %q", got)
	// The client may have two requests in flight at once (tools/list
	// right after a call), so the log's order is not the SDK's.
	slices.Sort(got)
	slices.Sort(want)
	if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Mcp-Method/Mcp-Name from the log\n got %q\nwant %q (the SDK's requests)", got, want)
	}
}
