package decode

import "container/list"

// Identification: which JSON-RPC is MCP. Other protocols use JSON-RPC 2.0
// too, and some of them share MCP's method names — a language server's
// initialize, a node's ping, anything a scanner sends — so a method name is
// no evidence. Evidence is what only MCP puts on the wire (see
// docs/identification.md):
//
//   - from the client: the Mcp-Session-Id, MCP-Protocol-Version or
//     Mcp-Method header; initialize with params.protocolVersion; a
//     2026-07-28 _meta identity (io.modelcontextprotocol/…); a POST to a
//     legacy HTTP+SSE session's endpoint;
//   - from the server: Mcp-Session-Id on a response; a result with
//     serverInfo and protocolVersion, with a _meta identity, or listing
//     tools with an inputSchema; the answer to an MCP method, asked with
//     object params, that is a result of that method's MCP shape
//     (resultShapes); a legacy `endpoint` event.
//
// Client evidence in the body stands unless the server refutes it by
// answering "method not found", "invalid request" or "parse error" (an MCP
// scanner probing some other JSON-RPC service). Headers cannot be refuted.
//
// Once an exchange is MCP, so are its endpoint (server_key) and its
// connection: every later JSON-RPC message there is MCP whatever it says,
// a bare ping included. An endpoint is known per client address: capture
// shards deal connections by address pair, so knowledge that crossed
// clients would make the events depend on the number of shards. An exchange on neither with no evidence of its own
// is held (its request's messages kept with it, at most Config.MaxHeld
// such exchanges) until its answer decides; what is not decided MCP then
// is dropped and the connection becomes a json-rpc flow.

// resultShape is a set of MCP result members seen with the JSON type MCP
// gives them.
type resultShape uint16

const (
	shapeTools resultShape = 1 << iota
	shapeContent
	shapeContents
	shapeResources
	shapeTemplates
	shapePrompts
	shapeMessages
	shapeCompletion
	shapeRoots
)

// shapeOf is the shape bit of result member k when its value starts with
// c, 0 for a member of another type or not in the table.
func shapeOf(k []byte, c byte) resultShape {
	var want byte = '['
	var bit resultShape
	switch string(k) {
	case "tools":
		bit = shapeTools
	case "content":
		bit = shapeContent
	case "contents":
		bit = shapeContents
	case "resources":
		bit = shapeResources
	case "resourceTemplates":
		bit = shapeTemplates
	case "prompts":
		bit = shapePrompts
	case "messages":
		bit = shapeMessages
	case "roots":
		bit = shapeRoots
	case "completion":
		bit, want = shapeCompletion, '{'
	}
	if c != want {
		return 0
	}
	return bit
}

// resultShapes names, for the MCP methods whose result has a member of its
// own, that member. Methods missing here (ping, logging/setLevel,
// subscriptions, tasks/…) answer with results other protocols give too,
// and decide nothing by their answer; initialize is decided by its
// protocolVersion.
var resultShapes = map[string]resultShape{
	"tools/list":               shapeTools,
	"tools/call":               shapeContent,
	"resources/list":           shapeResources,
	"resources/templates/list": shapeTemplates,
	"resources/read":           shapeContents,
	"prompts/list":             shapePrompts,
	"prompts/get":              shapeMessages,
	"completion/complete":      shapeCompletion,
	"roots/list":               shapeRoots,
}

// clientEvidence reports whether a request's body alone shows an MCP
// client: initialize asking for a protocolVersion, or the 2026-07-28
// identity in params._meta.
func (m *message) clientEvidence() bool {
	if m.method == "" || m.params != '{' {
		return false
	}
	return m.metaIdentity || (m.method == "initialize" && m.protocolVersion != "")
}

// serverEvidence reports whether a result alone shows an MCP server: an
// initialize result (serverInfo with protocolVersion), a 2026-07-28 _meta
// identity, or tools with an inputSchema.
func (m *message) serverEvidence() bool {
	if !m.hasResult || m.hasError {
		return false
	}
	return m.metaIdentity || (m.serverInfo && m.protocolVersion != "") || m.toolSchema
}

// shapedAnswer reports whether resp answers req as MCP would: req is an
// MCP method with object (or no) params, resp a result with its id and the
// member MCP's result for that method has.
func shapedAnswer(req, resp *message) bool {
	want := resultShapes[req.method]
	if want == 0 || !req.hasID || (req.params != '{' && req.params != 0) {
		return false
	}
	return resp.hasResult && !resp.hasError && resp.hasID && resp.id == req.id && resp.shape&want != 0
}

