package pipeline

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcpwatch/mcpwatch/capture"
)

// A decoder fault on an exchange read from a proxy log has no packets to
// dump: its reproducer is the exchange itself, written as a one-entry HAR
// 1.2 file that `mcpwatch tap --format har` reads back (logtap's HAR
// reader). The request and response are those the panicking call was
// given; for an event stream, the events up to the one that panicked.

type harFile struct {
	Log harLog `json:"log"`
}

type harLog struct {
	Version string     `json:"version"`
	Creator harCreator `json:"creator"`
	Entries []harEntry `json:"entries"`
}

type harCreator struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type harEntry struct {
	StartedDateTime string       `json:"startedDateTime"`
	Time            float64      `json:"time"`
	Request         harRequest   `json:"request"`
	Response        *harResponse `json:"response,omitempty"`
	Timings         harTimings   `json:"timings"`
	Comment         string       `json:"comment"`
}

type harRequest struct {
	Method      string      `json:"method"`
	URL         string      `json:"url"`
	HTTPVersion string      `json:"httpVersion"`
	Headers     []harHeader `json:"headers"`
	PostData    *harContent `json:"postData,omitempty"`
	BodySize    int64       `json:"bodySize"`
}

type harResponse struct {
	Status      int         `json:"status"`
	HTTPVersion string      `json:"httpVersion"`
	Headers     []harHeader `json:"headers"`
	Content     harContent  `json:"content"`
}

type harHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type harContent struct {
	MimeType string `json:"mimeType"`
	Text     string `json:"text"`
	Encoding string `json:"encoding,omitempty"`
	Size     int64  `json:"size"`
}

type harTimings struct {
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
}

// writeFaultHAR writes the exchange of a handler fault as DIR/fault-TIME-
// exchange.har and returns its path; "" when the fault had no exchange.
func writeFaultHAR(dir string, f capture.Fault) (string, error) {
	req := f.Request
	if req == nil && f.Response == nil {
		return "", nil
	}
	if req == nil {
		req = &capture.Request{Method: "GET", Target: "/", Time: f.Response.Time}
	}
	host := req.Host
	if host == "" {
		host = f.Server.String()
	}
	entry := harEntry{
		StartedDateTime: req.Time.UTC().Format(time.RFC3339Nano),
		Request: harRequest{
			Method: req.Method, URL: "http://" + host + req.Target, HTTPVersion: req.Proto,
			Headers: harHeaders(req.Header), BodySize: req.BodyLen,
		},
		Comment: fmt.Sprintf("mcpwatch fault reproducer: %s", f),
	}
	if len(req.Body) > 0 {
		c := harBody(req.Body, req.Header.Get("Content-Type"))
		entry.Request.PostData = &c
	}
	if resp := f.Response; resp != nil {
		body := resp.Body
		if f.Event != nil {
			body = sseText(f.Event)
		}
		c := harBody(body, resp.Header.Get("Content-Type"))
		entry.Response = &harResponse{Status: resp.StatusCode, HTTPVersion: resp.Proto, Headers: harHeaders(resp.Header), Content: c}
	}
	data, err := json.MarshalIndent(harFile{Log: harLog{Version: "1.2", Creator: harCreator{Name: "mcpwatch", Version: "fault"}, Entries: []harEntry{entry}}}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("fault-%s-exchange.har", f.Time.UTC().Format("20060102T150405.000000000Z")))
	return path, os.WriteFile(path, data, 0o600)
}

// harHeaders lists h sorted by name, so a reproducer reads the same twice.
func harHeaders(h http.Header) []harHeader {
	out := []harHeader{}
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			out = append(out, harHeader{Name: name, Value: v})
		}
	}
	return out
}

// harBody is a body as HAR content: text when it is UTF-8, else base64.
func harBody(b []byte, mimeType string) harContent {
	c := harContent{MimeType: mimeType, Size: int64(len(b))}
	if utf8.Valid(b) {
		c.Text = string(b)
	} else {
		c.Text, c.Encoding = base64.StdEncoding.EncodeToString(b), "base64"
	}
	return c
}

// sseText is one event as an event stream carries it.
func sseText(ev *capture.SSEEvent) []byte {
	var b strings.Builder
	if ev.ID != "" {
		b.WriteString("id: " + ev.ID + "\n")
	}
	if ev.Event != "" && ev.Event != "message" {
		b.WriteString("event: " + ev.Event + "\n")
	}
	for _, line := range strings.Split(ev.Data, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	return []byte(b.String())
}
