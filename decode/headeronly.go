package decode

import (
	"strings"

	"github.com/mcpwatch/mcpwatch/capture"
)

// truncNotLogged is the TruncatedBy of a body that a log counted but did not
// keep (logtap.TruncNotLogged: header-only access logs). decode cannot
// import logtap, whose tests import decode; TestNotLoggedIsLogtaps keeps
// the two equal.
const truncNotLogged = "not-logged"

// notLogged reports whether a request or response body is known only by
// its length: nothing of it was seen, not even a prefix to scan.
func notLogged(truncatedBy string, body []byte) bool {
	return truncatedBy == truncNotLogged && len(body) == 0
}

// headerRequest stands for the JSON-RPC request of a 2026-07-28 exchange
// that a log recorded without its body: the method from Mcp-Method, the
// tool, prompt or resource from Mcp-Name, the size from the logged byte
// count. It has no id — the exchange, not the session's pending table,
// pairs it with its response — and is flagged truncated, as every field
// the body alone carries is missing.
func headerRequest(ex *exchange, size int64) message {
	m := message{jsonrpc: true, method: ex.hdrMethod, bytes: size, truncated: true, headerOnly: true}
	// The transport has no id to show, but a request is answered: only
	// notifications are not.
	m.hasID = !strings.HasPrefix(m.method, "notifications/")
	if t := m.target(); t != nil {
		*t = ex.hdrName
	}
	return m
}

// headerResponse reports the answer to a request known only from its
// headers, when the log kept no body of the response either: a response,
// or an error when the HTTP status is 400 or more. There is none for a
// notification (202, no body), for an empty body, or when the logged
// Content-Type shows the body was not JSON-RPC (a 401 in text/plain).
func (d *Decoder) headerResponse(ex *exchange, resp *capture.Response) {
	if ex.headerReq == nil || !notLogged(resp.TruncatedBy, resp.Body) || !mayCarryJSONRPC(headerValue(resp.Header, "Content-Type")) {
		return
	}
	m := message{jsonrpc: true, bytes: resp.BodyLen, truncated: true, headerOnly: true, answers: ex.headerReq}
	m.hasError = resp.StatusCode >= 400
	m.hasResult = !m.hasError
	d.serverMessages(ex, []message{m}, resp.Time, "")
}

// mayCarryJSONRPC reports whether a response of this Content-Type can be
// JSON-RPC: JSON, an event stream, or a type the log did not record.
func mayCarryJSONRPC(contentType string) bool {
	ct := strings.ToLower(strings.TrimSpace(contentType))
	return ct == "" || strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "text/event-stream")
}
