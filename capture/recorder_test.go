package capture

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// recorder is a Handler that keeps everything, and writes a readable log
// of it for golden files.
type recorder struct {
	t        testing.TB
	log      strings.Builder
	reqs     []*Request
	resps    []*Response
	events   []*SSEEvent
	ends     []*ConnEnd
	conns    []*Conn
	ended    map[uint64]bool
	seenReq  map[*Request]bool
	openResp map[*Response]bool
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, ended: map[uint64]bool{}, seenReq: map[*Request]bool{}, openResp: map[*Response]bool{}}
}

func (r *recorder) checkOpen(c *Conn) {
	r.t.Helper()
	if r.ended[c.ID] {
		r.t.Errorf("callback for connection %d after its ConnEnd", c.ID)
	}
}

func (r *recorder) Request(req *Request) {
	r.checkOpen(req.Conn)
	r.seenReq[req] = true
	r.reqs = append(r.reqs, req)
	fmt.Fprintf(&r.log, "conn %d %s→%s request %d: %s %s %s host=%q body=%d/%d%s\n", req.Conn.ID, req.Conn.Client, req.Conn.Server,
		req.Seq, req.Method, req.Target, req.Proto, req.Host, len(req.Body), req.BodyLen, truncNote(req.Truncated, req.TruncatedBy))
	writeBody(&r.log, req.Body)
}

func (r *recorder) Response(req *Request, resp *Response) {
	r.checkOpen(resp.Conn)
	if req != nil && !r.seenReq[req] {
		r.t.Errorf("conn %d: response %d before its request", resp.Conn.ID, resp.Seq)
	}
	r.openResp[resp] = true
	// Kept past the call, so copied: the Engine reuses response buffers.
	resp.Body = bytes.Clone(resp.Body)
	r.resps = append(r.resps, resp)
	fmt.Fprintf(&r.log, "conn %d response %d: %s %d matched=%v stream=%v body=%d/%d%s\n", resp.Conn.ID, resp.Seq, resp.Proto, resp.StatusCode,
		req != nil, resp.EventStream, len(resp.Body), resp.BodyLen, truncNote(resp.Truncated, resp.TruncatedBy))
	writeBody(&r.log, resp.Body)
}

func (r *recorder) SSEEvent(req *Request, resp *Response, ev *SSEEvent) {
	r.checkOpen(resp.Conn)
	if !r.openResp[resp] {
		r.t.Errorf("conn %d: SSE event outside its response", resp.Conn.ID)
	}
	r.events = append(r.events, ev)
	fmt.Fprintf(&r.log, "conn %d response %d event %d: event=%q id=%q retry=%d%s\n", resp.Conn.ID, resp.Seq, ev.Index, ev.Event, ev.ID, ev.Retry, truncNote(ev.Truncated, ""))
	writeBody(&r.log, []byte(ev.Data))
}

func (r *recorder) ResponseEnd(req *Request, resp *Response) {
	r.checkOpen(resp.Conn)
	if !r.openResp[resp] {
		r.t.Errorf("conn %d: ResponseEnd without Response", resp.Conn.ID)
	}
	delete(r.openResp, resp)
	fmt.Fprintf(&r.log, "conn %d response %d end body=%d%s\n", resp.Conn.ID, resp.Seq, resp.BodyLen, truncNote(resp.Truncated, resp.TruncatedBy))
}

func (r *recorder) ConnEnd(c *Conn, end *ConnEnd) {
	r.checkOpen(c)
	r.ended[c.ID] = true
	r.conns = append(r.conns, c)
	r.ends = append(r.ends, end)
	fmt.Fprintf(&r.log, "conn %d end %s→%s: %s app=%s sni=%q alpn=%v c2s=%d s2c=%d packets=%d gap=%d exchanges=%d upgrade=%q\n", c.ID, c.Client, c.Server,
		end.Reason, end.AppProtocol, end.TLSSNI, end.TLSALPN, end.BytesC2S, end.BytesS2C, end.Packets, end.GapBytes, end.Exchanges, end.Upgrade)
}

func truncNote(t bool, by string) string {
	if !t {
		return ""
	}
	if by == "" {
		return " TRUNCATED"
	}
	return " TRUNCATED(" + by + ")"
}

// writeBody logs a body: JSON compacted, anything else quoted, long ones
// elided in the middle so goldens stay readable.
func writeBody(b *strings.Builder, body []byte) {
	if len(body) == 0 {
		return
	}
	s := string(body)
	var v any
	if json.Unmarshal(body, &v) == nil {
		c, _ := json.Marshal(v)
		s = string(c)
	} else {
		s = fmt.Sprintf("%q", s)
	}
	if len(s) > 400 {
		s = fmt.Sprintf("%s…(%d bytes)…%s", s[:200], len(s), s[len(s)-100:])
	}
	fmt.Fprintf(b, "    %s\n", s)
}
