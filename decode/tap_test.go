package decode

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/capture/logtap"
	"github.com/mcpwatch/mcpwatch/event"
)

// tapDir holds proxy logs of real go-sdk conversations, written by
// capture/logtap's tests (go test ./capture/logtap -update).
const tapDir = "../testdata/logtap"

// decodeTap reads a proxy log (a file, or a file_per_tap directory of
// traces) through logtap and a Decoder, as `mcpwatch tap` does.
func decodeTap(t *testing.T, cfg logtap.Config, name string) ([]*event.Event, Stats) {
	t.Helper()
	d, evs := collect(t, Config{})
	paths := []string{filepath.Join(tapDir, name)}
	if traces, _ := filepath.Glob(filepath.Join(tapDir, name, "*.json")); len(traces) > 0 {
		sort.Strings(traces)
		paths = traces
	}
	cfg.OnBadRecord = func(b logtap.BadRecord) { t.Errorf("bad record: %s", b) }
	if _, err := logtap.ReadFiles(context.Background(), cfg, paths, d); err != nil {
		t.Fatal(err)
	}
	d.Finish(time.Time{})
	return *evs, d.Stats()
}

// HAR has no client address and Envoy streamed traces no address at all
// (their server's comes from an IP-literal authority, logtap's fallback):
// the fields a log does not have are left out, not written as the zero
// netip.Addr ("invalid IP"), and those it has are kept.
func TestAddressesAbsentFromLogs(t *testing.T) {
	for _, tc := range []struct {
		name           string
		format         logtap.Format
		client, server bool
		// serverByAuthority: the server's address is there exactly when
		// the authority is an IP literal.
		serverByAuthority bool
	}{
		{"demo.har", logtap.FormatHAR, false, true, false},
		{"demo.envoy-streamed", logtap.FormatEnvoyTap, false, false, true},
		{"demo.envoy-buffered.json", logtap.FormatEnvoyTap, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, _ := decodeTap(t, logtap.Config{Format: tc.format}, tc.name)
			if len(byKind(evs, event.KindMessage)) == 0 {
				t.Fatal("no message events")
			}
			// An address is there with its port, or neither is.
			present := func(addr string, port int) (bool, bool) {
				return addr != "" && port != 0, (addr == "") == (port == 0)
			}
			for _, e := range evs {
				client, clientOK := present(e.ClientAddress, e.ClientPort)
				server, serverOK := present(e.ServerAddress, e.ServerPort)
				wantServer := tc.server
				if tc.serverByAuthority {
					_, err := netip.ParseAddrPort(hostKey(e.ServerKey))
					wantServer = err == nil
				}
				if client != tc.client || server != wantServer || !clientOK || !serverOK {
					t.Fatalf("%s %s: client %q:%d server %q:%d, want client %v server %v",
						e.Kind, e.Method, e.ClientAddress, e.ClientPort, e.ServerAddress, e.ServerPort, tc.client, wantServer)
				}
			}
		})
	}
}

// decode recognises logtap's bodies that were counted but not logged by
// their TruncatedBy, without importing logtap.
func TestNotLoggedIsLogtaps(t *testing.T) {
	if truncNotLogged != logtap.TruncNotLogged {
		t.Errorf("decode reads %q, logtap writes %q", truncNotLogged, logtap.TruncNotLogged)
	}
}

