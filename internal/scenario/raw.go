package scenario

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// RawCall is one POST of a hand-made JSON-RPC body: what no SDK client
// sends but servers must handle (batches, headers that disagree with the
// body).
type RawCall struct {
	Header map[string]string
	Body   string
}

// RunRaw starts a go-sdk server for spec and POSTs calls to it in order
// from clientIP over one recorded keep-alive connection. The Mcp-Session-Id
// the server hands out is sent on later calls, as a client would. Every
// message written and read (batches element by element) goes to the
// returned Log in mcp.LoggingTransport's format, so it is ground truth like
// an SDK's log.
func RunRaw(ctx context.Context, rec *tcprec.Recorder, spec ServerSpec, clientIP netip.Addr, calls []RawCall) (*Log, error) {
	srv, err := StartServer(spec)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	tr := &http.Transport{DialContext: rec.DialContext(srv.realAddr, clientIP, spec.As)}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	log := &Log{}
	var session string
	for i, c := range calls {
		req, err := http.NewRequestWithContext(ctx, "POST", srv.URL(), strings.NewReader(c.Body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		for k, v := range c.Header {
			req.Header.Set(k, v)
		}
		logMessages(log, "write", []byte(c.Body))
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("raw call %d: %w", i, err)
		}
		if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
			session = sid
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("raw call %d: read response: %w", i, err)
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			sc := bufio.NewScanner(bytes.NewReader(body))
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && data != "" {
					logMessages(log, "read", []byte(data))
				}
			}
		} else if json.Valid(body) {
			logMessages(log, "read", body)
		}
	}
	return log, nil
}

// logMessages writes the messages of a JSON-RPC body, one line each.
func logMessages(log *Log, dir string, body []byte) {
	var batch []json.RawMessage
	if json.Unmarshal(body, &batch) != nil {
		batch = []json.RawMessage{body}
	}
	for _, m := range batch {
		var compact bytes.Buffer
		if json.Compact(&compact, m) == nil {
			fmt.Fprintf(log, "%s: %s\n", dir, compact.Bytes())
		}
	}
}
