package decode

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for Config.
const (
	DefaultIdleTimeout          = 5 * time.Minute
	DefaultMaxSessions          = 10000
	DefaultMaxPendingPerSession = 1024
	DefaultMaxMessageBytes      = 16 << 20
	DefaultMaxHeld              = 4096
	DefaultMaxEndpoints         = 10000
	// DefaultLargeHeaderBytes is 64 KiB: clients send a few KiB of
	// headers, and common front ends refuse far less (nginx 8 KiB per
	// line, Node 16 KiB), while Go's net/http accepts 1 MB.
	DefaultLargeHeaderBytes = 64 << 10
)

// Config configures a Decoder.
type Config struct {
	// Sensor and Source are copied into every event envelope.
	Sensor, Source string
	// TokenKey is the HMAC-SHA256 key for token_id. Required: without it
	// fingerprints would either be guessable or differ between runs.
	TokenKey []byte
	// IdleTimeout ends a session after this much packet time without
	// traffic (default 5m).
	IdleTimeout time.Duration
	// MaxSessions caps the session table; beyond it the least recently
	// active session is ended with end_reason evicted.
	MaxSessions int
	// MaxPendingPerSession caps requests awaiting a response per session;
	// requests beyond it are not tracked and their responses go unmatched.
	MaxPendingPerSession int
	// MaxMessageBytes caps the bytes scanned per JSON-RPC body or SSE
	// event; the rest is skipped and the message flagged truncated.
	MaxMessageBytes int64
	// MaxHeld caps the exchanges whose JSON-RPC is held until their
	// answer shows whether it is MCP (docs/identification.md); the
	// messages of undecided exchanges beyond it are dropped.
	MaxHeld int
	// MaxEndpoints caps the server_keys remembered as MCP; beyond it the
	// least recently used is forgotten.
	MaxEndpoints int
	// LargeHeaderBytes is the size of a request header block above which
	// its events carry header_bytes: headers that large hide a request
	// from sensors and front ends with smaller caps (default 64 KiB).
	LargeHeaderBytes int
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	if len(c.TokenKey) == 0 {
		return errors.New("decode config: TokenKey is empty (HMAC key for token_id)")
	}
	if c.IdleTimeout < 0 || c.MaxSessions < 0 || c.MaxPendingPerSession < 0 || c.MaxMessageBytes < 0 || c.MaxHeld < 0 || c.MaxEndpoints < 0 {
		return fmt.Errorf("decode config: negative limit (idle %v, sessions %d, pending %d, message bytes %d, held %d, endpoints %d)",
			c.IdleTimeout, c.MaxSessions, c.MaxPendingPerSession, c.MaxMessageBytes, c.MaxHeld, c.MaxEndpoints)
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxPendingPerSession == 0 {
		c.MaxPendingPerSession = DefaultMaxPendingPerSession
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxHeld == 0 {
		c.MaxHeld = DefaultMaxHeld
	}
	if c.MaxEndpoints == 0 {
		c.MaxEndpoints = DefaultMaxEndpoints
	}
	if c.LargeHeaderBytes < 0 {
		return fmt.Errorf("decode config: negative LargeHeaderBytes %d", c.LargeHeaderBytes)
	}
	if c.LargeHeaderBytes == 0 {
		c.LargeHeaderBytes = DefaultLargeHeaderBytes
	}
	return nil
}

// Stats counts what the Decoder saw, emitted and dropped. Every cap in
// Config has a counter here.
type Stats struct {
	Exchanges    int64            // HTTP requests seen
	MCPExchanges int64            // of which carried MCP
	Events       map[string]int64 // events emitted, by kind
	Messages     int64            // message events
	// Unmatched counts responses whose request was not seen.
	Unmatched int64
	// Unanswered counts requests still pending when their session ended.
	Unanswered int64
	// Malformed counts MCP bodies that were not JSON-RPC.
	Malformed int64
	// Truncated counts message events flagged truncated;
	// TruncatedDropped bodies cut before their envelope was seen.
	Truncated        int64
	TruncatedDropped int64
	// HeaderMismatch counts 2026-07-28 requests whose Mcp-Method or Mcp-Name
	// header disagrees with the body.
	HeaderMismatch int64

	// EmptyFlows counts non-MCP connections without payload, which get no
	// flow event.
	EmptyFlows int64

	// Held counts exchanges whose JSON-RPC was held until their answer
	// showed whether it is MCP; HeldDropped those it did not show MCP,
	// whose messages were dropped (their connection becomes a json-rpc
	// flow); HeldOverflow undecided exchanges beyond MaxHeld, dropped at
	// once.
	Held, HeldDropped, HeldOverflow int64
	EndpointsEvicted                int64 // MaxEndpoints

	SessionsOpen    int64
	SessionsEvicted int64 // MaxSessions
	PendingDropped  int64 // MaxPendingPerSession
	OversizeCut     int64 // MaxMessageBytes
	// Redacted counts credentials replaced by a marker in event text
	// (redact.go); LargeHeaders requests whose header block exceeded
	// LargeHeaderBytes.
	Redacted     int64
	LargeHeaders int64

	// Faults counts callbacks that panicked and were contained by
	// capture.Contain: each dropped its connection (see Forget).
	Faults int64
}
