package logtap

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/decode"
	"github.com/mcpwatch/mcpwatch/event"
)

// Proxy logs as proxies write them with their default settings, from a
// real go-sdk conversation (recordDemo): what an operator who did not read
// deploy/logtap has on disk.
//
// Envoy's HTTP tap filter by default (envoy.extensions.filters.http.tap.v3.Tap,
// config.tap.v3.OutputConfig):
//   - record_headers_received_time and record_downstream_connection are
//     false: a buffered trace has no headers_received_time and no
//     downstream_connection; streamed segments never carry a time;
//   - the sink is file_per_tap, one file <path_prefix>_<id>.json per trace,
//     the id being the stream id, which Envoy draws at random — so the
//     names say nothing of order; a streamed trace's segments are appended
//     to its file as they happen, so the file's modification time is when
//     the exchange completed;
//   - format JSON_BODY_AS_BYTES (base64), serialised by protobuf's JSON
//     printer with snake_case names, one-space indent, primitive fields
//     always printed ("truncated": false, "trailers": []), uint64 trace
//     ids as strings;
//   - max_buffered_rx_bytes / max_buffered_tx_bytes 1 KiB: a body (in
//     streaming, each chunk) beyond it is cut and "truncated": true.
const envoyDefaultMaxBuffered = 1024

// envoyDefaultBody is a Body as the default sink writes it.
func envoyDefaultBody(b []byte) *envoyBodyJSON {
	out := &envoyBodyJSON{}
	if len(b) > envoyDefaultMaxBuffered {
		b, out.Truncated = b[:envoyDefaultMaxBuffered], true
	}
	if len(b) > 0 {
		out.AsBytes = base64.StdEncoding.EncodeToString(b)
	}
	return out
}

// envoyStreamID stands in for Envoy's random stream id: stable for a test,
// unrelated to order.
func envoyStreamID(i int) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "stream %d", i)
	return strconv.FormatUint(h.Sum64(), 10)
}

func envoyDefaultBuffered(ex *proxied) envoyWrapperJSON {
	return envoyWrapperJSON{HTTPBufferedTrace: &envoyBufferedJSON{
		Request:  envoyMessage{Headers: envoyHeadersOf(ex.requestPseudo(), ex.reqHeader), Trailers: []envoyHeader{}, Body: envoyDefaultBody(ex.reqBody)},
		Response: envoyMessage{Headers: envoyHeadersOf(ex.responsePseudo(), ex.respHeader), Trailers: []envoyHeader{}, Body: envoyDefaultBody(ex.respBody)},
	}}
}

// envoyDefaultStreamed is one trace's segments; event-stream bodies come
// in one chunk per event, as the proxy flushed them.
func envoyDefaultStreamed(id string, ex *proxied) []envoyWrapperJSON {
	segs := []*envoySegmentJSON{{TraceID: id, RequestHeaders: &envoyHeaderMap{envoyHeadersOf(ex.requestPseudo(), ex.reqHeader)}}}
	if len(ex.reqBody) > 0 {
		segs = append(segs, &envoySegmentJSON{TraceID: id, RequestBodyChunk: envoyDefaultBody(ex.reqBody)})
	}
	segs = append(segs, &envoySegmentJSON{TraceID: id, ResponseHeaders: &envoyHeaderMap{envoyHeadersOf(ex.responsePseudo(), ex.respHeader)}})
	for _, chunk := range bytes.SplitAfter(ex.respBody, []byte("\n\n")) {
		if len(chunk) > 0 {
			segs = append(segs, &envoySegmentJSON{TraceID: id, ResponseBodyChunk: envoyDefaultBody(chunk)})
		}
	}
	var out []envoyWrapperJSON
	for _, s := range segs {
		out = append(out, envoyWrapperJSON{HTTPStreamedTraceSegment: s})
	}
	return out
}

func envoyJSON(t *testing.T, w *bytes.Buffer, tr envoyWrapperJSON) {
	t.Helper()
	if err := writeEnvoyJSON(w, tr); err != nil {
		t.Fatal(err)
	}
}

