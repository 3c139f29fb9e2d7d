package decode

import (
	"bufio"
	"cmp"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// replay feeds recorded TCP conversations to h as capture.Engine would:
// HTTP parsed by net/http, event streams split into events, every callback
// in packet-time order. It lets decode be tested on real SDK traffic
// without depending on capture's reassembly.
func replay(t testing.TB, convs []tcprec.Conversation, h capture.Handler) {
	t.Helper()
	var calls []call
	for i := range convs {
		calls = append(calls, connCalls(t, uint64(i), &convs[i])...)
	}
	slices.SortStableFunc(calls, func(a, b call) int { return a.at.Compare(b.at) })
	for _, c := range calls {
		c.fn(h)
	}
}

type call struct {
	at time.Time
	fn func(capture.Handler)
}

// segReader yields one side's segments, one per Read, remembering the time
// of the last one read: the time the bytes parsed so far were complete.
type segReader struct {
	segs []tcprec.Segment
	buf  []byte
	last time.Time
}

func (r *segReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if len(r.segs) == 0 {
			return 0, io.EOF
		}
		r.buf, r.last, r.segs = r.segs[0].Data, r.segs[0].At, r.segs[1:]
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func side(conv *tcprec.Conversation, c2s bool) *segReader {
	r := &segReader{last: conv.Opened}
	for _, s := range conv.Segments {
		if s.C2S == c2s {
			r.segs = append(r.segs, s)
		}
	}
	return r
}

func connCalls(t testing.TB, id uint64, conv *tcprec.Conversation) []call {
	conn := &capture.Conn{ID: id, Client: conv.Client, Server: conv.Server, Start: conv.Opened}
	cr, sr := side(conv, true), side(conv, false)
	cbr, sbr := bufio.NewReader(cr), bufio.NewReader(sr)
	var out []call
	last := conv.Opened
	add := func(at time.Time, fn func(capture.Handler)) {
		last = maxTime(last, at)
		out = append(out, call{last, fn})
	}
	var bytesC2S, bytesS2C int64
	for _, s := range conv.Segments {
		if s.C2S {
			bytesC2S += int64(len(s.Data))
		} else {
			bytesS2C += int64(len(s.Data))
		}
	}
	for seq := 0; ; seq++ {
		cbr.Peek(1) // the first byte's segment dates the request
		start := cr.last
		hr, err := http.ReadRequest(cbr)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("conn %d: read request %d: %v", id, seq, err)
			}
			break
		}
		body, err := io.ReadAll(hr.Body)
		if err != nil {
			t.Fatalf("conn %d: read request body: %v", id, err)
		}
		req := &capture.Request{Conn: conn, Seq: seq, Time: start, End: cr.last, Method: hr.Method, Target: hr.RequestURI,
			Proto: hr.Proto, Host: hr.Host, Header: hr.Header, Body: body, BodyLen: int64(len(body))}
		add(req.End, func(h capture.Handler) { h.Request(req) })
		sbr.Peek(1)
		start = sr.last
		hresp, err := http.ReadResponse(sbr, hr)
		if err != nil {
			break // the connection ended before the response
		}
		resp := &capture.Response{Conn: conn, Seq: seq, Time: start, StatusCode: hresp.StatusCode, Proto: hresp.Proto,
			Header: hresp.Header, EventStream: strings.HasPrefix(hresp.Header.Get("Content-Type"), "text/event-stream")}
		if !resp.EventStream {
			if resp.Body, err = io.ReadAll(hresp.Body); err != nil {
				t.Fatalf("conn %d: read response body: %v", id, err)
			}
			resp.BodyLen = int64(len(resp.Body))
		}
		add(start, func(h capture.Handler) { h.Response(req, resp) })
		if resp.EventStream {
			for _, ev := range readSSE(hresp.Body, sr) {
				add(ev.Time, func(h capture.Handler) { h.SSEEvent(req, resp, ev) })
			}
		}
		resp.End = sr.last
		add(sr.last, func(h capture.Handler) { h.ResponseEnd(req, resp) })
	}
	end := cmp.Or(conv.Closed, last)
	add(end, func(h capture.Handler) {
		h.ConnEnd(conn, &capture.ConnEnd{Time: end, Reason: capture.ConnEndFIN, AppProtocol: capture.AppHTTP,
			BytesC2S: bytesC2S, BytesS2C: bytesS2C, Packets: int64(len(conv.Segments))})
	})
	return out
}

// readSSE splits an event stream (text/event-stream framing) into events.
func readSSE(r io.Reader, clock *segReader) []*capture.SSEEvent {
	var out []*capture.SSEEvent
	ev := &capture.SSEEvent{}
	var data []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if ev.ID != "" || ev.Event != "" || data != nil || ev.Retry != 0 {
				ev.Data = strings.Join(data, "\n")
				ev.Event = cmp.Or(ev.Event, "message")
				ev.Time, ev.Index = clock.last, len(out)
				out = append(out, ev)
			}
			ev, data = &capture.SSEEvent{}, nil
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Event = value
		case "data":
			data = append(data, value)
		case "id":
			ev.ID = value
		case "retry":
			ev.Retry, _ = strconv.Atoi(value)
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
