package scenario

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// ServerSpec describes one MCP server of a scenario.
type ServerSpec struct {
	Name, Version string
	// As is where the server appears in the capture.
	As netip.AddrPort
	// Host is the Host header clients send (host or host:port); empty means
	// As itself.
	Host string
	// Path is the MCP endpoint path; default "/mcp".
	Path    string
	Options mcp.StreamableHTTPOptions
	// Setup registers tools, resources and prompts; nil gives DemoTools.
	Setup func(*mcp.Server)
	// Wrap, when set, wraps the MCP handler (auth middleware, a server
	// quirk).
	Wrap func(http.Handler) http.Handler
}

// Server is a running MCP server of a scenario.
type Server struct {
	Spec     ServerSpec
	MCP      *mcp.Server
	realAddr string
	http     *http.Server
	listener net.Listener
}

// StartServer starts spec on a loopback port. Stop it with Close.
func StartServer(spec ServerSpec) (*Server, error) {
	if spec.Path == "" {
		spec.Path = "/mcp"
	}
	if spec.Host == "" {
		spec.Host = spec.As.String()
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: spec.Name, Version: spec.Version}, nil)
	if spec.Setup != nil {
		spec.Setup(srv)
	} else {
		DemoTools(srv)
	}
	opts := spec.Options
	// Clients reach the loopback listener under a corporate Host name.
	opts.DisableLocalhostProtection = true
	mux := http.NewServeMux()
	var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &opts)
	if spec.Wrap != nil {
		h = spec.Wrap(h)
	}
	mux.Handle(spec.Path, h)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for %s: %w", spec.Name, err)
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(l)
	return &Server{Spec: spec, MCP: srv, realAddr: l.Addr().String(), http: hs, listener: l}, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.http.Close() }

// Port is the loopback port the server really listens on, for live
// capture on lo.
func (s *Server) Port() uint16 {
	return netip.MustParseAddrPort(s.realAddr).Port()
}

// URL is the endpoint URL clients use (with the scenario's Host name).
func (s *Server) URL() string { return "http://" + s.Spec.Host + s.Spec.Path }

// LoggedMessage is one JSON-RPC message as the client SDK logged it.
type LoggedMessage struct {
	// Direction is "c2s" for what the client wrote, "s2c" for what it read.
	Direction string          `json:"direction"`
	Raw       json.RawMessage `json:"raw"`
	Method    string          `json:"method,omitempty"`
	ID        string          `json:"id,omitempty"` // request id as text; empty for notifications
	IsError   bool            `json:"is_error,omitempty"`
	ToolName  string          `json:"tool_name,omitempty"`
}

// Log collects what mcp.LoggingTransport writes.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Messages parses the log. Responses get the method of their request.
func (l *Log) Messages() ([]LoggedMessage, error) {
	l.mu.Lock()
	data := append([]byte(nil), l.buf.Bytes()...)
	l.mu.Unlock()
	var out []LoggedMessage
	methods := map[string]string{} // "dir|id" of requests → method
	tools := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		var dir, raw string
		switch {
		case strings.HasPrefix(line, "write: "):
			dir, raw = "c2s", strings.TrimPrefix(line, "write: ")
		case strings.HasPrefix(line, "read: "):
			dir, raw = "s2c", strings.TrimPrefix(line, "read: ")
		default:
			continue // read/write errors: not messages
		}
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"` // an object in MCP; other JSON-RPC may send an array
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			return nil, fmt.Errorf("parse logged message %q: %w", raw, err)
		}
		var params struct {
			Name string `json:"name"`
		}
		json.Unmarshal(m.Params, &params) // not an object: no name
		lm := LoggedMessage{Direction: dir, Raw: json.RawMessage(raw), Method: m.Method, ID: idText(m.ID), IsError: len(m.Error) > 0}
		if m.Method != "" && lm.ID != "" {
			methods[dir+"|"+lm.ID] = m.Method
			if m.Method == "tools/call" {
				tools[dir+"|"+lm.ID] = params.Name
			}
		}
		if m.Method == "tools/call" {
			lm.ToolName = params.Name
		}
		if m.Method == "" && lm.ID != "" {
			// A response travels the other way from its request.
			reqDir := "c2s"
			if dir == "c2s" {
				reqDir = "s2c"
			}
			lm.Method = methods[reqDir+"|"+lm.ID]
			lm.ToolName = tools[reqDir+"|"+lm.ID]
		}
		out = append(out, lm)
	}
	return out, sc.Err()
}

func idText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// ClientSpec describes one client of a scenario.
type ClientSpec struct {
	Name, Version string
	// IP is the client's address in the capture.
	IP netip.Addr
	// ProtocolVersion asks for a protocol revision; empty = the SDK's latest.
	ProtocolVersion string
	// DisableStandaloneSSE skips the GET stream of stateful sessions.
	DisableStandaloneSSE bool
	// Header is added to every request of the client.
	Header http.Header
}

// Connect connects a go-sdk client to s, recording its TCP connections in
// rec and its JSON-RPC messages in log.
func (s *Server) Connect(ctx context.Context, rec *tcprec.Recorder, spec ClientSpec, log *Log) (*mcp.ClientSession, error) {
	var rt http.RoundTripper = &http.Transport{
		DialContext:       rec.DialContext(s.realAddr, spec.IP, s.Spec.As),
		DisableKeepAlives: false,
	}
	if spec.Header != nil {
		rt = &addHeader{header: spec.Header, next: rt}
	}
	httpClient := &http.Client{Transport: rt}
	transport := &mcp.StreamableClientTransport{
		Endpoint:             s.URL(),
		HTTPClient:           httpClient,
		MaxRetries:           -1,
		DisableStandaloneSSE: spec.DisableStandaloneSSE,
	}
	client := mcp.NewClient(&mcp.Implementation{Name: spec.Name, Version: spec.Version}, nil)
	cs, err := client.Connect(ctx, &mcp.LoggingTransport{Transport: transport, Writer: log},
		&mcp.ClientSessionOptions{ProtocolVersion: spec.ProtocolVersion})
	if err != nil {
		return nil, fmt.Errorf("connect %s to %s: %w", spec.Name, s.URL(), err)
	}
	return cs, nil
}

// addHeader adds fields to every request.
type addHeader struct {
	header http.Header
	next   http.RoundTripper
}

func (a *addHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, vs := range a.header {
		r.Header[k] = vs
	}
	return a.next.RoundTrip(r)
}
