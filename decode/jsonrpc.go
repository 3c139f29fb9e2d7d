package decode

import (
	"strconv"
	"unsafe"

	"github.com/mcpwatch/mcpwatch/event"
)

// Caps on what a message event keeps of free text.
const (
	maxErrorMessage = 256
	maxDescription  = 4 << 10
	maxName         = 512
)

// Keys of the 2026-07-28 identity carried in params._meta / result._meta.
const (
	metaProtocolVersion    = "io.modelcontextprotocol/protocolVersion"
	metaClientInfo         = "io.modelcontextprotocol/clientInfo"
	metaClientCapabilities = "io.modelcontextprotocol/clientCapabilities"
	metaServerInfo         = "io.modelcontextprotocol/serverInfo"
)

// message is what the decoder keeps of one JSON-RPC message: the envelope
// and the few MCP fields events carry.
type message struct {
	jsonrpc   bool // "jsonrpc":"2.0" seen
	hasID     bool
	id        string // id as text
	method    string
	hasResult bool
	hasError  bool
	// name is params.name (tool or prompt, depending on method), uri
	// params.uri.
	name, uri  string
	errCode    int
	errMessage string
	isError    bool // CallToolResult.isError

	// Identity: initialize params/result, or 2026-07-28 _meta.
	protocolVersion string
	peerName        string // clientInfo or serverInfo name
	peerVersion     string
	caps            []string
	metaIdentity    bool // identity came from _meta (stateless revision)

	// What identify.go weighs: the JSON type of params ('{', '[', another
	// value's first byte, 0 when absent), whether the result named a
	// serverInfo, whether a listed tool had an inputSchema, and which MCP
	// result members of the right type the result had.
	params     byte
	serverInfo bool
	toolSchema bool
	shape      resultShape

	// tools/list results.
	hasTools   bool
	tools      []toolDef
	nextCursor string
	cursor     string // params.cursor of a list request

	bytes     int64
	truncated bool
	batch     bool
	// secrets are the kinds of credentials found in the message's bytes
	// (tool arguments and results, resources read); see secrets.go.
	secrets []string
	// headerMismatch: the request's Mcp-Method/Mcp-Name headers disagree
	// with it (2026-07-28).
	headerMismatch bool
	// headerOnly marks a message built from the headers of an exchange
	// whose bodies a log did not keep (headeronly.go); answers is the
	// request such a response answers, paired by the exchange since
	// neither has an id.
	headerOnly bool
	answers    *pendingRequest
}

// target is the field a 2026-07-28 Mcp-Name header names for m's method:
// the tool or prompt name, or the resource URI; nil for other methods.
func (m *message) target() *string {
	switch m.method {
	case "tools/call", "prompts/get":
		return &m.name
	case "resources/read":
		return &m.uri
	}
	return nil
}

// toolDef is one tool of a tools/list result. raw points into the body and
// is only valid during the Handler call that produced it.
type toolDef struct {
	raw         []byte
	name        string
	description string
	readOnly    bool
	destructive bool
}

// envelope reports whether enough of a JSON-RPC 2.0 message was seen to
// report it.
func (m *message) envelope() bool {
	return m.jsonrpc && (m.method != "" || m.hasID || m.hasResult || m.hasError)
}

func (m *message) msgType() string {
	switch {
	case m.method != "" && m.hasID:
		return event.MsgRequest
	case m.method != "":
		return event.MsgNotification
	case m.hasError:
		return event.MsgError
	default:
		return event.MsgResponse
	}
}

// parseBody reads a JSON-RPC body: one message or a batch. Only the first
// limit bytes are scanned; cut marks a body that was already incomplete
// (capture gap or cap), total is its full size on the wire.
func parseBody(b []byte, total int64, cut bool, limit int64) []message {
	if int64(len(b)) > limit {
		b, cut = b[:limit], true
	}
	s := &scanner{b: b}
	var out []message
	switch s.peek() {
	case '{':
		var m message
		parseMessage(s, &m)
		m.bytes = total
		m.truncated = cut || s.eof
		m.secrets = scanSecrets(&m, b)
		if s.bad && !m.envelope() {
			return nil
		}
		out = append(out, m)
	case '[':
		s.array(func() {
			start := s.i
			var m message
			parseMessage(s, &m)
			// A cut body can leave the scanner past its end (an escape at
			// the last byte): the message ends with the body.
			end := min(s.i, len(s.b))
			m.bytes = int64(end - start)
			m.truncated = s.eof
			m.batch = true
			m.secrets = scanSecrets(&m, s.b[start:end])
			out = append(out, m)
		})
	}
	return out
}

// scanSecrets looks for credentials in the messages that carry data — tool
// calls and every result or error — and not in the rest (initialize,
// lists), which would only cost the scan.
func scanSecrets(m *message, raw []byte) []string {
	if m.method == "tools/call" || m.hasResult || m.hasError {
		return findSecrets(raw)
	}
	return nil
}