func writeEnvoyJSON(w io.Writer, tr envoyWrapperJSON) error {
	b, err := json.MarshalIndent(tr, "", " ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeEnvoyDefault writes default buffered traces one after another in
// one file.
func writeEnvoyDefault(w io.Writer, exs []*proxied) error {
	for _, ex := range exs {
		if err := writeEnvoyJSON(w, envoyDefaultBuffered(ex)); err != nil {
			return err
		}
	}
	return nil
}

// writeEnvoyDefaultFiles writes file_per_tap output into dir, each file
// modified when its exchange completed, and returns the files oldest
// first (ls -tr), the order to read them in.
func writeEnvoyDefaultFiles(t *testing.T, dir string, exs []*proxied, streamed bool) []string {
	t.Helper()
	var paths []string
	for i, ex := range exs {
		id := envoyStreamID(i)
		var b bytes.Buffer
		if streamed {
			for _, seg := range envoyDefaultStreamed(id, ex) {
				envoyJSON(t, &b, seg)
			}
		} else {
			envoyJSON(t, &b, envoyDefaultBuffered(ex))
		}
		p := filepath.Join(dir, "mcp_"+id+".json")
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, ex.end, ex.end); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return byModTime(t, paths)
}

func byModTime(t *testing.T, paths []string) []string {
	t.Helper()
	mt := map[string]time.Time{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		mt[p] = fi.ModTime()
	}
	out := slices.Clone(paths)
	sort.SliceStable(out, func(i, j int) bool { return mt[out[i]].Before(mt[out[j]]) })
	return out
}

// demoRun is one recorded demo conversation and its packet-path events.
type demoRun struct {
	all    []*proxied
	sdk    []byte
	packet []*event.Event
}

// newDemoRun records the demo as writeDemo does: a recording whose
// capture is off (tcprec) or whose proxy log is not in start order is
// played again.
func newDemoRun(t *testing.T) demoRun {
	t.Helper()
	dir := t.TempDir()
	all := writeDemo(t, dir)
	packet, _ := packetEvents(t, filepath.Join(dir, "demo.pcap"))
	sdk, err := os.ReadFile(filepath.Join(dir, "demo.sdk.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return demoRun{all: all, sdk: sdk, packet: packet}
}

// readEvents reads paths as one log through decode, as `mcpwatch tap`
// does, and returns the events, the stats and the bad records.
func readEvents(t *testing.T, cfg Config, source string, paths []string, h func(capture.Handler) capture.Handler) ([]*event.Event, Stats, []BadRecord) {
	t.Helper()
	var evs []*event.Event
	d, err := decode.New(decode.Config{Sensor: "s", Source: source, TokenKey: tokenKey}, func(e *event.Event) { evs = append(evs, e) })
	if err != nil {
		t.Fatal(err)
	}
	var bad []BadRecord
	cfg.OnBadRecord = func(b BadRecord) { bad = append(bad, b) }
	var handler capture.Handler = d
	if h != nil {
		handler = h(d)
	}
	st, err := ReadFiles(context.Background(), cfg, paths, handler)
	if err != nil {
		t.Fatal(err)
	}
	d.Finish(time.Time{})
	return evs, st, bad
}

func sameEvents(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("%s: event %d differs:\n got  %s\n want %s", what, i, got[i], want[i])
		}
	}
}

func ids(evs []*event.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.EventID)
	}
	return out
}

// ipAuthorities counts the exchanges whose authority is an IP literal:
// those get their server address from it.
func ipAuthorities(exs []*proxied) int64 {
	var n int64
	for _, ex := range exs {
		if _, ok := authorityAddr(ex.host, "http"); ok {
			n++
		}
	}
	return n
}

