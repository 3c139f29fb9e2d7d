package capture

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/capture")

// corpusCase says what must hold for one capture of testdata/capture
// beyond its golden log (regenerate the pcaps with
// `go run ./capture/internal/gencorpus`).
type corpusCase struct {
	name string
	cfg  Config
	// lossless: the capture still carries every message the SDK logged.
	lossless  bool
	truncated bool // the file is cut: Run reports ErrTruncated
	check     func(t *testing.T, rec *recorder, st Stats)
}

var corpus = []corpusCase{
	{name: "retransmission", lossless: true, check: func(t *testing.T, _ *recorder, st Stats) {
		expect(t, st.OverlapBytes > 0, "retransmitted bytes counted as overlap: %d", st.OverlapBytes)
	}},
	{name: "out-of-order", lossless: true, check: func(t *testing.T, _ *recorder, st Stats) {
		expect(t, st.OutOfOrderPackets > 0 && st.Gaps == 0, "out-of-order %d, gaps %d", st.OutOfOrderPackets, st.Gaps)
	}},
	{name: "overlap", lossless: true, check: func(t *testing.T, _ *recorder, st Stats) {
		expect(t, st.OverlapBytes > 0 && st.Gaps == 0, "overlap %d bytes, gaps %d", st.OverlapBytes, st.Gaps)
	}},
	{name: "vlan", lossless: true},
	{name: "qinq", lossless: true},
	{name: "ipv6", lossless: true, check: func(t *testing.T, rec *recorder, _ Stats) {
		expect(t, rec.conns[0].Server.Addr().Is6(), "server %s is IPv6", rec.conns[0].Server)
	}},
	{name: "sll", lossless: true},
	{name: "sll2", lossless: true},
	{name: "raw-ip", lossless: true},
	{name: "null-loopback", lossless: true},
	{name: "chunked-gzip", lossless: true},
	{name: "pipelined", lossless: true, check: func(t *testing.T, rec *recorder, _ Stats) {
		// Every response answers the request with its Seq, on the same
		// connection, in order.
		for _, r := range rec.resps {
			expect(t, r.Seq < len(rec.reqs), "response %d has a request", r.Seq)
		}
	}},
	{name: "gap-in-body", check: func(t *testing.T, rec *recorder, st Stats) {
		expect(t, st.GapsInBody == 1 && st.Truncations.Gap == 1, "one gap in the SSE tools/list response: %d in body, %d truncated", st.GapsInBody, st.Truncations.Gap)
		var cut int
		for _, ev := range rec.events {
			if ev.Truncated {
				cut++
			}
		}
		expect(t, cut == 1, "the SSE event with the hole is flagged: %d", cut)
		missing := lostMessages(t, rec)
		expect(t, len(missing) == 1 && strings.Contains(missing[0], `"tools":[`), "only the tools/list result is lost: %q", missing)
	}},
	{name: "gap-in-headers", check: func(t *testing.T, rec *recorder, st Stats) {
		expect(t, st.GapsInHeaders == 1 && st.UnmatchedResponses == 1, "gap in headers %d, unmatched responses %d", st.GapsInHeaders, st.UnmatchedResponses)
		missing := lostMessages(t, rec)
		expect(t, len(missing) == 1 && strings.Contains(missing[0], "search_docs"), "only the request with the hole is lost: %q", missing)
	}},
	{name: "gap-whole-request", check: func(t *testing.T, rec *recorder, st Stats) {
		// The gap ends where the next request begins: that one is kept.
		expect(t, st.GapsInHeaders == 0 && st.UnmatchedResponses == 1 && st.Requests == 15, "gap in headers %d, unmatched %d, requests %d", st.GapsInHeaders, st.UnmatchedResponses, st.Requests)
		missing := lostMessages(t, rec)
		expect(t, len(missing) == 1 && strings.Contains(missing[0], "read_file"), "only the dropped request is lost: %q", missing)
	}},
	{name: "mid-stream", check: func(t *testing.T, rec *recorder, st Stats) {
		expect(t, st.MidStreamStarts == 2, "both directions start without SYN: %d", st.MidStreamStarts)
		missing := lostMessages(t, rec)
		// Lost: initialize (both ways), notifications/initialized, tools/list (both ways).
		expect(t, len(missing) == 5, "only what came before the capture started is lost: %q", missing)
	}},
	{name: "one-sided-client", check: func(t *testing.T, rec *recorder, st Stats) {
		// 7 + 8 (with the DELETE) on the two sessions, 1 DELETE alone.
		expect(t, len(rec.resps) == 0 && st.Requests == 16, "requests only: %d requests, %d responses", st.Requests, len(rec.resps))
		expect(t, rec.ends[0].Reason == ConnEndInputEnd || rec.ends[0].Reason == ConnEndFIN, "conn end %q", rec.ends[0].Reason)
	}},
	{name: "one-sided-server", check: func(t *testing.T, rec *recorder, st Stats) {
		expect(t, st.Requests == 0 && st.UnmatchedResponses == 16 && st.SSEEvents == 6, "responses only: %+v", st)
		for _, c := range rec.conns {
			expect(t, c.Server.Port() == 8080 || c.Server.Port() == 3000, "server side found from status lines: %s", c.Server)
		}
	}},
	{name: "truncated", truncated: true, check: func(t *testing.T, rec *recorder, _ Stats) {
		expect(t, len(rec.reqs) > 5, "packets before the cut are processed: %d requests", len(rec.reqs))
	}},
	{name: "gzip-bomb", cfg: Config{MaxBodyBytes: 1 << 20}, check: func(t *testing.T, rec *recorder, st Stats) {
		expect(t, st.Truncations.DecompressCap == 1, "bomb stopped at the cap: %+v", st.Truncations)
		for _, r := range rec.resps {
			if r.TruncatedBy == TruncDecompressCap {
				expect(t, len(r.Body) == 1<<20 && r.BodyLen == 1<<20, "body %d, BodyLen %d", len(r.Body), r.BodyLen)
			}
		}
	}},
	{name: "sse-30min", check: func(t *testing.T, rec *recorder, st Stats) {
		// The long stream replaces one of the demo's six SSE responses.
		expect(t, st.SSEEvents == 35 && st.Gaps == 0, "30 stream events + 5: %d, gaps %d", st.SSEEvents, st.Gaps)
		checkStreamsWhileOpen(t, rec)
	}},
	{name: "sse-quiet", check: func(t *testing.T, rec *recorder, st Stats) {
		// Events 20 minutes apart, IdleTimeout 5 minutes: the connection is
		// parked after each event and resumed by the next (and by the last
		// chunk).
		expect(t, st.Parked == 5 && st.Resumed == 5 && st.FlowsCreated == 3, "parked %d, resumed %d, flows %d", st.Parked, st.Resumed, st.FlowsCreated)
		var long *Response
		for _, r := range rec.resps {
			if r.End.Sub(r.Time) > time.Hour {
				long = r
			}
		}
		var n int
		for _, ev := range rec.events {
			if long != nil && ev.ID != "" && !ev.Truncated {
				n++
			}
		}
		expect(t, long != nil && !long.Truncated && n == 4, "one untruncated stream over 100 minutes with its 4 events: %v, %d", long != nil, n)
		expect(t, st.Requests == 16 && st.Responses == 16 && st.Gaps == 0, "the session goes on around the stream: %+v", st)
	}},
	{name: "sse-gap", check: func(t *testing.T, rec *recorder, st Stats) {
		var cut []int
		for _, ev := range rec.events {
			if ev.Truncated {
				cut = append(cut, ev.Index)
			}
		}
		expect(t, slices.Equal(cut, []int{15}), "only event 15 is truncated: %v", cut)
		expect(t, st.SSEEvents == 35, "the stream goes on after the gap: %d events", st.SSEEvents)
	}},
}

