package logtap

import (
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
)

// envoyParser reads envoy.data.tap.v3.TraceWrapper records: a buffered
// trace is one whole exchange; streamed segments are assembled per
// trace_id until the response is complete (trailers, Content-Length
// reached, a body-less status) or the input ends.
type envoyParser struct {
	st     *state
	traces map[string]*envoyTrace
}

// envoyTrace is a streamed trace being assembled.
type envoyTrace struct {
	ex        *exchange
	haveResp  bool
	respWant  int64 // Content-Length of the response; -1 when not given
	respBytes int64
}

func newEnvoyParser(st *state) *envoyParser {
	return &envoyParser{st: st, traces: map[string]*envoyTrace{}}
}

func (p *envoyParser) parse(rec rawRecord) ([]*exchange, error) {
	o, err := decodeObject(rec.data)
	if err != nil {
		return nil, err
	}
	var f fields
	if t := f.obj(o, "http_buffered_trace"); t != nil {
		ex, err := envoyBuffered(&f, t)
		if err != nil {
			return nil, err
		}
		ex.line, ex.off = rec.line, rec.off
		return []*exchange{ex}, nil
	}
	if seg := f.obj(o, "http_streamed_trace_segment"); seg != nil {
		return p.segment(rec, &f, seg)
	}
	if f.err != nil {
		return nil, f.err
	}
	if o.get("socket_buffered_trace") != nil || o.get("socket_streamed_trace_segment") != nil {
		p.st.stats.ignored.Add(1) // transport-socket taps: TLS or raw TCP, not ours
		return nil, nil
	}
	return nil, errors.New("not an Envoy tap trace (no http_buffered_trace or http_streamed_trace_segment)")
}

// envoyBuffered reads an HttpBufferedTrace. headers_received_time and
// downstream_connection are optional (record_headers_received_time and
// record_downstream_connection are off by default): absent, the exchange
// gets its time and addresses from the fallbacks (fallback.go).
func envoyBuffered(f *fields, t object) (*exchange, error) {
	reqMsg, respMsg := f.obj(t, "request"), f.obj(t, "response")
	if f.err != nil {
		return nil, f.err
	}
	if reqMsg == nil {
		return nil, errors.New("http_buffered_trace without request")
	}
	ex := &exchange{}
	if err := envoyRequest(ex, envoyHeaders(f, reqMsg)); err != nil {
		return nil, err
	}
	var err error
	if ex.req.Time, err = protoTime(f, reqMsg, "headers_received_time"); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if ex.reqBody, err = envoyBody(f, f.obj(reqMsg, "body")); err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	if c := f.obj(t, "downstream_connection"); c != nil {
		envoyConnection(f, ex, c)
	}
	if respMsg != nil {
		if err := envoyResponse(ex, envoyHeaders(f, respMsg)); err != nil {
			return nil, err
		}
		if ex.resp.Time, err = protoTime(f, respMsg, "headers_received_time"); err != nil {
			return nil, fmt.Errorf("response: %w", err)
		}
		if ex.respBody, err = envoyBody(f, f.obj(respMsg, "body")); err != nil {
			return nil, fmt.Errorf("response body: %w", err)
		}
	}
	return ex, f.err
}

// headerList is a HeaderValue list split into pseudo-headers and the rest.
type headerList struct {
	pseudo map[string]string
	h      http.Header
}

// envoyHeaders reads the headers of a message or HeaderMap.
func envoyHeaders(f *fields, msg object) headerList {
	pseudo, h := map[string]string{}, http.Header{}
	for _, kv := range f.objects(msg, "headers") {
		key, value := f.str(kv, "key"), f.str(kv, "value")
		if raw := f.str(kv, "raw_value"); raw != "" && value == "" {
			if b, err := base64.StdEncoding.DecodeString(raw); err == nil {
				value = string(b)
			}
		}
		if key == "" {
			continue
		}
		if key[0] == ':' {
			pseudo[key] = value
			continue
		}
		h.Add(key, value)
	}
	return headerList{pseudo, h}
}

