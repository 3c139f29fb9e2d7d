package capture

import (
	"net/http"
	"net/netip"
	"time"
)

// Conn is one TCP connection. The Engine creates it when the connection is
// first seen and passes the same pointer with every callback for it.
type Conn struct {
	// ID is unique within one Engine and deterministic: connections are
	// numbered from 1 in the order their first SYN or data packet appears
	// (a bare ACK of an unknown connection opens none). A connection
	// resumed after parking (see the package doc) keeps its ID.
	ID uint64
	// Client and Server are the TCP endpoints. The client is the SYN sender;
	// for connections seen mid-stream, the side that sent the first HTTP
	// request line (or, failing that, the higher port).
	Client, Server netip.AddrPort
	// Start is the time of the connection's first packet.
	Start time.Time
}

// Request is one HTTP/1.1 request.
type Request struct {
	Conn *Conn
	// Seq numbers the exchanges on Conn from 0; Response.Seq matches it.
	Seq int
	// Time is when the first byte of the request was seen.
	Time time.Time
	// End is when the last byte of the request was seen.
	End    time.Time
	Method string
	// Target is the request-target as sent (origin-form "/mcp?x=1" usually).
	Target string
	Proto  string
	Host   string
	Header http.Header
	// Body is the decoded body (chunked and content-encoding removed), cut at
	// Config.MaxBodyBytes.
	Body []byte
	// BodyLen counts every decoded body byte, including those beyond the cap.
	BodyLen int64
	// Truncated is set when Body is not the whole body (cap or capture gap);
	// TruncatedBy says why (TruncBodyCap, TruncGap, …).
	Truncated   bool
	TruncatedBy string
}

// Response is one HTTP/1.1 response, matched to its Request.
type Response struct {
	Conn *Conn
	// Seq is the Seq of the Request answered; for a response without one
	// (one-sided capture, request lost) it is minus one minus the
	// response's position on the connection (-1 for the first), so that it
	// never names a request's exchange.
	Seq        int
	Time       time.Time
	End        time.Time
	StatusCode int
	Proto      string
	Header     http.Header
	// Body is the decoded body; empty for an event stream, whose events are
	// delivered one by one through Handler.SSEEvent as they complete.
	Body        []byte
	BodyLen     int64
	Truncated   bool
	TruncatedBy string
	// EventStream is set for Content-Type text/event-stream responses. For
	// those, End, BodyLen and Truncated are final only at ResponseEnd.
	EventStream bool
}

// SSEEvent is one Server-Sent Event of an event-stream Response.
type SSEEvent struct {
	// Time is when the event's last line was seen.
	Time  time.Time
	ID    string
	Event string // "message" when the stream gave no event field
	Data  string // data lines joined with "\n", cut at Config.MaxBodyBytes
	// DataLen counts every byte of the data, including those beyond the
	// cap (Truncated is then set).
	DataLen int64
	Retry   int // milliseconds; 0 when absent
	// Index numbers the events of one Response from 0.
	Index int
	// Truncated is set when a capture gap fell inside this event or its
	// data went over the cap.
	Truncated bool
}

// Application protocols a connection may be classified as.
const (
	AppHTTP  = "http"
	AppTLS   = "tls"
	AppOther = "other"
)

// Connection end reasons.
const (
	ConnEndFIN      = "fin"
	ConnEndRST      = "rst"
	ConnEndIdle     = "idle"
	ConnEndInputEnd = "input-end"
	ConnEndEvicted  = "evicted"
)

// ConnEnd summarises a connection when it ends.
type ConnEnd struct {
	Time        time.Time
	Reason      string
	AppProtocol string
	// TLS ClientHello metadata, when AppProtocol is AppTLS.
	TLSSNI   string
	TLSALPN  []string
	BytesC2S int64
	BytesS2C int64
	Packets  int64
	// GapBytes counts bytes lost to capture gaps in either direction.
	GapBytes int64
	// Exchanges counts HTTP requests parsed on the connection.
	Exchanges int
	// Upgrade is the protocol a 101 response switched to ("websocket"), or
	// "tunnel" after a CONNECT; parsing stops there.
	Upgrade string
}

// Handler receives what the Engine reconstructs. One goroutine calls it, in
// packet-time order; the Handler must not retain Body slices past the call
// unless it copies them (the Engine reuses response buffers once
// ResponseEnd has returned).
//
// The *Request passed with a response is nil when no request was seen for
// it: a one-sided capture, a mid-stream start, or a request lost to a gap.
type Handler interface {
	// Request is called when a request is complete (headers and body).
	Request(req *Request)
	// Response is called when a response's headers are complete and, for a
	// non-stream response, its body too. For an event stream it is called
	// at the headers, before the first SSEEvent.
	Response(req *Request, resp *Response)
	// SSEEvent is called for each event of an event-stream response, as soon
	// as the event is complete — long-lived streams yield events while open.
	SSEEvent(req *Request, resp *Response, ev *SSEEvent)
	// ResponseEnd is called when a response (event stream or not) is over.
	ResponseEnd(req *Request, resp *Response)
	// ConnEnd is called once per connection, last.
	ConnEnd(conn *Conn, end *ConnEnd)
}
