package logtap

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The tap samples are not written by Envoy, a browser or nginx: none can be
// installed here (`apt-cache policy envoy` finds nothing; Chromium could
// give HAR through DevTools, but that needs a CDP client this module does
// not have). They are written by a reverse proxy (scenario.Front, an
// httputil.ReverseProxy) in front of a real go-sdk server, logging each
// exchange of a real SDK conversation in the published schemas:
// envoy.data.tap.v3 TraceWrapper (HttpBufferedTrace with
// downstream_connection and headers_received_time; HttpStreamedTraceSegment)
// as Envoy's file sink serialises it (snake_case, 64-bit ids as strings),
// HAR 1.2 (W3C draft, as Chrome exports it), and the access-log
// json_format/log_format of deploy/logtap.

// proxied is one exchange as the proxy saw it.
type proxied struct {
	peer                          string // the loopback client address the proxy saw
	client, server                netip.AddrPort
	method, target, proto, host   string
	reqHeader                     http.Header
	reqBody                       []byte
	status                        int
	respHeader                    http.Header
	respBody                      []byte
	start, reqEnd, respStart, end time.Time
}

// proxyLog records the exchanges passing through the handler it wraps.
type proxyLog struct {
	mu  sync.Mutex
	exs []*proxied
}

func (pl *proxyLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex := &proxied{peer: r.RemoteAddr, method: r.Method, target: r.RequestURI, proto: r.Proto, host: r.Host,
			reqHeader: r.Header.Clone(), start: time.Now()}
		body, _ := io.ReadAll(r.Body)
		ex.reqBody, ex.reqEnd = body, time.Now()
		r.Body = io.NopCloser(bytes.NewReader(body))
		rw := &recordingWriter{ResponseWriter: w, ex: ex}
		next.ServeHTTP(rw, r)
		if ex.status == 0 {
			rw.WriteHeader(http.StatusOK)
		}
		ex.end = time.Now()
		pl.mu.Lock()
		pl.exs = append(pl.exs, ex) // a proxy logs an exchange when it completes
		pl.mu.Unlock()
	})
}

// take returns what was logged and starts afresh.
func (pl *proxyLog) take() []*proxied {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	out := pl.exs
	pl.exs = nil
	return out
}