// Envoy's default tap output — no times, no connections, file_per_tap —
// is read to the end: every exchange gets its file's modification time
// and keeps the order of the files, exchanges to an IP authority get
// their server address from it, each stand-in is counted, and the events
// are the packet path's (times and addresses aside).
func TestEnvoyDefaultOutput(t *testing.T) {
	demo := newDemoRun(t)
	want := comparable(demo.packet, false, false)
	for _, streamed := range []bool{false, true} {
		t.Run(map[bool]string{false: "buffered", true: "streamed"}[streamed], func(t *testing.T) {
			dir := t.TempDir()
			paths := writeEnvoyDefaultFiles(t, dir, demo.all, streamed)
			evs, st, bad := readEvents(t, Config{Format: FormatEnvoyTap}, "tap:envoy-tap:mcp", paths, nil)
			if len(bad) != 0 {
				t.Fatalf("bad records: %v", bad)
			}
			sameEvents(t, "tap vs packets", comparable(evs, false, false), want)
			n := int64(len(demo.all))
			fb := st.Fallbacks
			if st.Exchanges != n || fb.TimeFile != n || fb.TimePrevious != 0 || fb.TimeClock != 0 || fb.ServerAuthority != ipAuthorities(demo.all) || fb.ClientForwardedFor != 0 {
				t.Errorf("%d exchanges; stats %+v", n, st)
			}
			checkFileTimes(t, evs, paths)
			for _, e := range evs {
				ip := strings.Contains(e.ServerKey, "//10.0.0.9:3000/")
				if e.Kind != event.KindFlow && ip != (e.ServerAddress == "10.0.0.9" && e.ServerPort == 3000) {
					t.Errorf("%s event for %s: server %s:%d", e.Kind, e.ServerKey, e.ServerAddress, e.ServerPort)
				}
			}

			// Same files, same modification times: the same events.
			again, _, _ := readEvents(t, Config{Format: FormatEnvoyTap}, "tap:envoy-tap:mcp", paths, nil)
			if fmt.Sprint(jsonl(again)) != fmt.Sprint(jsonl(evs)) {
				t.Error("a second read gave other events")
			}
			// Copied with new modification times (all an hour later, order
			// kept): ids derive from positions, not times — the same
			// event_ids, ts moved by the hour.
			for _, p := range paths {
				fi, _ := os.Stat(p)
				os.Chtimes(p, fi.ModTime().Add(time.Hour), fi.ModTime().Add(time.Hour))
			}
			later, _, _ := readEvents(t, Config{Format: FormatEnvoyTap}, "tap:envoy-tap:mcp", paths, nil)
			if fmt.Sprint(ids(later)) != fmt.Sprint(ids(evs)) {
				t.Error("new modification times changed the event_ids")
			}
			for i := range min(len(later), len(evs)) {
				if d := later[i].TS.Sub(evs[i].TS); d != time.Hour {
					t.Errorf("event %d: ts moved by %s, want the hour the files moved", i, d)
					break
				}
			}
		})
	}
}

// checkFileTimes checks that every message event carries the
// modification time of one of the files, never going backwards.
func checkFileTimes(t *testing.T, evs []*event.Event, paths []string) {
	t.Helper()
	mtimes := map[time.Time]bool{}
	for _, p := range paths {
		fi, _ := os.Stat(p)
		mtimes[fi.ModTime().UTC()] = true
	}
	var last time.Time
	for _, e := range byKind(evs, event.KindMessage) {
		if !mtimes[e.TS] {
			t.Fatalf("message event at %s: no file has that modification time", e.TS)
		}
		if e.TS.Before(last) {
			t.Fatalf("message event at %s after one at %s", e.TS, last)
		}
		last = e.TS
	}
}

func jsonl(evs []*event.Event) []string {
	var out []string
	for _, e := range evs {
		b, _ := json.Marshal(e)
		out = append(out, string(b))
	}
	return out
}

