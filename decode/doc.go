// Package decode turns the HTTP exchanges and Server-Sent Events that package
// capture reconstructs into MCP events of schema v1 (docs/events.md): one
// message event per JSON-RPC message in either direction, session events when
// a session ends, auth events for authorization traffic next to MCP, manifest
// events for every tools/list result, and flow events for connections that
// carried no MCP.
//
// Interface: a Decoder implements capture.Handler. The engine calls it from
// one goroutine in packet-time order; the Decoder calls emit synchronously
// from inside those callbacks and never retains capture's body slices. Time
// inside the Decoder is packet time only: Tick(now) expires idle sessions and
// Finish(now) ends every open session with end_reason input-end, so replaying
// a pcap yields the same events with the same event_ids every time.
//
// Recognition is by evidence, not port, path or method name
// (docs/identification.md, identify.go): other JSON-RPC services share MCP's
// method names, and a language server's initialize or a node answering
// tools/call with -32601 is no MCP server. An exchange is MCP when the
// client shows it — Mcp-Session-Id, MCP-Protocol-Version or Mcp-Method
// headers; initialize with params.protocolVersion; a 2026-07-28 _meta
// identity; a POST to a known legacy session — unless the server refutes
// body evidence with -32601, -32600 or -32700; when the server shows it —
// Mcp-Session-Id on the response, a result with serverInfo and
// protocolVersion, a _meta identity or tools with an inputSchema, or a
// result of the MCP shape of the method asked with object params; or when
// an event stream announces a legacy `endpoint`. A method name, clientInfo
// alone, array params and error answers show nothing. Once an endpoint
// (server_key, or the connection to its host) is MCP for a client address,
// every JSON-RPC message from that client to it is, a bare ping or a
// stateless request without _meta included (per client: capture shards
// deal by address pair, and events must not depend on their number). An undecided JSON-RPC exchange is held until its answer
// decides (Config.MaxHeld, counted in Stats.Held, HeldDropped and
// HeldOverflow); what is not shown to be MCP is dropped and its connection
// becomes a flow event with app_protocol json-rpc. Plain REST yields no
// MCP events.
//
// Transports: Streamable HTTP (JSON and SSE responses, 202, GET streams,
// DELETE; batches), 2026-07-28 stateless requests (identity from
// params._meta, logical sessions keyed by client address, server_key and
// client name, closed on idle), and legacy HTTP+SSE, whose POSTs and SSE
// stream travel on different connections joined by the endpoint's session id.
//
// Loss: a body cut by a capture gap or a size cap is scanned as far as it
// goes. If the JSON-RPC envelope (jsonrpc plus id or method) was seen, the
// message event is emitted flagged truncated with the fields that were read;
// otherwise the body is counted in Stats.TruncatedDropped and skipped. A cut
// tools/list gives no manifest. A response whose request was not seen waits
// up to 5 s of packet time for it (two capture points' clocks may disagree;
// an HTTP+SSE answer may overtake its POST), then is emitted without method
// and counted as unmatched; a request whose response never comes is counted
// as unanswered when its session ends. A response without its request on a
// connection that carries MCP is still decoded. Malformed bodies are
// counted, never fatal.
//
// Header-only sources: an access log records an exchange without its
// bodies (capture marks them TruncatedBy "not-logged", with BodyLen the
// logged byte count). From one, decode still gets the session
// (Mcp-Session-Id), the negotiated version (MCP-Protocol-Version), the HTTP
// fields, auth failures, auth_scheme (no token_id: logs keep the scheme
// only) and byte volumes. With 2026-07-28 traffic the Mcp-Method and
// Mcp-Name headers name each request, so such an exchange also gives a c2s
// message event (request, or notification for notifications/*; tool_name,
// prompt_name or resource_uri from Mcp-Name as the revision maps them) and,
// unless it was a notification or the log shows a body that was not
// JSON-RPC (empty, or a Content-Type other than JSON or an event stream),
// an s2c one — response, or error at HTTP status 400 or above — paired by
// the exchange, with the request's method and target, duration_ms and the
// response's size. Both are flagged truncated. They cannot carry what only
// a body has: the JSON-RPC id, error codes and tool isError, identity
// (clientInfo, serverInfo, capabilities, so stateless logical sessions go
// without client_name), manifests, the other messages an event stream
// carried (its s2c event counts the whole stream's bytes), or a header
// that lies about its body — the events name what the headers say. Older
// revisions send no Mcp-Method, so their logs give sessions but no message
// events. Exchanges with a body are decoded from the body alone.
//
// Sessions end at DELETE, when all their connections closed and none
// followed within 30 s (end_reason close, at the last close), after
// IdleTimeout without traffic (idle), at Finish (input-end), or when evicted.
// Connections without MCP become flow events unless they carried no payload;
// their app_protocol says what they carried: tls (with SNI and ALPN), http,
// json-rpc, or other.
//
// Overload: the session table (MaxSessions, least recently active evicted
// with end_reason evicted), pending requests per session
// (MaxPendingPerSession, new ones beyond it are not tracked), the bytes
// scanned per message (MaxMessageBytes, the rest is flagged truncated), the
// exchanges held undecided (MaxHeld) and the endpoints remembered as MCP
// (MaxEndpoints) are capped; every cap has a counter in Stats. Raw bearer tokens never leave the
// decoder: events carry an HMAC-SHA256 token_id and unverified JWT claims.
package decode