// The Envoy access log of a real 2026-07-28 stateless go-sdk conversation
// (written by capture/logtap's tests): each logged exchange gives its
// request, named by Mcp-Method and Mcp-Name, and its answer, with the
// sizes, status and duration the log recorded, flagged truncated and
// without an id; the logical session counts them as it would from bodies.
func TestHeaderOnlyAccessLog(t *testing.T) {
	type logLine struct {
		Method   string  `json:"mcp_method"`
		Name     string  `json:"mcp_name"`
		Received int64   `json:"bytes_received"`
		Sent     int64   `json:"bytes_sent"`
		Duration float64 `json:"duration"`
	}
	var lines []logLine
	f, err := os.Open(filepath.Join(tapDir, "stateless", "envoy-access.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	evs, st := decodeTap(t, logtap.Config{Format: logtap.FormatAccessLog}, "stateless/envoy-access.jsonl")
	msgs := byKind(evs, event.KindMessage)
	if len(lines) == 0 || len(msgs) != 2*len(lines) {
		t.Fatalf("%d message events for %d logged exchanges", len(msgs), len(lines))
	}
	// what a message event says of its method's target
	target := func(e *event.Event) string { return e.ToolName + e.PromptName + e.ResourceURI }
	for i, l := range lines {
		req, resp := msgs[2*i], msgs[2*i+1]
		if req.Direction != event.DirClientToServer || req.MsgType != event.MsgRequest || req.Method != l.Method || target(req) != strings.Trim(l.Name, "-") || req.Bytes != l.Received {
			t.Errorf("exchange %d (%s %s, %d bytes): request %s %s %s %q, %d bytes", i, l.Method, l.Name, l.Received, req.Direction, req.MsgType, req.Method, target(req), req.Bytes)
		}
		if resp.Direction != event.DirServerToClient || resp.MsgType != event.MsgResponse || resp.Method != l.Method || target(resp) != target(req) ||
			resp.Bytes != l.Sent || resp.DurationMS != l.Duration {
			t.Errorf("exchange %d (%s, %d bytes, %v ms): response %s %s %s %q, %d bytes, %v ms", i, l.Method, l.Sent, l.Duration,
				resp.Direction, resp.MsgType, resp.Method, target(resp), resp.Bytes, resp.DurationMS)
		}
		for _, e := range []*event.Event{req, resp} {
			if !e.Truncated || e.JSONRPCID != "" || e.ProtocolVersion != "2026-07-28" || e.HTTPMethod != "POST" || e.HTTPStatus != 200 ||
				e.AuthScheme != "none" || e.UserAgent == "" || e.SessionID != "" || e.Transport != event.TransportStreamableHTTP {
				t.Errorf("exchange %d %s: %+v", i, e.Direction, e)
			}
		}
	}
	sessions := byKind(evs, event.KindSession)
	if len(sessions) != 1 || sessions[0].MessagesC2S != int64(len(lines)) || sessions[0].Requests != int64(len(lines)) ||
		fmt.Sprint(sessions[0].ToolsCalled) != "[read_file search_docs]" {
		t.Errorf("sessions: %+v", sessions)
	}
	if st.Unmatched != 0 || st.Unanswered != 0 || st.Truncated != int64(len(msgs)) {
		t.Errorf("stats %+v", st)
	}
}

// Logs of 2025-era traffic carry Mcp-Session-Id but no Mcp-Method: the
// sessions are there, the messages cannot be named, so there are none.
func TestHeaderOnlyWithoutMethod(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  logtap.Config
	}{
		{"demo.envoy-access.jsonl", logtap.Config{Format: logtap.FormatAccessLog}},
		{"demo.nginx-access.jsonl", logtap.Config{Format: logtap.FormatAccessLog, AccessLogFields: logtap.NginxAccessLogFields()}},
	} {
		evs, st := decodeTap(t, tc.cfg, tc.name)
		if n := len(byKind(evs, event.KindMessage)); n != 0 || st.MCPExchanges == 0 || len(byKind(evs, event.KindSession)) == 0 {
			t.Errorf("%s: %d message events, %d MCP exchanges, %d sessions", tc.name, n, st.MCPExchanges, len(byKind(evs, event.KindSession)))
		}
	}
}

// bodiless hands a Handler what a header-only log keeps of each exchange
// of a real capture: headers, status, times and body sizes, no body — and
// each response once it is over, as a log writes it.
type bodiless struct{ h capture.Handler }

// unlogged is what a log without bodies says of a body of n bytes, as
// logtap reports it: Truncated when there was one.
func unlogged(n int64) (body []byte, truncated bool, by string) {
	if n == 0 {
		return nil, false, ""
	}
	return nil, true, truncNotLogged
}

func stripRequest(req *capture.Request) *capture.Request {
	if req == nil {
		return nil
	}
	r := *req
	r.Body, r.Truncated, r.TruncatedBy = unlogged(r.BodyLen)
	return &r
}

func stripResponse(resp *capture.Response) *capture.Response {
	r := *resp
	r.Body, r.Truncated, r.TruncatedBy = unlogged(r.BodyLen)
	return &r
}

func (b bodiless) Request(req *capture.Request) { b.h.Request(stripRequest(req)) }

func (b bodiless) Response(req *capture.Request, resp *capture.Response) {
	if !resp.EventStream { // a stream's size is known at its end
		b.h.Response(stripRequest(req), stripResponse(resp))
	}
}

func (b bodiless) SSEEvent(*capture.Request, *capture.Response, *capture.SSEEvent) {}

func (b bodiless) ResponseEnd(req *capture.Request, resp *capture.Response) {
	if resp.EventStream {
		b.h.Response(stripRequest(req), stripResponse(resp))
	}
	b.h.ResponseEnd(stripRequest(req), stripResponse(resp))
}

func (b bodiless) ConnEnd(conn *capture.Conn, end *capture.ConnEnd) { b.h.ConnEnd(conn, end) }

// decodeBodiless decodes testdata/decode/NAME.pcap as a header-only log of
// it would be.
func decodeBodiless(t *testing.T, name string) []*event.Event {
	t.Helper()
	d, evs := collect(t, Config{})
	runPcap(t, filepath.Join(captureDir, name+".pcap"), d, bodiless{d})
	return *evs
}

// Real 2026-07-28 captures with their bodies taken away, as a header-only
// log records them: the requests and answers of the SDK's log, by
// direction, method and tool — JSON or SSE responses, multi-round-trip
// requests alike — without ids.
func TestHeaderOnlyFromCaptures(t *testing.T) {
	for _, name := range []string{"gosdk-latest-stateless-json", "gosdk-latest-stateless-sse", "gosdk-input-required-2026-07-28"} {
		t.Run(name, func(t *testing.T) {
			var want, got []string
			for _, m := range readSDKLog(t, filepath.Join(captureDir, name+".sdk.jsonl")) {
				want = append(want, m.Direction+" "+m.Method+" "+m.ToolName)
			}
			for _, e := range byKind(decodeBodiless(t, name), event.KindMessage) {
				got = append(got, e.Direction+" "+e.Method+" "+e.ToolName)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("message events differ from the SDK log\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
			}
		})
	}
}

// What a header-only source cannot see: a request whose Mcp-Name header
// lies about its body is reported as the headers name it. The server's
// rejection (400) is still an error, and the request it answers the one
// the headers named.
func TestHeaderOnlyMismatch(t *testing.T) {
	var got []string
	for _, e := range byKind(decodeBodiless(t, "gosdk-header-mismatch-2026-07-28"), event.KindMessage) {
		got = append(got, fmt.Sprintf("%s %s %s %s %d", e.Direction, e.MsgType, e.Method, e.ToolName, e.HTTPStatus))
	}
	want := []string{
		"c2s request tools/call search_docs 200", "s2c response tools/call search_docs 200",
		"c2s request tools/call search_docs 400", "s2c error tools/call search_docs 400",
	}
	if !slices.Equal(got, want) {
		t.Errorf("messages\n got %q\nwant %q", got, want)
	}
}