// Buffered traces without times concatenated in one file (Envoy's admin
// /tap stream saved to a file, a collector's output): one modification
// time for every record, and the records' own order.
func TestEnvoyDefaultOneFile(t *testing.T) {
	demo := newDemoRun(t)
	var b bytes.Buffer
	for _, ex := range demo.all {
		envoyJSON(t, &b, envoyDefaultBuffered(ex))
	}
	p := filepath.Join(t.TempDir(), "taps.json")
	os.WriteFile(p, b.Bytes(), 0o644)
	mtime := time.Date(2026, 7, 28, 9, 30, 0, 0, time.UTC)
	os.Chtimes(p, mtime, mtime)
	evs, st, bad := readEvents(t, Config{Format: FormatEnvoyTap}, "tap:envoy-tap:taps.json", []string{p}, nil)
	if len(bad) != 0 || st.Fallbacks.TimeFile != int64(len(demo.all)) {
		t.Fatalf("bad %v; stats %+v", bad, st)
	}
	sameEvents(t, "tap vs packets", comparable(evs, false, false), comparable(demo.packet, false, false))
	for _, e := range evs {
		if !e.TS.Equal(mtime) {
			t.Fatalf("%s event at %s, want the file's time %s", e.Kind, e.TS, mtime)
		}
	}
}

// A file that mixes records with and without a time: an untimed record
// gets the latest time of the records before it in its file, not the
// file's modification time (which is later than all of them).
func TestUntimedAfterTimed(t *testing.T) {
	recs := sampleRecords(t, "demo.envoy-buffered.json")
	strip := func(i int) {
		tr := recs[i]["http_buffered_trace"].(map[string]any)
		delete(tr["request"].(map[string]any), "headers_received_time")
		delete(tr["response"].(map[string]any), "headers_received_time")
	}
	strip(1)
	var in strings.Builder
	for _, r := range recs[:3] {
		in.WriteString(jsonLine(t, r))
	}
	rec, st, bad := run(t, Config{Format: FormatEnvoyTap}, in.String())
	if len(bad) != 0 || st.Fallbacks.TimePrevious != 1 || st.Fallbacks.TimeClock != 0 || len(rec.reqs) != 3 {
		t.Fatalf("bad %v, %d requests; stats %+v", bad, len(rec.reqs), st)
	}
	first := protoTimeOf(t, recs[0])
	if !rec.reqs[1].Time.Equal(first) {
		t.Errorf("untimed record at %s, want the time of the record before it, %s", rec.reqs[1].Time, first)
	}
	// No file to date the first record of a pipe: when the reading began.
	rec, st, _ = run(t, Config{Format: FormatEnvoyTap}, jsonLine(t, recs[1]))
	if st.Fallbacks.TimeClock != 1 || time.Since(rec.reqs[0].Time) > time.Minute {
		t.Errorf("stats %+v, time %s", st, rec.reqs[0].Time)
	}
}