// refutes reports whether an answer says the server does not speak what
// it was sent: method not found, invalid request, parse error.
func refutes(resp *message) bool {
	switch resp.errCode {
	case -32601, -32600, -32700:
		return resp.hasError
	}
	return false
}

// knownEndpoint reports whether an exchange for serverKey on cs goes to an
// endpoint its client already showed to be MCP: the server_key, or the
// connection (when it goes to the same host: a proxy's connection carries
// many).
func (d *Decoder) knownEndpoint(cs *connState, serverKey string) bool {
	return (cs.mcp && cs.mcpHost == hostKey(serverKey)) || d.endpoints.has(endpointKey(cs, serverKey))
}

// markMCP records that cs carried MCP for serverKey.
func (d *Decoder) markMCP(cs *connState, serverKey string) {
	cs.mcp = true
	if cs.mcpHost == "" {
		cs.mcpHost = hostKey(serverKey)
	}
	if d.endpoints.add(endpointKey(cs, serverKey)) {
		d.stats.EndpointsEvicted++
	}
}

// endpointKey is what the endpoint set remembers: the client address and
// the server_key.
func endpointKey(cs *connState, serverKey string) string {
	return cs.conn.Client.Addr().String() + "|" + serverKey
}

// hold keeps an undecided exchange's messages until its answer, within
// Config.MaxHeld; beyond it they are dropped at once.
func (d *Decoder) hold(ex *exchange) {
	if d.held >= d.cfg.MaxHeld {
		d.stats.HeldOverflow++
		ex.msgs = nil
		return
	}
	ex.held = true
	d.held++
	d.stats.Held++
}

// settle ends the hold of ex: its messages are MCP, or dropped.
func (d *Decoder) settle(ex *exchange, mcp bool) {
	if !ex.held {
		return
	}
	ex.held = false
	d.held--
	if mcp {
		ex.mcp = true
		return
	}
	d.stats.HeldDropped++
	ex.msgs = nil
}

// identify decides an exchange not yet known to be MCP from its answer
// (the parsed response body; nil if none was seen or it is an event
// stream, stream true for the latter). A held exchange still undecided
// after a stream's headers stays held for its events (identifyEvent).
func (d *Decoder) identify(ex *exchange, answer []message, stream bool) {
	rpc := ex.held
	for i := range answer {
		rpc = rpc || answer[i].jsonrpc
	}
	if !rpc {
		return // not JSON-RPC: a GET or a document next to MCP is not MCP
	}
	mcp := d.knownEndpoint(ex.cs, ex.serverKey) || d.answerShows(ex, answer)
	if !mcp && ex.claimed {
		mcp = true
		for i := range answer {
			mcp = mcp && !refutes(&answer[i])
		}
	}
	if !mcp {
		ex.cs.hint, ex.cs.jsonrpc = "jsonrpc", true
	}
	switch {
	case mcp && ex.held:
		d.settle(ex, true)
	case mcp:
		ex.mcp = true
	case ex.held && !stream:
		d.settle(ex, false)
	}
}

// answerShows reports whether the server's messages show MCP, alone or as
// answers to the exchange's request.
func (d *Decoder) answerShows(ex *exchange, answer []message) bool {
	for i := range answer {
		a := &answer[i]
		if a.serverEvidence() {
			return true
		}
		for j := range ex.msgs {
			if shapedAnswer(&ex.msgs[j], a) {
				return true
			}
		}
	}
	return false
}

// endpointSet is the endpoints (client address and server_key) shown to
// be MCP, least recently used evicted beyond max (Config.MaxEndpoints).
type endpointSet struct {
	max   int
	byKey map[string]*list.Element
	lru   *list.List // front: least recently used
}

func newEndpointSet(max int) *endpointSet {
	return &endpointSet{max: max, byKey: map[string]*list.Element{}, lru: list.New()}
}

func (e *endpointSet) has(key string) bool {
	el := e.byKey[key]
	if el != nil {
		e.lru.MoveToBack(el)
	}
	return el != nil
}

// add records key and reports whether another key was evicted for it.
func (e *endpointSet) add(key string) (evicted bool) {
	if e.has(key) {
		return false
	}
	if len(e.byKey) >= e.max {
		old := e.lru.Front()
		delete(e.byKey, e.lru.Remove(old).(string))
		evicted = true
	}
	e.byKey[key] = e.lru.PushBack(key)
	return evicted
}