// parseData reads one SSE data payload; size is its full length, which
// exceeds len(data) when capture cut the event at its body cap. SDKs
// answer over SSE by default, so a 4 MB result usually arrives as one
// event: the scanner reads the string's bytes in place rather than copying
// them. It never writes to its input, and what messages keep of it is
// copied out (string conversions, unescape) before the Handler call
// returns.
func parseData(data string, size int64, cut bool, limit int64) []message {
	return parseBody(unsafe.Slice(unsafe.StringData(data), len(data)), max(size, int64(len(data))), cut, limit)
}

func parseMessage(s *scanner, m *message) {
	s.members(func(k []byte) {
		switch string(k) {
		case "jsonrpc":
			if s.peek() == '"' {
				m.jsonrpc = s.strEq("2.0")
			} else {
				s.skip()
			}
		case "id":
			switch s.peek() {
			case '"':
				m.id, m.hasID = s.str(maxName), true
			case 'n':
				s.scalar() // null: an error response to an unreadable request
			default:
				m.id, m.hasID = string(s.scalar()), true
			}
		case "method":
			if s.peek() == '"' {
				m.method = s.str(maxName)
			} else {
				s.skip()
			}
		case "params":
			m.params = s.peek()
			parseParams(s, m)
		case "result":
			m.hasResult = true
			parseResult(s, m)
		case "error":
			m.hasError = true
			parseError(s, m)
		default:
			s.skip()
		}
	})
}

func parseParams(s *scanner, m *message) {
	s.members(func(k []byte) {
		switch string(k) {
		case "name":
			m.name = strValue(s, maxName)
		case "uri":
			m.uri = strValue(s, maxName)
		case "cursor":
			m.cursor = strValue(s, maxName)
		case "protocolVersion":
			m.protocolVersion = strValue(s, maxName)
		case "clientInfo":
			parsePeer(s, m)
		case "capabilities":
			m.caps = capKeys(s)
		case "_meta":
			parseMeta(s, m)
		default:
			s.skip()
		}
	})
}

func parseResult(s *scanner, m *message) {
	s.members(func(k []byte) {
		switch string(k) {
		case "isError":
			m.isError = string(s.scalar()) == "true"
		case "protocolVersion":
			m.protocolVersion = strValue(s, maxName)
		case "serverInfo":
			m.serverInfo = true
			parsePeer(s, m)
		case "capabilities":
			m.caps = capKeys(s)
		case "tools":
			m.hasTools = true
			m.shape |= shapeOf(k, s.peek())
			parseTools(s, m)
		case "content", "contents", "resources", "resourceTemplates", "prompts", "messages", "completion", "roots":
			m.shape |= shapeOf(k, s.peek())
			s.skip()
		case "nextCursor":
			m.nextCursor = strValue(s, maxName)
		case "_meta":
			parseMeta(s, m)
		default:
			s.skip()
		}
	})
}

func parseMeta(s *scanner, m *message) {
	s.members(func(k []byte) {
		switch string(k) {
		case metaProtocolVersion:
			m.protocolVersion, m.metaIdentity = strValue(s, maxName), true
		case metaClientInfo, metaServerInfo:
			m.metaIdentity = true
			parsePeer(s, m)
		case metaClientCapabilities:
			m.caps = capKeys(s)
		default:
			s.skip()
		}
	})
}

func parsePeer(s *scanner, m *message) {
	s.members(func(k []byte) {
		switch string(k) {
		case "name":
			m.peerName = strValue(s, maxName)
		case "version":
			m.peerVersion = strValue(s, maxName)
		default:
			s.skip()
		}
	})
}

func parseError(s *scanner, m *message) {
	s.members(func(k []byte) {
		switch string(k) {
		case "code":
			if n, err := strconv.Atoi(string(s.scalar())); err == nil {
				m.errCode = n
			}
		case "message":
			// Read past the cap, so that a credential it would cut in
			// half is still whole for redaction (see redact.go), which
			// caps it after.
			m.errMessage = strValue(s, 4*maxErrorMessage)
		default:
			s.skip()
		}
	})
}

func parseTools(s *scanner, m *message) {
	if s.peek() != '[' {
		s.skip()
		return
	}
	s.array(func() {
		if s.peek() != '{' {
			s.skip()
			return
		}
		start := s.i
		var t toolDef
		s.object(func(k []byte) {
			switch string(k) {
			case "name":
				t.name = strValue(s, maxName)
			case "description":
				t.description = strValue(s, maxDescription)
			case "inputSchema":
				m.toolSchema = m.toolSchema || s.peek() == '{'
				s.skip()
			case "annotations":
				s.members(func(k []byte) {
					switch string(k) {
					case "readOnlyHint":
						t.readOnly = string(s.scalar()) == "true"
					case "destructiveHint":
						t.destructive = string(s.scalar()) == "true"
					default:
						s.skip()
					}
				})
			default:
				s.skip()
			}
		})
		if s.ok() {
			t.raw = s.b[start:s.i]
			m.tools = append(m.tools, t)
		}
	})
}

// strValue reads a string, or skips a value of another type.
func strValue(s *scanner, limit int) string {
	if s.peek() != '"' {
		s.skip()
		return ""
	}
	return s.str(limit)
}

// capKeys reads a capabilities object as the list of its member names.
func capKeys(s *scanner) []string {
	var out []string
	s.members(func(k []byte) {
		out = append(out, string(k))
		s.skip()
	})
	return out
}
