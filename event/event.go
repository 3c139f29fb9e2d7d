package event

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// SchemaVersion is the version of the event and alert schema in docs/events.md.
const SchemaVersion = 1

// Kind is the kind of an event.
type Kind string

// The event kinds of schema v1.
const (
	KindMessage  Kind = "message"
	KindSession  Kind = "session"
	KindAuth     Kind = "auth"
	KindManifest Kind = "manifest"
	KindFlow     Kind = "flow"
)

// Kinds lists every event kind, in schema order.
var Kinds = []Kind{KindMessage, KindSession, KindAuth, KindManifest, KindFlow}

// Valid reports whether k is a kind of schema v1.
func (k Kind) Valid() bool {
	for _, known := range Kinds {
		if k == known {
			return true
		}
	}
	return false
}

// Message directions.
const (
	DirClientToServer = "c2s"
	DirServerToClient = "s2c"
)

// JSON-RPC message types.
const (
	MsgRequest      = "request"
	MsgResponse     = "response"
	MsgNotification = "notification"
	MsgError        = "error"
)

// Transports.
const (
	TransportStreamableHTTP = "streamable-http"
	TransportHTTPSSE        = "http+sse"
	TransportWebSocket      = "websocket"
	TransportUnknown        = "unknown"
)

// Application protocols of a flow event: what the sensor could tell of a
// connection that carried no MCP.
const (
	AppTLS     = "tls"      // TLS; tls_sni and tls_alpn from the ClientHello
	AppHTTP    = "http"     // HTTP/1.x without JSON-RPC
	AppJSONRPC = "json-rpc" // JSON-RPC 2.0 over HTTP, not shown to be MCP
	AppOther   = "other"    // neither HTTP nor TLS, or not recognised
)

// Session end reasons.
const (
	EndDelete   = "delete"
	EndClose    = "close"
	EndIdle     = "idle"
	EndInputEnd = "input-end"
)