func envoyRequest(ex *exchange, hl headerList) error {
	pseudo, h := hl.pseudo, hl.h
	method, path := pseudo[":method"], pseudo[":path"]
	if method == "" || path == "" {
		return errors.New("request headers without :method or :path")
	}
	host := pseudo[":authority"]
	if host == "" {
		host = h.Get("Host")
	}
	ex.req = capture.Request{Method: method, Target: path, Host: host, Header: h}
	// :scheme says which port an authority without one means (Envoy sets
	// it from the downstream connection); x-forwarded-proto is the same
	// for HTTP/1 hops before Envoy.
	ex.scheme = pseudo[":scheme"]
	if ex.scheme == "" {
		ex.scheme = h.Get("X-Forwarded-Proto")
	}
	return nil
}

func envoyResponse(ex *exchange, hl headerList) error {
	pseudo, h := hl.pseudo, hl.h
	status, err := strconv.Atoi(pseudo[":status"])
	if err != nil || status < 100 || status > 999 {
		return fmt.Errorf("response headers with bad :status %q", pseudo[":status"])
	}
	ex.resp = &capture.Response{StatusCode: status, Header: h, EventStream: isEventStream(h)}
	return nil
}

func isEventStream(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "text/event-stream"
}

// envoyBody reads a Body: as_bytes (base64, JSON_BODY_AS_BYTES) or
// as_string (JSON_BODY_AS_STRING), and Envoy's truncated flag.
func envoyBody(f *fields, b object) (body, error) {
	if b == nil {
		return body{}, nil
	}
	out := body{cut: f.boolean(b, "truncated")}
	if s := f.str(b, "as_bytes"); s != "" {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return body{}, fmt.Errorf("bad as_bytes: %w", err)
		}
		out.raw = raw
	} else {
		out.raw = []byte(f.str(b, "as_string"))
	}
	return out, f.err
}

// envoyConnection reads downstream_connection: the remote address is the
// client, the local one the listener the client connected to — the server
// a sensor in front of the proxy sees. An address that is no IP socket
// address (a pipe) is left absent.
func envoyConnection(f *fields, ex *exchange, c object) {
	ex.client = envoyAddress(f, f.obj(c, "remote_address"))
	ex.server = envoyAddress(f, f.obj(c, "local_address"))
	if ex.client.IsValid() {
		ex.conn = "envoy|" + ex.client.String() + "|" + ex.server.String()
	}
}

func envoyAddress(f *fields, a object) netip.AddrPort {
	sa := f.obj(a, "socket_address")
	if sa == nil {
		return netip.AddrPort{}
	}
	ip, err := netip.ParseAddr(f.str(sa, "address"))
	if err != nil {
		return netip.AddrPort{}
	}
	port, _ := f.num(sa, "port_value")
	if port < 0 || port > 65535 {
		port = 0
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port))
}

// protoTime reads a google.protobuf.Timestamp in its JSON form; zero when
// absent, an error when present but not a time.
func protoTime(f *fields, o object, key string) (time.Time, error) {
	s := f.str(o, key)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad %s %q", key, s)
	}
	return t, nil
}