type recordingWriter struct {
	http.ResponseWriter
	ex *proxied
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.ex.status == 0 {
		w.ex.status, w.ex.respHeader, w.ex.respStart = code, w.Header().Clone(), time.Now()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.ex.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.ex.respBody = append(w.ex.respBody, p...)
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController (ReverseProxy's flushes of event
// streams) reach the real writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *recordingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// --- envoy.data.tap.v3, as Envoy's JSON sink writes it ---

type envoyHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type envoyBodyJSON struct {
	Truncated bool   `json:"truncated"`
	AsBytes   string `json:"as_bytes,omitempty"`
	AsString  string `json:"as_string,omitempty"`
}

type envoyMessage struct {
	Headers             []envoyHeader  `json:"headers"`
	Body                *envoyBodyJSON `json:"body,omitempty"`
	Trailers            []envoyHeader  `json:"trailers"`
	HeadersReceivedTime string         `json:"headers_received_time,omitempty"`
}

type envoySocketAddress struct {
	Address   string `json:"address"`
	PortValue uint16 `json:"port_value"`
}

type envoyAddressJSON struct {
	SocketAddress envoySocketAddress `json:"socket_address"`
}

type envoyConnectionJSON struct {
	LocalAddress  envoyAddressJSON `json:"local_address"`
	RemoteAddress envoyAddressJSON `json:"remote_address"`
}

type envoyBufferedJSON struct {
	Request              envoyMessage         `json:"request"`
	Response             envoyMessage         `json:"response"`
	DownstreamConnection *envoyConnectionJSON `json:"downstream_connection,omitempty"`
}

type envoyHeaderMap struct {
	Headers []envoyHeader `json:"headers"`
}

type envoySegmentJSON struct {
	TraceID           string          `json:"trace_id"`
	RequestHeaders    *envoyHeaderMap `json:"request_headers,omitempty"`
	RequestBodyChunk  *envoyBodyJSON  `json:"request_body_chunk,omitempty"`
	ResponseHeaders   *envoyHeaderMap `json:"response_headers,omitempty"`
	ResponseBodyChunk *envoyBodyJSON  `json:"response_body_chunk,omitempty"`
	ResponseTrailers  *envoyHeaderMap `json:"response_trailers,omitempty"`
}

type envoyWrapperJSON struct {
	HTTPBufferedTrace        *envoyBufferedJSON `json:"http_buffered_trace,omitempty"`
	HTTPStreamedTraceSegment *envoySegmentJSON  `json:"http_streamed_trace_segment,omitempty"`
}

// envoyHeadersOf lists headers as Envoy does: pseudo-headers first, names
// lower-cased, in a stable order.
func envoyHeadersOf(pseudo [][2]string, h http.Header) []envoyHeader {
	out := []envoyHeader{}
	for _, p := range pseudo {
		out = append(out, envoyHeader{p[0], p[1]})
	}
	for _, k := range sortedHeaderNames(h) {
		for _, v := range h[k] {
			out = append(out, envoyHeader{strings.ToLower(k), v})
		}
	}
	return out
}

func sortedHeaderNames(h http.Header) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func envoyTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func envoyAddr(a netip.AddrPort) envoyAddressJSON {
	return envoyAddressJSON{envoySocketAddress{a.Addr().String(), a.Port()}}
}

func (ex *proxied) requestPseudo() [][2]string {
	return [][2]string{{":authority", ex.host}, {":path", ex.target}, {":method", ex.method}, {":scheme", "http"}}
}

func (ex *proxied) responsePseudo() [][2]string {
	return [][2]string{{":status", strconv.Itoa(ex.status)}}
}

// writeEnvoyBuffered writes buffered traces as pretty-printed documents
// one after another (Envoy's file sink writes one per file; the admin
// stream and collectors concatenate them), bodies as_bytes.
func writeEnvoyBuffered(w io.Writer, exs []*proxied) error {
	for _, ex := range exs {
		tr := envoyWrapperJSON{HTTPBufferedTrace: &envoyBufferedJSON{
			Request: envoyMessage{Headers: envoyHeadersOf(ex.requestPseudo(), ex.reqHeader), Trailers: []envoyHeader{},
				Body: &envoyBodyJSON{AsBytes: base64.StdEncoding.EncodeToString(ex.reqBody)}, HeadersReceivedTime: envoyTime(ex.start)},
			Response: envoyMessage{Headers: envoyHeadersOf(ex.responsePseudo(), ex.respHeader), Trailers: []envoyHeader{},
				Body: &envoyBodyJSON{AsBytes: base64.StdEncoding.EncodeToString(ex.respBody)}, HeadersReceivedTime: envoyTime(ex.respStart)},
			DownstreamConnection: &envoyConnectionJSON{LocalAddress: envoyAddr(ex.server), RemoteAddress: envoyAddr(ex.client)},
		}}
		b, err := json.MarshalIndent(tr, "", " ")
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
			return err
		}
	}
	return nil
}

// writeEnvoyStreamed writes the streamed trace segments of each exchange as
// file_per_tap does with streaming on: one file per trace, its segments
// pretty-printed one after another, bodies as_string (JSON_BODY_AS_STRING),
// event-stream bodies in one chunk per event as the proxy flushed them.
// Exchanges are numbered in the order they started, as trace ids are.
func writeEnvoyStreamed(dir string, exs []*proxied) error {
	exs = append([]*proxied(nil), exs...)
	sort.SliceStable(exs, func(i, j int) bool { return exs[i].start.Before(exs[j].start) })
	for i, ex := range exs {
		id := strconv.FormatUint(uint64(1e18)+uint64(i)*7919, 10)
		var w bytes.Buffer
		segs := []envoySegmentJSON{{TraceID: id, RequestHeaders: &envoyHeaderMap{envoyHeadersOf(ex.requestPseudo(), ex.reqHeader)}}}
		if len(ex.reqBody) > 0 {
			segs = append(segs, envoySegmentJSON{TraceID: id, RequestBodyChunk: &envoyBodyJSON{AsString: string(ex.reqBody)}})
		}
		segs = append(segs, envoySegmentJSON{TraceID: id, ResponseHeaders: &envoyHeaderMap{envoyHeadersOf(ex.responsePseudo(), ex.respHeader)}})
		for _, chunk := range bytes.SplitAfter(ex.respBody, []byte("\n\n")) {
			if len(chunk) > 0 {
				segs = append(segs, envoySegmentJSON{TraceID: id, ResponseBodyChunk: &envoyBodyJSON{AsString: string(chunk)}})
			}
		}
		for _, s := range segs {
			b, err := json.MarshalIndent(envoyWrapperJSON{HTTPStreamedTraceSegment: &s}, "", " ")
			if err != nil {
				return err
			}
			fmt.Fprintf(&w, "%s\n", b)
		}
		if err := os.WriteFile(filepath.Join(dir, "tap_"+id+".json"), w.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// --- HAR 1.2 ---

type harNV struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type harPostData struct {
	MimeType string `json:"mimeType"`
	Text     string `json:"text"`
}

type harContent struct {
	Size     int64  `json:"size"`
	MimeType string `json:"mimeType"`
	Text     string `json:"text,omitempty"`
	Encoding string `json:"encoding,omitempty"`
}

type harRequestJSON struct {
	Method      string       `json:"method"`
	URL         string       `json:"url"`
	HTTPVersion string       `json:"httpVersion"`
	Cookies     []harNV      `json:"cookies"`
	Headers     []harNV      `json:"headers"`
	QueryString []harNV      `json:"queryString"`
	PostData    *harPostData `json:"postData,omitempty"`
	HeadersSize int          `json:"headersSize"`
	BodySize    int          `json:"bodySize"`
}

type harResponseJSON struct {
	Status      int        `json:"status"`
	StatusText  string     `json:"statusText"`
	HTTPVersion string     `json:"httpVersion"`
	Cookies     []harNV    `json:"cookies"`
	Headers     []harNV    `json:"headers"`
	Content     harContent `json:"content"`
	RedirectURL string     `json:"redirectURL"`
	HeadersSize int        `json:"headersSize"`
	BodySize    int        `json:"bodySize"`
}

type harTimings struct {
	Blocked float64 `json:"blocked"`
	DNS     float64 `json:"dns"`
	Connect float64 `json:"connect"`
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
	SSL     float64 `json:"ssl"`
}

type harEntryJSON struct {
	StartedDateTime string          `json:"startedDateTime"`
	Time            float64         `json:"time"`
	Request         harRequestJSON  `json:"request"`
	Response        harResponseJSON `json:"response"`
	Cache           struct{}        `json:"cache"`
	Timings         harTimings      `json:"timings"`
	ServerIPAddress string          `json:"serverIPAddress"`
	Connection      string          `json:"connection"`
	ResourceType    string          `json:"_resourceType"`
}

func harHeadersOf(host string, h http.Header) []harNV {
	out := []harNV{{"Host", host}}
	for _, k := range sortedHeaderNames(h) {
		for _, v := range h[k] {
			out = append(out, harNV{k, v})
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// writeHAR writes a HAR 1.2 log; event-stream content is base64 (as
// Chrome does for bodies it does not treat as text), the rest plain.
func writeHAR(w io.Writer, exs []*proxied) error {
	entries := []harEntryJSON{}
	for _, ex := range exs {
		e := harEntryJSON{
			StartedDateTime: ex.start.UTC().Format(time.RFC3339Nano),
			Time:            ms(ex.end.Sub(ex.start)),
			Request: harRequestJSON{Method: ex.method, URL: "http://" + ex.host + ex.target, HTTPVersion: ex.proto,
				Cookies: []harNV{}, Headers: harHeadersOf(ex.host, ex.reqHeader), QueryString: []harNV{}, HeadersSize: -1, BodySize: len(ex.reqBody)},
			Response: harResponseJSON{Status: ex.status, StatusText: http.StatusText(ex.status), HTTPVersion: ex.proto,
				Cookies: []harNV{}, Headers: harHeadersOf(ex.host, ex.respHeader)[1:], HeadersSize: -1, BodySize: len(ex.respBody),
				Content: harContent{Size: int64(len(ex.respBody)), MimeType: ex.respHeader.Get("Content-Type")}},
			Timings:         harTimings{Blocked: -1, DNS: -1, Connect: -1, SSL: -1, Send: ms(ex.reqEnd.Sub(ex.start)), Wait: ms(ex.respStart.Sub(ex.reqEnd)), Receive: ms(ex.end.Sub(ex.respStart))},
			ServerIPAddress: ex.server.Addr().String(),
			Connection:      strconv.Itoa(int(ex.client.Port())),
			ResourceType:    "fetch",
		}
		if len(ex.reqBody) > 0 {
			e.Request.PostData = &harPostData{MimeType: ex.reqHeader.Get("Content-Type"), Text: string(ex.reqBody)}
		}
		if strings.HasPrefix(ex.respHeader.Get("Content-Type"), "text/event-stream") {
			e.Response.Content.Text, e.Response.Content.Encoding = base64.StdEncoding.EncodeToString(ex.respBody), "base64"
		} else if len(ex.respBody) > 0 {
			e.Response.Content.Text = string(ex.respBody)
		}
		entries = append(entries, e)
	}
	doc := map[string]any{"log": map[string]any{
		"version": "1.2",
		"creator": map[string]string{"name": "mcpwatch logtap test proxy", "version": "1"},
		"pages":   []any{},
		"entries": entries,
	}}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// --- access logs, in the formats of deploy/logtap ---

// writeAccessLog writes one JSON line per exchange under the keys of fm,
// as Envoy's json_format (numbers) or nginx escape=json (strings) would.
func writeAccessLog(w io.Writer, exs []*proxied, fm FieldMap, nginx bool) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, ex := range exs {
		line := map[string]any{}
		num := func(key string, v int64) {
			if nginx {
				line[key] = strconv.FormatInt(v, 10)
			} else {
				line[key] = v
			}
		}
		line[fm.Method], line[fm.Path], line[fm.Protocol], line[fm.Authority] = ex.method, ex.target, ex.proto, ex.host
		num(fm.Status, int64(ex.status))
		num(fm.RequestBytes, int64(len(ex.reqBody)))
		num(fm.ResponseBytes, int64(len(ex.respBody)))
		num(fm.ConnectionID, int64(ex.client.Port()))
		d := ex.end.Sub(ex.start)
		if nginx {
			line[fm.Time] = fmt.Sprintf("%.3f", float64(ex.end.UnixMilli())/1000)
			line[fm.Duration] = fmt.Sprintf("%.3f", d.Seconds())
			line[fm.ClientAddress], line[fm.ClientPort] = ex.client.Addr().String(), strconv.Itoa(int(ex.client.Port()))
			line[fm.ServerAddress], line[fm.ServerPort] = ex.server.Addr().String(), strconv.Itoa(int(ex.server.Port()))
		} else {
			line[fm.Time] = ex.start.UTC().Format("2006-01-02T15:04:05.000Z")
			line[fm.Duration] = d.Milliseconds()
			line[fm.ClientAddress], line[fm.ServerAddress] = ex.client.String(), ex.server.String()
		}
		for name, key := range fm.RequestHeaders {
			v := ex.reqHeader.Get(name)
			if name == "Authorization" {
				v, _, _ = strings.Cut(v, " ") // the configs log the scheme only
			}
			if v == "" {
				v = "-"
			}
			line[key] = v
		}
		for name, key := range fm.ResponseHeaders {
			v := ex.respHeader.Get(name)
			if v == "" {
				v = "-"
			}
			line[key] = v
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	return nil
}
