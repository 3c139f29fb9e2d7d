package decode

import (
	"cmp"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/event"
)

// wire feeds a Decoder the capture callbacks of one client connection,
// for tests of what real captures rarely show: cuts, floods, timeouts.
type wire struct {
	d    *Decoder
	conn *capture.Conn
	seq  int
	now  time.Time
}

var t0 = time.Date(2026, 7, 28, 12, 0, 0, 0, time.UTC)

func newWire(d *Decoder, id uint64) *wire {
	return &wire{d: d, now: t0, conn: &capture.Conn{ID: id, Start: t0,
		Client: netip.AddrPortFrom(netip.MustParseAddr("10.0.1.10"), uint16(40000+id)),
		Server: netip.MustParseAddrPort("10.0.0.5:8080")}}
}

// hop is one HTTP exchange for wire.send.
type hop struct {
	method     string
	target     string // default /mcp
	host       string // default files.corp.example:8080
	reqHeader  map[string]string
	body       string
	cut        int // cut the request body to this many bytes (0: whole)
	status     int
	respHeader map[string]string
	respBody   string
	respCut    int
	events     []string // SSE data of an event-stream response
	noResponse bool
}

func header(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

// send plays one exchange, a millisecond per step.
func (w *wire) send(x hop) {
	w.now = w.now.Add(time.Millisecond)
	body := []byte(x.body)
	target, host := cmp.Or(x.target, "/mcp"), cmp.Or(x.host, "files.corp.example:8080")
	req := &capture.Request{Conn: w.conn, Seq: w.seq, Time: w.now, End: w.now, Method: x.method, Target: target,
		Proto: "HTTP/1.1", Host: host, Header: header(x.reqHeader), Body: body, BodyLen: int64(len(body))}
	if x.cut > 0 {
		req.Body, req.Truncated = body[:x.cut], true
	}
	w.seq++
	w.d.Request(req)
	if x.noResponse {
		return
	}
	w.now = w.now.Add(time.Millisecond)
	resp := &capture.Response{Conn: w.conn, Seq: req.Seq, Time: w.now, End: w.now, StatusCode: x.status, Proto: "HTTP/1.1",
		Header: header(x.respHeader), Body: []byte(x.respBody), BodyLen: int64(len(x.respBody)), EventStream: x.events != nil}
	if x.respCut > 0 {
		resp.Body, resp.Truncated = resp.Body[:x.respCut], true
	}
	w.d.Response(req, resp)
	for i, data := range x.events {
		w.now = w.now.Add(time.Millisecond)
		w.d.SSEEvent(req, resp, &capture.SSEEvent{Time: w.now, Event: "message", Data: data, Index: i})
	}
	w.d.ResponseEnd(req, resp)
}

func (w *wire) close() {
	w.now = w.now.Add(time.Millisecond)
	w.d.ConnEnd(w.conn, &capture.ConnEnd{Time: w.now, Reason: capture.ConnEndFIN, AppProtocol: capture.AppHTTP, BytesC2S: 1, BytesS2C: 1})
}

// demoRaw returns the raw JSON-RPC messages the go-sdk client logged in the
// demo capture, by direction, method and id ("c2s tools/call 3").
func demoRaw(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, m := range readSDKLog(t, "../testdata/demo.sdk.jsonl") {
		k := m.Direction + " " + m.Method + " " + m.ID
		if _, dup := out[k]; !dup { // first conversation wins
			out[k] = string(m.Raw)
		}
	}
	return out
}

// initialize plays the demo's initialize exchange with session id sid.
func (w *wire) initialize(raw map[string]string, sid string) {
	w.send(hop{method: "POST", body: raw["c2s initialize 1"], status: 200,
		respHeader: map[string]string{"Mcp-Session-Id": sid, "Content-Type": "application/json"}, respBody: raw["s2c initialize 1"]})
}

func withSession(sid string) map[string]string { return map[string]string{"Mcp-Session-Id": sid} }

func find(evs []*event.Event, kind event.Kind, dir, method string) *event.Event {
	for _, e := range evs {
		if e.Kind == kind && e.Direction == dir && e.Method == method {
			return e
		}
	}
	return nil
}

// A body cut by a capture gap still yields its message when the envelope
// was seen (go-sdk writes id and method before params); one cut before it
// is counted and dropped.
func TestTruncatedBodies(t *testing.T) {
	raw := demoRaw(t)
	d, evs := collect(t, Config{})
	w := newWire(d, 1)
	w.initialize(raw, "S1")
	call := raw["c2s tools/call 3"]
	list := raw["s2c tools/list 2"]
	w.send(hop{method: "POST", reqHeader: withSession("S1"), body: call, cut: len(call) - 10, status: 200, respBody: raw["s2c tools/call 3"]})
	w.send(hop{method: "POST", reqHeader: withSession("S1"), body: raw["c2s tools/list 2"], status: 200, respBody: list, respCut: len(list) / 2})
	w.send(hop{method: "POST", reqHeader: withSession("S1"), body: call, cut: 8, status: 200})
	d.Finish(w.now)

	req := find(*evs, event.KindMessage, event.DirClientToServer, "tools/call")
	if req == nil || !req.Truncated || req.ToolName != "search_docs" || req.JSONRPCID != "3" || req.Bytes != int64(len(call)) {
		t.Errorf("cut tools/call request: %+v", req)
	}
	resp := find(*evs, event.KindMessage, event.DirServerToClient, "tools/list")
	if resp == nil || !resp.Truncated || resp.JSONRPCID != "2" {
		t.Errorf("cut tools/list response: %+v", resp)
	}
	if n := len(byKind(*evs, event.KindManifest)); n != 0 {
		t.Errorf("%d manifests from a cut tools/list", n)
	}
	if st := d.Stats(); st.Truncated != 2 || st.TruncatedDropped != 1 {
		t.Errorf("truncated %d, dropped %d; want 2, 1", st.Truncated, st.TruncatedDropped)
	}
}

// Every cap holds and is counted.
func TestCaps(t *testing.T) {
	raw := demoRaw(t)
	t.Run("MaxSessions", func(t *testing.T) {
		d, evs := collect(t, Config{MaxSessions: 2})
		for i := range 3 {
			newWire(d, uint64(i)).initialize(raw, "S"+strconv.Itoa(i))
		}
		var reasons []string
		for _, s := range byKind(*evs, event.KindSession) {
			reasons = append(reasons, s.SessionID+" "+s.EndReason)
		}
		if len(reasons) != 1 || reasons[0] != "S0 evicted" || d.Stats().SessionsEvicted != 1 || d.Stats().SessionsOpen != 2 {
			t.Errorf("sessions ended %v, stats %+v", reasons, d.Stats())
		}
	})
	t.Run("MaxPendingPerSession", func(t *testing.T) {
		d, _ := collect(t, Config{MaxPendingPerSession: 1})
		w := newWire(d, 1)
		w.initialize(raw, "S1")
		w.send(hop{method: "POST", reqHeader: withSession("S1"), body: raw["c2s tools/list 2"], noResponse: true})
		w.send(hop{method: "POST", reqHeader: withSession("S1"), body: raw["c2s tools/call 3"], noResponse: true})
		w.close()
		d.Finish(w.now)
		if st := d.Stats(); st.PendingDropped != 1 || st.Unanswered != 1 {
			t.Errorf("pending dropped %d, unanswered %d; want 1, 1", st.PendingDropped, st.Unanswered)
		}
	})
	t.Run("MaxMessageBytes", func(t *testing.T) {
		d, evs := collect(t, Config{MaxMessageBytes: 64})
		w := newWire(d, 1)
		w.initialize(raw, "S1")
		w.send(hop{method: "POST", reqHeader: withSession("S1"), body: raw["c2s tools/list 2"], status: 200, respBody: raw["s2c tools/list 2"]})
		resp := find(*evs, event.KindMessage, event.DirServerToClient, "tools/list")
		if resp == nil || !resp.Truncated || resp.Bytes != int64(len(raw["s2c tools/list 2"])) || d.Stats().OversizeCut == 0 {
			t.Errorf("oversize tools/list: %+v, stats %+v", resp, d.Stats())
		}
	})
}

// Sessions end idle after IdleTimeout of packet time, at last activity +
// timeout; a stateful session whose connection closed ends with close.
func TestSessionEnds(t *testing.T) {
	raw := demoRaw(t)
	d, evs := collect(t, Config{IdleTimeout: time.Minute})
	idle, closed := newWire(d, 1), newWire(d, 2)
	idle.initialize(raw, "IDLE")
	closed.initialize(raw, "CLOSED")
	closed.close()
	d.Tick(t0.Add(2 * time.Minute))
	got := map[string]string{}
	for _, s := range byKind(*evs, event.KindSession) {
		got[s.SessionID] = s.EndReason + " " + s.EndTS.Sub(t0).String()
	}
	want := map[string]string{"IDLE": "idle 1m0.002s", "CLOSED": "close 3ms"}
	if len(got) != 2 || got["IDLE"] != want["IDLE"] || got["CLOSED"] != want["CLOSED"] {
		t.Errorf("session ends %v, want %v", got, want)
	}
}

// A tools/list that follows notifications/tools/list_changed (here on the
// standalone GET stream) gives a manifest flagged after_list_changed; the
// next one is not.
func TestManifestAfterListChanged(t *testing.T) {
	raw := demoRaw(t)
	d, evs := collect(t, Config{})
	w := newWire(d, 1)
	w.initialize(raw, "S1")
	list := func() {
		w.send(hop{method: "POST", reqHeader: withSession("S1"), body: raw["c2s tools/list 2"], status: 200, respBody: raw["s2c tools/list 2"]})
	}
	list()
	newWire(d, 2).send(hop{method: "GET", reqHeader: withSession("S1"), status: 200,
		respHeader: map[string]string{"Content-Type": "text/event-stream"},
		events:     []string{`{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{}}`}})
	list()
	list()
	var flags []bool
	for _, m := range byKind(*evs, event.KindManifest) {
		flags = append(flags, m.AfterListChanged)
	}
	if len(flags) != 3 || flags[0] || !flags[1] || flags[2] {
		t.Errorf("after_list_changed of three listings: %v, want [false true false]", flags)
	}
}

// A response that arrives on a resumed stream (GET with Last-Event-ID after
// the POST's own stream broke) still matches its request by session and id.
func TestResumedStreamMatches(t *testing.T) {
	raw := demoRaw(t)
	d, evs := collect(t, Config{})
	w := newWire(d, 1)
	w.initialize(raw, "S1")
	sse := map[string]string{"Content-Type": "text/event-stream"}
	w.send(hop{method: "POST", reqHeader: withSession("S1"), body: raw["c2s tools/call 3"], status: 200, respHeader: sse, events: []string{}})
	w.close()
	resumed := newWire(d, 2)
	resumed.now = w.now
	resumed.send(hop{method: "GET", reqHeader: map[string]string{"Mcp-Session-Id": "S1", "Last-Event-ID": "0_1"}, status: 200,
		respHeader: sse, events: []string{raw["s2c tools/call 3"]}})
	d.Finish(resumed.now)
	resp := find(*evs, event.KindMessage, event.DirServerToClient, "tools/call")
	if resp == nil || resp.ToolName != "search_docs" || resp.HTTPMethod != "GET" || resp.DurationMS <= 0 || resp.SessionID != "S1" {
		t.Errorf("resumed response: %+v", resp)
	}
	if st := d.Stats(); st.Unmatched != 0 || st.Unanswered != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// 401 and 403 challenges as RFC 6750 writes them become auth events with
// the Bearer parameters, whatever other schemes share the header.
func TestAuthChallenges(t *testing.T) {
	raw := demoRaw(t)
	for _, tc := range []struct {
		status int
		header string
		want   string
	}{
		{401, `Bearer realm="mcp", error="invalid_token", error_description="expired"`, "challenge err=invalid_token scope= rm="},
		{403, `Bearer error="insufficient_scope", scope="files:write", resource_metadata="https://mcp.example/.well-known/oauth-protected-resource"`,
			"insufficient_scope err=insufficient_scope scope=files:write rm=https://mcp.example/.well-known/oauth-protected-resource"},
		{403, ``, "forbidden err= scope= rm="},
		{401, `Basic realm="legacy", Bearer scope="a b"`, "challenge err= scope=a b rm="},
	} {
		d, evs := collect(t, Config{})
		w := newWire(d, 1)
		w.send(hop{method: "POST", reqHeader: map[string]string{"Authorization": "Bearer not-a-jwt"}, body: raw["c2s initialize 1"],
			status: tc.status, respHeader: map[string]string{"WWW-Authenticate": tc.header}})
		a := byKind(*evs, event.KindAuth)
		if len(a) != 1 {
			t.Fatalf("%d %s: %d auth events", tc.status, tc.header, len(a))
		}
		if got := a[0].AuthEvent + " err=" + a[0].Error + " scope=" + a[0].Scope + " rm=" + a[0].ResourceMetadata; got != tc.want || a[0].TokenID == "" || a[0].HTTPStatus != tc.status {
			t.Errorf("%d %s:\n got %q (token %q)\nwant %q", tc.status, tc.header, got, a[0].TokenID, tc.want)
		}
		if m := find(*evs, event.KindMessage, event.DirClientToServer, "initialize"); m == nil || m.HTTPStatus != tc.status || m.AuthScheme != "bearer" {
			t.Errorf("%d: refused initialize: %+v", tc.status, m)
		}
	}
}

// Access logs keep only the scheme of Authorization: auth_scheme is still
// reported, on messages and auth events, but with no credential after the
// scheme there is nothing to fingerprint — no token_id, rather than one
// fingerprint of the empty string shared by every such request.
func TestSchemeOnlyAuthorization(t *testing.T) {
	raw := demoRaw(t)
	for _, tc := range []struct {
		header, scheme string
		token          bool
	}{
		{"Bearer", "bearer", false},
		{"Basic ", "basic", false},
		{"Bearer not-a-jwt", "bearer", true},
		{"", "none", false},
	} {
		d, evs := collect(t, Config{})
		w := newWire(d, 1)
		w.send(hop{method: "POST", reqHeader: map[string]string{"Authorization": tc.header}, body: raw["c2s initialize 1"],
			status: 401, respHeader: map[string]string{"WWW-Authenticate": `Bearer resource_metadata="https://files.corp.example/.well-known/oauth-protected-resource"`}})
		for _, e := range *evs {
			if e.AuthScheme != tc.scheme || (e.TokenID != "") != tc.token {
				t.Errorf("Authorization %q: %s event with auth_scheme %q token_id %q", tc.header, e.Kind, e.AuthScheme, e.TokenID)
			}
		}
		if len(byKind(*evs, event.KindMessage)) != 1 || len(byKind(*evs, event.KindAuth)) != 1 {
			t.Errorf("Authorization %q: events %d, want a message and an auth event", tc.header, len(*evs))
		}
	}
}

// A response seen before its request — capture hands it over with a nil
// request, and the decoder parks it until the request comes — is decoded
// on an exchange of its own with the request's connection and Seq. Both
// messages are reported, matched, and with distinct event ids.
func TestResponseBeforeRequestIDs(t *testing.T) {
	raw := demoRaw(t)
	d, evs := collect(t, Config{})
	w := newWire(d, 1)
	w.initialize(raw, "S1")
	body, answer := raw["c2s tools/call 3"], raw["s2c tools/call 3"]
	w.now = w.now.Add(time.Millisecond)
	resp := &capture.Response{Conn: w.conn, Seq: w.seq, Time: w.now, End: w.now, StatusCode: 200, Proto: "HTTP/1.1",
		Header: header(map[string]string{"Content-Type": "application/json"}), Body: []byte(answer), BodyLen: int64(len(answer))}
	d.Response(nil, resp)
	d.ResponseEnd(nil, resp)
	req := &capture.Request{Conn: w.conn, Seq: w.seq, Time: w.now, End: w.now, Method: "POST", Target: "/mcp", Proto: "HTTP/1.1",
		Host: "files.corp.example:8080", Header: header(withSession("S1")), Body: []byte(body), BodyLen: int64(len(body))}
	d.Request(req)
	w.close()
	d.Finish(w.now)

	call := func(dir string) *event.Event {
		e := find(*evs, event.KindMessage, dir, "tools/call")
		if e == nil || e.JSONRPCID != "3" || e.ToolName != "search_docs" {
			t.Fatalf("%s tools/call: %+v", dir, e)
		}
		return e
	}
	if c2s, s2c := call(event.DirClientToServer), call(event.DirServerToClient); c2s.EventID == s2c.EventID {
		t.Errorf("request and response share event_id %s", c2s.EventID)
	}
	seen := map[string]bool{}
	for _, e := range *evs {
		if seen[e.EventID] {
			t.Errorf("event_id %s used twice (%s %s %s)", e.EventID, e.Kind, e.Direction, e.Method)
		}
		seen[e.EventID] = true
	}
	if st := d.Stats(); st.Unmatched != 0 || st.Messages != 4 {
		t.Errorf("stats %+v, want 4 messages, all matched", st)
	}
}