// Event is one observation in schema v1. See docs/events.md for the meaning of
// every field; the JSON names are the schema names.
type Event struct {
	// Envelope.
	Schema          int       `json:"schema"`
	EventID         string    `json:"event_id"`
	Kind            Kind      `json:"kind"`
	TS              time.Time `json:"ts"`
	Sensor          string    `json:"sensor,omitempty"`
	Source          string    `json:"source,omitempty"`
	ClientAddress   string    `json:"client_address,omitempty"`
	ClientPort      int       `json:"client_port,omitempty"`
	ServerAddress   string    `json:"server_address,omitempty"`
	ServerPort      int       `json:"server_port,omitempty"`
	ServerKey       string    `json:"server_key,omitempty"`
	Transport       string    `json:"transport,omitempty"`
	ProtocolVersion string    `json:"protocol_version,omitempty"`
	SessionID       string    `json:"session_id,omitempty"`
	ClientName      string    `json:"client_name,omitempty"`
	ClientVersion   string    `json:"client_version,omitempty"`
	ServerName      string    `json:"server_name,omitempty"`
	ServerVersion   string    `json:"server_version,omitempty"`

	// kind = message.
	Direction     string     `json:"direction,omitempty"`
	MsgType       string     `json:"msg_type,omitempty"`
	Method        string     `json:"method,omitempty"`
	JSONRPCID     string     `json:"jsonrpc_id,omitempty"`
	ToolName      string     `json:"tool_name,omitempty"`
	ResourceURI   string     `json:"resource_uri,omitempty"`
	PromptName    string     `json:"prompt_name,omitempty"`
	ErrorCode     int        `json:"error_code,omitempty"`
	ErrorMessage  string     `json:"error_message,omitempty"`
	ToolIsError   bool       `json:"tool_is_error,omitempty"`
	Bytes         int64      `json:"bytes,omitempty"`
	DurationMS    float64    `json:"duration_ms,omitempty"`
	HTTPMethod    string     `json:"http_method,omitempty"`
	HTTPPath      string     `json:"http_path,omitempty"`
	HTTPStatus    int        `json:"http_status,omitempty"`
	UserAgent     string     `json:"user_agent,omitempty"`
	AuthScheme    string     `json:"auth_scheme,omitempty"`
	TokenID       string     `json:"token_id,omitempty"`
	TokenIss      string     `json:"token_iss,omitempty"`
	TokenAud      []string   `json:"token_aud,omitempty"`
	TokenScope    string     `json:"token_scope,omitempty"`
	TokenClientID string     `json:"token_client_id,omitempty"`
	TokenExp      *time.Time `json:"token_exp,omitempty"`
	Batch         bool       `json:"batch,omitempty"`
	// Truncated marks a message whose body was cut by a capture gap or a size
	// cap; the envelope fields are still those that were seen.
	Truncated bool `json:"truncated,omitempty"`
	// SecretKinds names the kinds of credentials (private_key,
	// aws_access_key, github_token, …) seen in the message — tool
	// arguments, results, resources read. The text itself is never kept.
	SecretKinds []string `json:"secret_kinds,omitempty"`
	// HeaderMismatch marks a 2026-07-28 request whose Mcp-Method or Mcp-Name
	// header disagrees with its body: a gateway routes on the headers, the
	// server executes the body.
	HeaderMismatch bool `json:"header_mismatch,omitempty"`
	// HeaderBytes is the size of the carrying request's HTTP header block
	// (start line included) when it exceeded the decoder's large-header
	// threshold (64 KiB by default), on message and auth events: headers
	// that large slip past sensors and front ends with smaller caps.
	HeaderBytes int `json:"header_bytes,omitempty"`
	// Origin is the request's Origin header (browser-based clients send
	// it): a server must refuse a foreign one with 403.
	Origin string `json:"origin,omitempty"`

	// kind = session.
	StartTS            *time.Time `json:"start_ts,omitempty"`
	EndTS              *time.Time `json:"end_ts,omitempty"`
	EndReason          string     `json:"end_reason,omitempty"`
	MessagesC2S        int64      `json:"messages_c2s,omitempty"`
	MessagesS2C        int64      `json:"messages_s2c,omitempty"`
	BytesC2S           int64      `json:"bytes_c2s,omitempty"`
	BytesS2C           int64      `json:"bytes_s2c,omitempty"`
	Requests           int64      `json:"requests,omitempty"`
	Errors             int64      `json:"errors,omitempty"`
	ToolCalls          int64      `json:"tool_calls,omitempty"`
	AuthFailures       int64      `json:"auth_failures,omitempty"`
	Authenticated      bool       `json:"authenticated,omitempty"`
	Methods            []string   `json:"methods,omitempty"`
	ToolsCalled        []string   `json:"tools_called,omitempty"`
	ClientCapabilities []string   `json:"client_capabilities,omitempty"`
	ServerCapabilities []string   `json:"server_capabilities,omitempty"`

	// kind = auth.
	AuthEvent               string   `json:"auth_event,omitempty"`
	WWWAuthenticate         string   `json:"www_authenticate,omitempty"`
	ResourceMetadata        string   `json:"resource_metadata,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	Error                   string   `json:"error,omitempty"`
	PRMResource             string   `json:"prm_resource,omitempty"`
	PRMAuthorizationServers []string `json:"prm_authorization_servers,omitempty"`
	GrantType               string   `json:"grant_type,omitempty"`
	Resource                string   `json:"resource,omitempty"`
	PKCEMethod              string   `json:"pkce_method,omitempty"`
	ClientID                string   `json:"client_id,omitempty"`
	// CodeChallengeMethods is code_challenge_methods_supported of an
	// authorization server's metadata (as_metadata).
	CodeChallengeMethods []string `json:"code_challenge_methods,omitempty"`

	// kind = manifest.
	ManifestHash     string `json:"manifest_hash,omitempty"`
	ToolCount        int    `json:"tool_count,omitempty"`
	Tools            []Tool `json:"tools,omitempty"`
	AfterListChanged bool   `json:"after_list_changed,omitempty"`

	// kind = flow.
	AppProtocol string   `json:"app_protocol,omitempty"`
	TLSSNI      string   `json:"tls_sni,omitempty"`
	TLSALPN     []string `json:"tls_alpn,omitempty"`
	Packets     int64    `json:"packets,omitempty"`
	MCPHint     string   `json:"mcp_hint,omitempty"`
	Gaps        int64    `json:"gaps,omitempty"`
}

// Tool is one tool of a manifest event.
type Tool struct {
	Name        string `json:"name"`
	Hash        string `json:"hash"`
	Description string `json:"description,omitempty"`
	ReadOnly    bool   `json:"read_only,omitempty"`
	Destructive bool   `json:"destructive,omitempty"`
}

// Severities of alerts, lowest first.
const (
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Severities lists every severity, lowest first.
var Severities = []string{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Alert is a detection in schema v1.
type Alert struct {
	Schema int `json:"schema"`
	// Kind is always "alert", so that alerts stand out among events
	// (whose kind is theirs) in one record stream.
	Kind             AlertKind         `json:"kind"`
	AlertID          string            `json:"alert_id"`
	TS               time.Time         `json:"ts"`
	RuleID           string            `json:"rule_id"`
	RuleName         string            `json:"rule_name"`
	Severity         string            `json:"severity"`
	Category         string            `json:"category"`
	Summary          string            `json:"summary"`
	ServerKey        string            `json:"server_key,omitempty"`
	ClientAddress    string            `json:"client_address,omitempty"`
	SessionID        string            `json:"session_id,omitempty"`
	ToolName         string            `json:"tool_name,omitempty"`
	Count            int64             `json:"count,omitempty"`
	WindowS          float64           `json:"window_s,omitempty"`
	FirstSeen        *time.Time        `json:"first_seen,omitempty"`
	LastSeen         *time.Time        `json:"last_seen,omitempty"`
	EvidenceEventIDs []string          `json:"evidence_event_ids,omitempty"`
	Attributes       map[string]string `json:"attributes,omitempty"`
}

// KindAlert is the kind of every alert record.
const KindAlert = "alert"

// AlertKind is Alert.Kind: written as "alert" whatever its value, read from
// "alert" or from nothing (records written before it existed).
type AlertKind struct{}

// MarshalJSON implements json.Marshaler.
func (AlertKind) MarshalJSON() ([]byte, error) { return []byte(`"` + KindAlert + `"`), nil }

// UnmarshalJSON implements json.Unmarshaler.
func (*AlertKind) UnmarshalJSON(data []byte) error {
	if s := string(data); s != `"`+KindAlert+`"` && s != "null" {
		return fmt.Errorf("alert kind %s, want %q", s, KindAlert)
	}
	return nil
}

// MaxEvidence caps Alert.EvidenceEventIDs.
const MaxEvidence = 32

// NewID derives a deterministic id from its parts: the first 16 bytes of
// SHA-256 over the parts joined by NUL, in hex. Callers pass what makes the
// thing unique in its input (sensor, source, connection id, position), never
// processing time, so the same input always yields the same id.
func NewID(parts ...string) string {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// Validate checks the envelope of an event read from outside (a NATS message, a
// JSONL line): schema version, id, kind and timestamp.
func (e *Event) Validate() error {
	switch {
	case e.Schema != SchemaVersion:
		return fmt.Errorf("event %q: schema %d, want %d", e.EventID, e.Schema, SchemaVersion)
	case e.EventID == "":
		return fmt.Errorf("event without event_id")
	case !e.Kind.Valid():
		return fmt.Errorf("event %q: unknown kind %q", e.EventID, e.Kind)
	case e.TS.IsZero():
		return fmt.Errorf("event %q: missing ts", e.EventID)
	}
	return nil
}

// Validate checks the required fields of an alert read from outside.
func (a *Alert) Validate() error {
	switch {
	case a.Schema != SchemaVersion:
		return fmt.Errorf("alert %q: schema %d, want %d", a.AlertID, a.Schema, SchemaVersion)
	case a.AlertID == "":
		return fmt.Errorf("alert without alert_id")
	case a.RuleID == "":
		return fmt.Errorf("alert %q: missing rule_id", a.AlertID)
	case !validSeverity(a.Severity):
		return fmt.Errorf("alert %q: unknown severity %q", a.AlertID, a.Severity)
	}
	return nil
}

func validSeverity(s string) bool {
	for _, known := range Severities {
		if s == known {
			return true
		}
	}
	return false
}

// DecodeEvent parses and validates one JSON event.
func DecodeEvent(data []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// DecodeAlert parses and validates one JSON alert.
func DecodeAlert(data []byte) (*Alert, error) {
	var a Alert
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("decode alert: %w", err)
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return &a, nil
}
