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
	var f fields
	rq, rs := f.obj(e, "request"), f.obj(e, "response")
	if f.err != nil {
		return nil, f.err
	}
	if rq == nil {
		return nil, errors.New("HAR entry without request")
	}
	rawURL, method := f.str(rq, "url"), f.str(rq, "method")
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("HAR request with bad url %q", rawURL)
	}
	if method == "" {
		return nil, errors.New("HAR request without method")
	}
	h := harHeaders(&f, rq)
	host := h.Get("Host")
	if host == "" {
		host = u.Host // HTTP/2 and 3 carry :authority, which HAR tools drop or list as a pseudo-header
	}
	ex := &exchange{line: rec.line, off: rec.off, scheme: u.Scheme}
	ex.req = capture.Request{Method: method, Target: u.RequestURI(), Proto: harProto(f.str(rq, "httpVersion")), Host: host, Header: h}
	if pd := f.obj(rq, "postData"); pd != nil {
		// postData has no encoding field in HAR 1.2, but some exporters
		// (Fiddler, Charles) add one for binary bodies, as on content.
		if ex.reqBody, err = harText(f.str(pd, "text"), f.str(pd, "encoding")); err != nil {
			return nil, fmt.Errorf("request postData: %w", err)
		}
	}
	if n, ok := f.num(rq, "bodySize"); ok && n > 0 { // -1: unknown
		ex.reqBody.size = int64(n)
	}
	ex.reqBody.decodedAlready = true

	// startedDateTime is required by HAR 1.2 and every browser writes it
	// (Chrome in UTC with Z, Firefox with the local offset); an entry
	// without one gets a fallback time like any untimed record.
	var start time.Time
	if s := f.str(e, "startedDateTime"); s != "" {
		if start, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, fmt.Errorf("HAR entry with bad startedDateTime %q", s)
		}
	}
	tm := f.obj(e, "timings") // Firefox writes {} when it has none
	ms := func(k string) time.Duration {
		v, ok := f.num(tm, k)
		if !ok || v < 0 || math.IsInf(v, 0) || v > 1e12 {
			return 0 // -1: does not apply
		}
		return time.Duration(v * float64(time.Millisecond))
	}
	if !start.IsZero() {
		// ssl is already counted in connect (HAR 1.2 §timings).
		ex.req.Time = start.Add(ms("blocked") + ms("dns") + ms("connect"))
		ex.req.End = ex.req.Time.Add(ms("send"))
	}

	port := u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	// Chrome keeps the brackets of an IPv6 serverIPAddress, Firefox does
	// not; both leave it out (Chrome: "") when no connection was made.
	if ip, err := netip.ParseAddr(strings.Trim(f.str(e, "serverIPAddress"), "[]")); err == nil {
		p, _ := strconv.ParseUint(port, 10, 16)
		ex.server = netip.AddrPortFrom(ip.Unmap(), uint16(p))
	}
	// connection is Chrome's socket id, or Firefox's remote port (which
	// names the server, not a connection): either groups exchanges.
	if c := f.str(e, "connection"); c != "" {
		ex.conn = "har|" + c + "|" + ex.server.String() + "|" + host
	}

	status, _ := f.num(rs, "status")
	if f.err != nil {
		return nil, f.err
	}
	if rs == nil || status < 100 || status > 999 {
		return []*exchange{ex}, nil // status 0: blocked or failed in the browser, no response
	}
	rh := harHeaders(&f, rs)
	ex.resp = &capture.Response{StatusCode: int(status), Proto: harProto(f.str(rs, "httpVersion")), Header: rh, EventStream: isEventStream(rh)}
	if !ex.req.Time.IsZero() {
		ex.resp.Time = ex.req.End.Add(ms("wait"))
		ex.resp.End = ex.resp.Time.Add(ms("receive"))
	}
	// content.text is missing when the exporter kept no body (Firefox for
	// non-text bodies or with bodies off, Chrome for an unfinished
	// stream); content.size then still says how long it was.
	if c := f.obj(rs, "content"); c != nil {
		if ex.respBody, err = harText(f.str(c, "text"), f.str(c, "encoding")); err != nil {
			return nil, fmt.Errorf("response content: %w", err)
		}
		if n, ok := f.num(c, "size"); ok && n > 0 {
			ex.respBody.size = int64(n)
		}
	}
	// content.text is decoded already: the Content-Encoding header says
	// how it travelled, not what the HAR holds.
	ex.respBody.decodedAlready = true
	return []*exchange{ex}, f.err
}

func defaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "https", "wss":
		return "443"
	case "http", "ws":
		return "80"
	}
	return ""
}

func harHeaders(f *fields, msg object) http.Header {
	h := http.Header{}
	for _, kv := range f.objects(msg, "headers") {
		name := f.str(kv, "name")
		if name == "" || name[0] == ':' {
			continue
		}
		h.Add(name, f.str(kv, "value"))
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
