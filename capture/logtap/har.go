package logtap

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
)

// harParser reads HAR 1.2 entries (log.entries[]). Fields that tools add
// with a leading underscore (_initiator, _resourceType, _transferSize…)
// are ignored, as the spec asks of readers.
type harParser struct{}

func (harParser) flush() []*exchange        { return nil }
func (harParser) pending() (position, bool) { return position{}, false }

func (harParser) parse(rec rawRecord) ([]*exchange, error) {
	e, err := decodeObject(rec.data)
	if err != nil {
		return nil, err
	}
	rq, rs := e.obj("request"), e.obj("response")
	if rq == nil {
		return nil, errors.New("HAR entry without request")
	}
	u, err := url.Parse(rq.str("url"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("HAR request with bad url %q", rq.str("url"))
	}
	method := rq.str("method")
	if method == "" {
		return nil, errors.New("HAR request without method")
	}
	h := harHeaders(rq.list("headers"))
	host := h.Get("Host")
	if host == "" {
		host = u.Host // HTTP/2 and 3 carry :authority, which HAR tools drop or list as a pseudo-header
	}
	ex := &exchange{line: rec.line, off: rec.off}
	ex.req = capture.Request{Method: method, Target: u.RequestURI(), Proto: harProto(rq.str("httpVersion")), Host: host, Header: h}
	if pd := rq.obj("postData"); pd != nil {
		// postData has no encoding field in HAR 1.2, but some exporters
		// (Fiddler, Charles) add one for binary bodies, as on content.
		if ex.reqBody, err = harText(pd.str("text"), pd.str("encoding")); err != nil {
			return nil, fmt.Errorf("request postData: %w", err)
		}
	}
	if n, ok := rq.num("bodySize"); ok && n > 0 {
		ex.reqBody.size = int64(n)
	}
	ex.reqBody.decodedAlready = true

	start, err := time.Parse(time.RFC3339Nano, e.str("startedDateTime"))
	if err != nil {
		return nil, fmt.Errorf("HAR entry with bad startedDateTime %q", e.str("startedDateTime"))
	}
	tm := e.obj("timings")
	ms := func(k string) time.Duration {
		v, ok := tm.num(k)
		if !ok || v < 0 || math.IsInf(v, 0) || v > 1e12 {
			return 0 // -1: does not apply
		}
		return time.Duration(v * float64(time.Millisecond))
	}
	// ssl is already counted in connect (HAR 1.2 §timings).
	ex.req.Time = start.Add(ms("blocked") + ms("dns") + ms("connect"))
	ex.req.End = ex.req.Time.Add(ms("send"))

	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "wss": "443"}[u.Scheme]
		if port == "" {
			port = "80"
		}
	}
	if ip, err := netip.ParseAddr(strings.Trim(e.str("serverIPAddress"), "[]")); err == nil {
		p, _ := strconv.ParseUint(port, 10, 16)
		ex.server = netip.AddrPortFrom(ip.Unmap(), uint16(p))
	}
	if c := e.str("connection"); c != "" {
		ex.conn = "har|" + c + "|" + ex.server.String() + "|" + host
	}

	status, _ := rs.num("status")
	if rs == nil || status < 100 || status > 999 {
		return []*exchange{ex}, nil // status 0: blocked or failed in the browser, no response
	}
	rh := harHeaders(rs.list("headers"))
	ex.resp = &capture.Response{StatusCode: int(status), Proto: harProto(rs.str("httpVersion")), Header: rh, EventStream: isEventStream(rh)}
	ex.resp.Time = ex.req.End.Add(ms("wait"))
	ex.resp.End = ex.resp.Time.Add(ms("receive"))
	if c := rs.obj("content"); c != nil {
		if ex.respBody, err = harText(c.str("text"), c.str("encoding")); err != nil {
			return nil, fmt.Errorf("response content: %w", err)
		}
		if n, ok := c.num("size"); ok && n > 0 {
			ex.respBody.size = int64(n)
		}
	}
	// content.text is decoded already: the Content-Encoding header says
	// how it travelled, not what the HAR holds.
	ex.respBody.decodedAlready = true
	return []*exchange{ex}, nil
}

func harHeaders(list []any) http.Header {
	h := http.Header{}
	for _, v := range list {
		m, _ := v.(map[string]any)
		kv := object(m)
		name := kv.str("name")
		if name == "" || name[0] == ':' {
			continue
		}
		h.Add(name, kv.str("value"))
	}
	return h
}

// harText reads content.text, base64 when encoding says so.
func harText(text, encoding string) (body, error) {
	if strings.EqualFold(encoding, "base64") {
		raw, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return body{}, fmt.Errorf("bad base64 text: %w", err)
		}
		return body{raw: raw}, nil
	}
	return body{raw: []byte(text)}, nil
}

// harProto normalises httpVersion ("HTTP/1.1", "http/2.0", "h2", "h3").
func harProto(v string) string {
	switch strings.ToLower(v) {
	case "h2", "http/2", "http/2.0":
		return "HTTP/2.0"
	case "h3", "http/3", "http/3.0":
		return "HTTP/3.0"
	}
	return strings.ToUpper(v)
}