func (p *envoyParser) segment(rec rawRecord, f *fields, seg object) ([]*exchange, error) {
	id := f.str(seg, "trace_id")
	reqHeaders, reqChunk, reqTrailers := f.obj(seg, "request_headers"), f.obj(seg, "request_body_chunk"), f.obj(seg, "request_trailers")
	respHeaders, respChunk, respTrailers := f.obj(seg, "response_headers"), f.obj(seg, "response_body_chunk"), f.obj(seg, "response_trailers")
	if f.err != nil { // read every part before any changes the trace
		return nil, f.err
	}
	if id == "" {
		return nil, errors.New("streamed trace segment without trace_id")
	}
	tr := p.traces[id]
	var done []*exchange
	if reqHeaders != nil {
		ex := &exchange{line: rec.line, off: rec.off}
		hl := envoyHeaders(f, reqHeaders)
		if f.err != nil {
			return nil, f.err
		}
		if err := envoyRequest(ex, hl); err != nil {
			return nil, err
		}
		if tr != nil { // trace ids may repeat: the earlier trace is over
			done = append(done, p.finish(id, tr))
		}
		if len(p.traces) >= p.st.cfg.MaxOpenTraces {
			p.st.stats.tracesEvicted.Add(1)
			oldID := p.oldest()
			old := p.traces[oldID]
			old.ex.respBody.cut = true
			done = append(done, p.finish(oldID, old))
		}
		p.traces[id] = &envoyTrace{ex: ex, respWant: -1}
		return done, nil
	}
	if tr == nil {
		if respTrailers != nil {
			// Trailers of a trace already complete by its Content-Length.
			p.st.stats.ignored.Add(1)
			return nil, nil
		}
		return nil, fmt.Errorf("segment of trace %s whose request headers were not seen", id)
	}
	switch {
	case reqChunk != nil:
		return nil, p.chunk(f, &tr.ex.reqBody, reqChunk)
	case reqTrailers != nil:
		return nil, nil
	case respHeaders != nil:
		hl := envoyHeaders(f, respHeaders)
		if f.err != nil {
			return nil, f.err
		}
		if err := envoyResponse(tr.ex, hl); err != nil {
			return nil, err
		}
		tr.haveResp = true
		if cl, err := strconv.ParseInt(tr.ex.resp.Header.Get("Content-Length"), 10, 64); err == nil {
			tr.respWant = cl
		}
		if s := tr.ex.resp.StatusCode; s == 204 || s == 304 || tr.ex.req.Method == "HEAD" {
			tr.respWant = 0
		}
	case respChunk != nil:
		if !tr.haveResp {
			return nil, fmt.Errorf("response body of trace %s before its headers", id)
		}
		before := len(tr.ex.respBody.raw)
		if err := p.chunk(f, &tr.ex.respBody, respChunk); err != nil {
			return nil, err
		}
		tr.respBytes += int64(len(tr.ex.respBody.raw) - before)
	case respTrailers != nil:
		return []*exchange{p.finish(id, tr)}, nil
	default:
		return nil, fmt.Errorf("segment of trace %s carries nothing known", id)
	}
	if tr.haveResp && tr.respWant >= 0 && tr.respBytes >= tr.respWant {
		return []*exchange{p.finish(id, tr)}, nil
	}
	return nil, nil
}

// chunk appends a body chunk, keeping at most MaxBodyBytes of it: the
// rest only marks the body cut.
func (p *envoyParser) chunk(f *fields, b *body, c object) error {
	part, err := envoyBody(f, c)
	if err != nil {
		return err
	}
	b.cut = b.cut || part.cut
	room := p.st.cfg.MaxBodyBytes - int64(len(b.raw))
	if int64(len(part.raw)) > room {
		part.raw, b.cut = part.raw[:max(0, room)], true
	}
	b.raw = append(b.raw, part.raw...)
	return nil
}

func (p *envoyParser) finish(id string, tr *envoyTrace) *exchange {
	delete(p.traces, id)
	if tr.haveResp && tr.respWant > tr.respBytes {
		tr.ex.respBody.cut = true
	}
	if !tr.haveResp {
		tr.ex.resp = nil
	}
	return tr.ex
}

func (p *envoyParser) oldest() string {
	var id string
	var off int64 = -1
	for k, tr := range p.traces {
		if off < 0 || tr.ex.off < off {
			id, off = k, tr.ex.off
		}
	}
	return id
}

// flush hands on every trace still open, in the order they began.
func (p *envoyParser) flush() []*exchange {
	ids := make([]string, 0, len(p.traces))
	for id := range p.traces {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return p.traces[ids[i]].ex.off < p.traces[ids[j]].ex.off })
	out := make([]*exchange, 0, len(ids))
	for _, id := range ids {
		out = append(out, p.finish(id, p.traces[id]))
	}
	return out
}

func (p *envoyParser) pending() (position, bool) {
	id := p.oldest()
	if id == "" {
		return position{}, false
	}
	ex := p.traces[id].ex
	return position{line: ex.line, off: ex.off}, true
}