func protoTimeOf(t *testing.T, rec map[string]any) time.Time {
	t.Helper()
	s := rec["http_buffered_trace"].(map[string]any)["request"].(map[string]any)["headers_received_time"].(string)
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// Without downstream_connection the client is the last X-Forwarded-For
// hop (Envoy with use_remote_address appends its downstream peer); an
// authority that is a name gives no server address — nothing is resolved.
func TestAddressFallbacks(t *testing.T) {
	trace := func(authority, scheme, xff string) map[string]any {
		h := []map[string]string{{"key": ":authority", "value": authority}, {"key": ":path", "value": "/mcp"}, {"key": ":method", "value": "POST"}, {"key": ":scheme", "value": scheme}}
		if xff != "" {
			h = append(h, map[string]string{"key": "x-forwarded-for", "value": xff})
		}
		return map[string]any{"http_buffered_trace": map[string]any{"request": map[string]any{"headers": h}}}
	}
	for _, c := range []struct {
		authority, scheme, xff string
		client, server         string
	}{
		{"10.0.0.9:3000", "http", "203.0.113.7, 198.51.100.2", "198.51.100.2:0", "10.0.0.9:3000"},
		{"[2001:db8::9]", "https", "[2001:db8::7]:5000", "[2001:db8::7]:0", "[2001:db8::9]:443"},
		{"192.0.2.1", "", "unknown", "invalid AddrPort", "192.0.2.1:0"},
		{"mcp.example:443", "https", "", "invalid AddrPort", "invalid AddrPort"},
	} {
		rec, st, bad := run(t, Config{Format: FormatEnvoyTap}, jsonLine(t, trace(c.authority, c.scheme, c.xff)))
		if len(bad) != 0 {
			t.Fatal(bad)
		}
		conn := rec.conns[0]
		if conn.Client.String() != c.client || conn.Server.String() != c.server {
			t.Errorf("%+v: client %s, server %s", c, conn.Client, conn.Server)
		}
		wantX, wantA := int64(0), int64(0)
		if c.client != "invalid AddrPort" {
			wantX = 1
		}
		if c.server != "invalid AddrPort" {
			wantA = 1
		}
		if st.Fallbacks.ClientForwardedFor != wantX || st.Fallbacks.ServerAuthority != wantA {
			t.Errorf("%+v: fallbacks %+v", c, st.Fallbacks)
		}
	}
}

// --- HAR as browsers export it ---

// writeChromeHAR writes a HAR as Chrome DevTools' "Save all as HAR with
// content" does (front_end/models/har): entries sorted by issue time,
// startedDateTime from Date.toJSON (ms, Z), serverIPAddress with the
// brackets of an IPv6 address kept, connection the socket id as a string,
// Chrome's _initiator/_priority/_resourceType/_transferSize/_error, -1
// for unknown timings and sizes, content.text with encoding "base64" for
// bodies it does not keep as text.
func writeChromeHAR(t *testing.T, exs []*proxied) []byte {
	t.Helper()
	exs = slices.Clone(exs)
	sort.SliceStable(exs, func(i, j int) bool { return exs[i].start.Before(exs[j].start) })
	sockets := map[string]int{}
	var entries []map[string]any
	for _, ex := range exs {
		sock, ok := sockets[ex.client.String()]
		if !ok {
			sock = 24000 + 17*len(sockets)
			sockets[ex.client.String()] = sock
		}
		send, wait, recv := ms(ex.reqEnd.Sub(ex.start)), ms(ex.respStart.Sub(ex.reqEnd)), ms(ex.end.Sub(ex.respStart))
		req := map[string]any{
			"method": ex.method, "url": "http://" + ex.host + ex.target, "httpVersion": "HTTP/1.1",
			"headers": harNVs(ex.host, ex.reqHeader), "queryString": []any{}, "cookies": []any{},
			"headersSize": -1, "bodySize": len(ex.reqBody),
		}
		if len(ex.reqBody) > 0 {
			req["postData"] = map[string]any{"mimeType": ex.reqHeader.Get("Content-Type"), "text": string(ex.reqBody)}
		}
		content := map[string]any{"size": len(ex.respBody), "mimeType": cmpOr(mimeOf(ex.respHeader), "x-unknown")}
		if len(ex.respBody) > 0 {
			if strings.HasPrefix(ex.respHeader.Get("Content-Type"), "text/event-stream") {
				content["text"], content["encoding"] = base64.StdEncoding.EncodeToString(ex.respBody), "base64"
			} else {
				content["text"] = string(ex.respBody)
			}
		}
		serverIP := ex.server.Addr().String()
		if ex.server.Addr().Is6() {
			serverIP = "[" + serverIP + "]"
		}
		entries = append(entries, map[string]any{
			"_initiator":    map[string]any{"type": "script", "stack": map[string]any{"callFrames": []any{}}},
			"_priority":     "High",
			"_resourceType": "fetch",
			"cache":         map[string]any{},
			"connection":    strconv.Itoa(sock),
			"request":       req,
			"response": map[string]any{
				"status": ex.status, "statusText": http.StatusText(ex.status), "httpVersion": "HTTP/1.1",
				"headers": harNVs("", ex.respHeader), "cookies": []any{}, "content": content, "redirectURL": "",
				"headersSize": -1, "bodySize": -1, "_transferSize": len(ex.respBody) + 120, "_error": nil,
			},
			"serverIPAddress": serverIP,
			"startedDateTime": ex.start.UTC().Format("2006-01-02T15:04:05.000Z"),
			"time":            send + wait + recv,
			"timings": map[string]any{"blocked": -1, "dns": -1, "ssl": -1, "connect": -1, "send": send, "wait": wait, "receive": recv,
				"_blocked_queueing": -1},
		})
	}
	b, err := json.MarshalIndent(map[string]any{"log": map[string]any{
		"version": "1.2", "creator": map[string]any{"name": "WebInspector", "version": "537.36"}, "pages": []any{}, "entries": entries,
	}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFirefoxHAR writes a HAR as Firefox's network monitor does
// (devtools/client/netmonitor/src/har/har-builder.js): startedDateTime in
// local time with its offset, connection the server's port, a browser
// object and pageref, no underscore fields, content.encoding only when
// the body was binary, content.text absent for a body it did not keep
// (here the empty bodies of 202 and the DELETE), timings as recorded.
func writeFirefoxHAR(t *testing.T, exs []*proxied) []byte {
	t.Helper()
	zone := time.FixedZone("CEST", 2*3600)
	var entries []map[string]any
	for _, ex := range exs {
		send, wait, recv := ms(ex.reqEnd.Sub(ex.start)), ms(ex.respStart.Sub(ex.reqEnd)), ms(ex.end.Sub(ex.respStart))
		req := map[string]any{
			"bodySize": len(ex.reqBody), "method": ex.method, "url": "http://" + ex.host + ex.target, "httpVersion": "HTTP/1.1",
			"headers": harNVs(ex.host, ex.reqHeader), "cookies": []any{}, "queryString": []any{}, "headersSize": 300,
		}
		if len(ex.reqBody) > 0 {
			req["postData"] = map[string]any{"mimeType": ex.reqHeader.Get("Content-Type"), "params": []any{}, "text": string(ex.reqBody)}
		}
		content := map[string]any{"mimeType": mimeOf(ex.respHeader), "size": len(ex.respBody)}
		if len(ex.respBody) > 0 {
			content["text"] = string(ex.respBody)
		}
		entries = append(entries, map[string]any{
			"pageref": "page_1", "startedDateTime": ex.start.In(zone).Format("2006-01-02T15:04:05.000-07:00"),
			"request": req,
			"response": map[string]any{
				"status": ex.status, "statusText": http.StatusText(ex.status), "httpVersion": "HTTP/1.1",
				"headers": harNVs("", ex.respHeader), "cookies": []any{}, "content": content, "redirectURL": "",
				"headersSize": 200, "bodySize": len(ex.respBody),
			},
			"cache":           map[string]any{},
			"timings":         map[string]any{"blocked": 0, "dns": 0, "connect": 0, "ssl": 0, "send": send, "wait": wait, "receive": recv},
			"time":            send + wait + recv,
			"_securityState":  "insecure",
			"serverIPAddress": ex.server.Addr().String(),
			"connection":      strconv.Itoa(int(ex.server.Port())),
		})
	}
	first := exs[0].start.In(zone).Format("2006-01-02T15:04:05.000-07:00")
	b, err := json.MarshalIndent(map[string]any{"log": map[string]any{
		"version": "1.2", "creator": map[string]any{"name": "Firefox", "version": "140.0"}, "browser": map[string]any{"name": "Firefox", "version": "140.0"},
		"pages":   []any{map[string]any{"startedDateTime": first, "id": "page_1", "title": "MCP client", "pageTimings": map[string]any{"onContentLoad": -1, "onLoad": -1}}},
		"entries": entries,
	}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func harNVs(host string, h http.Header) []map[string]string {
	var out []map[string]string
	if host != "" {
		out = append(out, map[string]string{"name": "Host", "value": host})
	}
	for _, k := range sortedHeaderNames(h) {
		for _, v := range h[k] {
			out = append(out, map[string]string{"name": k, "value": v})
		}
	}
	return out
}

func mimeOf(h http.Header) string {
	mt, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.TrimSpace(mt)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// HAR files as Chrome and Firefox export them give the packet path's
// events (HAR has no client address): their quirks are read, not
// stumbled on.
func TestHARBrowserExports(t *testing.T) {
	demo := newDemoRun(t)
	// Chrome sorts entries by start, as the packet path sees them.
	want := comparable(demo.packet, false, true)
	for name, write := range map[string]func(*testing.T, []*proxied) []byte{"chrome": writeChromeHAR, "firefox": writeFirefoxHAR} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), name+".har")
			os.WriteFile(p, write(t, demo.all), 0o644)
			evs, st, bad := readEvents(t, Config{Format: FormatHAR}, "tap:har:"+name+".har", []string{p}, nil)
			if len(bad) != 0 {
				t.Fatalf("bad records: %v", bad)
			}
			sameEvents(t, name+" HAR vs packets", comparable(evs, false, true), want)
			if st.Fallbacks != (Fallbacks{}) || st.Exchanges != int64(len(demo.all)) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// --- one bad record in the middle ---

// corruptions are ways a record goes bad in the field, by format: each
// takes the records of a real log and spoils the middle one.
var corruptions = []struct {
	name   string
	format Format
	spoil  func(rec map[string]any) string // the spoilt record as written
}{
	{"envoy torn off", FormatEnvoyTap, func(rec map[string]any) string {
		b, _ := json.MarshalIndent(rec, "", " ")
		return string(b[:len(b)/2]) + "\n" // the writer died mid-record
	}},
	{"envoy headers of the wrong type", FormatEnvoyTap, func(rec map[string]any) string {
		rec["http_buffered_trace"].(map[string]any)["request"].(map[string]any)["headers"] = "POST /mcp"
		b, _ := json.MarshalIndent(rec, "", " ")
		return string(b) + "\n"
	}},
	{"envoy bad time", FormatEnvoyTap, func(rec map[string]any) string {
		rec["http_buffered_trace"].(map[string]any)["request"].(map[string]any)["headers_received_time"] = "yesterday"
		b, _ := json.MarshalIndent(rec, "", " ")
		return string(b) + "\n"
	}},
	{"access log not JSON", FormatAccessLog, func(map[string]any) string { return "<html>502 Bad Gateway</html>\n" }},
	{"access log status of the wrong type", FormatAccessLog, func(rec map[string]any) string {
		rec["status"] = map[string]any{"code": 200}
		b, _ := json.Marshal(rec)
		return string(b) + "\n"
	}},
}

// One corrupt record in the middle of a real log costs that record only:
// the exchanges before and after it are handed on, it is counted and
// reported with its line, and the reader does not fail.
func TestCorruptRecordInMiddle(t *testing.T) {
	files := map[Format]string{FormatEnvoyTap: "demo.envoy-buffered.json", FormatAccessLog: "demo.envoy-access.jsonl"}
	for _, c := range corruptions {
		t.Run(c.name, func(t *testing.T) {
			recs := sampleRecords(t, files[c.format])
			mid := len(recs) / 2
			var in strings.Builder
			line := 1
			badLine := 0
			for i, r := range recs {
				s := jsonLine(t, r)
				if c.format == FormatEnvoyTap {
					b, _ := json.MarshalIndent(r, "", " ")
					s = string(b) + "\n"
				}
				if i == mid {
					s, badLine = c.spoil(r), line
				}
				in.WriteString(s)
				line += strings.Count(s, "\n")
			}
			rec, st, bad := run(t, Config{Format: c.format}, in.String())
			if len(bad) != 1 || bad[0].Line != badLine || st.BadRecords != 1 {
				t.Fatalf("bad records %v (want one, at line %d); stats %+v", bad, badLine, st)
			}
			if len(rec.reqs) != len(recs)-1 {
				t.Fatalf("%d requests handed on, want %d", len(rec.reqs), len(recs)-1)
			}
			// Both sides of the bad record made it: the first and the last
			// exchange of the log.
			first, last := targetOf(recs[0]), targetOf(recs[len(recs)-1])
			if got := rec.reqs[0].Method + " " + rec.reqs[0].Host; got != first {
				t.Errorf("first request %q, want %q", got, first)
			}
			if got := rec.reqs[len(rec.reqs)-1].Method + " " + rec.reqs[len(rec.reqs)-1].Host; got != last {
				t.Errorf("last request %q, want %q", got, last)
			}
		})
	}
}

// targetOf is "METHOD authority" of a sample record of either format.
func targetOf(rec map[string]any) string {
	if tr, ok := rec["http_buffered_trace"].(map[string]any); ok {
		h := map[string]string{}
		for _, kv := range tr["request"].(map[string]any)["headers"].([]any) {
			m := kv.(map[string]any)
			h[m["key"].(string)] = m["value"].(string)
		}
		return h[":method"] + " " + h[":authority"]
	}
	return fmt.Sprint(rec["method"], " ", rec["authority"])
}

// A HAR entry of the wrong shape costs that entry only.
func TestCorruptHAREntry(t *testing.T) {
	entries := sampleRecords(t, "demo.har", harPath...)
	mid := len(entries) / 2
	entries[mid]["response"].(map[string]any)["status"] = "two hundred"
	doc := map[string]any{"log": map[string]any{"version": "1.2", "entries": entries}}
	b, _ := json.MarshalIndent(doc, "", "  ")
	rec, st, bad := run(t, Config{Format: FormatHAR}, string(b))
	if len(bad) != 1 || st.BadRecords != 1 || len(rec.reqs) != len(entries)-1 {
		t.Fatalf("bad %v, %d requests of %d; stats %+v", bad, len(rec.reqs), len(entries), st)
	}
	if !strings.Contains(bad[0].Err.Error(), `"status"`) {
		t.Errorf("report %q does not name the field", bad[0])
	}
}

// panicky is a Handler that panics on the request to one path, as a bug
// downstream would.
type panicky struct {
	capture.Handler
	target string
	hits   *int
}

func (p panicky) Request(r *capture.Request) {
	if r.Target == p.target {
		*p.hits++
		panic("handler bug")
	}
	p.Handler.Request(r)
}

// A panic while a record is read, or while its exchange is handed on, is
// recovered: counted and reported at the record's line, and reading goes
// on with the next record.
func TestPanicRecovered(t *testing.T) {
	recs := sampleRecords(t, "demo.envoy-access.jsonl")
	var in strings.Builder
	for i, r := range recs {
		if i == 2 {
			r["path"] = "/mcp?boom"
		}
		in.WriteString(jsonLine(t, r))
	}
	hits := 0
	var bad []BadRecord
	cfg := Config{Format: FormatAccessLog, OnBadRecord: func(b BadRecord) { bad = append(bad, b) }}
	r := NewReader(cfg, "access.log", strings.NewReader(in.String()))
	rec := &recorder{}
	if err := r.Run(context.Background(), panicky{Handler: rec, target: "/mcp?boom", hits: &hits}); err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if hits != 1 || st.Panics != 1 || st.BadRecords != 1 || len(bad) != 1 || bad[0].Line != 3 || len(rec.reqs) != len(recs)-1 {
		t.Fatalf("hits %d, bad %v, %d requests of %d; stats %+v", hits, bad, len(rec.reqs), len(recs), st)
	}

	// A parser that panics on the fourth record.
	r = NewReader(Config{Format: FormatAccessLog}, "access.log", strings.NewReader(in.String()))
	r.st.parser = panickyParser{parser: r.st.parser, line: 4}
	rec = &recorder{}
	if err := r.Run(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Panics != 1 || st.BadRecords != 1 || len(rec.reqs) != len(recs)-1 {
		t.Fatalf("%d requests of %d; stats %+v", len(rec.reqs), len(recs), st)
	}
}

type panickyParser struct {
	parser
	line int
}

func (p panickyParser) parse(rec rawRecord) ([]*exchange, error) {
	if rec.line == p.line {
		var m map[string]int
		m["x"]++ // a nil map write: a real runtime panic
	}
	return p.parser.parse(rec)
}