func expect(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
}

// lostMessages lists the SDK-logged messages missing from what rec saw.
func lostMessages(t *testing.T, rec *recorder) []string {
	got := wireMessages(t, rec)
	var missing []string
	for _, m := range sdkMessages(t, "../testdata/demo.sdk.jsonl") {
		if i := slices.Index(got, m); i >= 0 {
			got = slices.Delete(got, i, i+1)
			continue
		}
		missing = append(missing, m)
	}
	expect(t, len(got) == 0, "messages the SDK never logged: %q", got)
	return missing
}

// checkStreamsWhileOpen asserts that a long event stream's events were
// delivered at their own packet times, spread over the stream, not at its
// end.
func checkStreamsWhileOpen(t *testing.T, rec *recorder) {
	var long *Response
	for _, r := range rec.resps {
		if r.EventStream && r.End.Sub(r.Time).Minutes() >= 30 {
			long = r
		}
	}
	if long == nil {
		t.Fatal("no event stream open for 30 minutes")
	}
	var times []string
	for _, ev := range rec.events {
		if ev.Time.After(long.Time) && !ev.Time.After(long.End) {
			expect(t, ev.Time.Before(long.End), "event %d delivered at the stream's end", ev.Index)
			times = append(times, ev.Time.Sub(long.Time).Round(1e9).String())
		}
	}
	expect(t, len(times) == 30, "30 events while open, at %v", times)
}

func TestCorpus(t *testing.T) {
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join("..", "testdata", "capture", c.name+".pcap")
			rec, st, err := runFile(t, path, c.cfg)
			switch {
			case c.truncated:
				expect(t, errors.Is(err, ErrTruncated), "Run error %v, want ErrTruncated", err)
			case err != nil:
				t.Fatal(err)
			}
			if c.lossless {
				if missing := lostMessages(t, rec); len(missing) > 0 {
					t.Errorf("lost messages: %q", missing)
				}
				expect(t, st.Gaps == 0 && st.ParseErrors == 0 && st.UnmatchedResponses == 0, "lossless capture, stats %+v", st)
			}
			if c.check != nil {
				c.check(t, rec, st)
			}
			compareGolden(t, strings.TrimSuffix(path, ".pcap")+".golden", rec.log.String()+fmt.Sprintf("stats %+v\n", st))
		})
	}
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (diff it after -update):\n%s", path, firstDiff(string(want), got))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\nwant %s\n got %s", i+1, w, g)
		}
	}
	return ""
}
