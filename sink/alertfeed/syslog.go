package alertfeed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/mcpwatch/mcpwatch/event"
)

// SyslogConfig configures a Syslog output. Zero fields take the defaults on
// each.
type SyslogConfig struct {
	// Network is "udp" (RFC 5426) or "tcp" (RFC 6587 octet counting).
	Network string
	// Addr is host:port of the collector.
	Addr string
	// Format of the MSG part: FormatJSON (default) or FormatOCSF. The
	// fields a SIEM filters on are also in structured data either way.
	Format Format
	// Facility, 0..23. Default 13 (log audit).
	Facility int
	// Hostname is the HOSTNAME field. Default os.Hostname().
	Hostname string
	// AppName is the APP-NAME field. Default "mcpwatch".
	AppName string
	// Timeout bounds dialling and each write. Default 5s.
	Timeout time.Duration
	// Retry reconnects between attempts. Default 3 attempts.
	Retry Retry
	// MaxMessage caps one message in bytes (for TCP without the octet
	// count). A longer one has its MSG cut, with the marker
	// TruncatedMarker at its end and the MSG's full length in the
	// structured-data parameter truncated="N". Default: for UDP
	// DefaultUDPMax, below which every RFC 5426 receiver is asked to
	// accept a datagram and which IP fragments at most once; for TCP
	// DefaultTCPMax, rsyslog's default maximum message size. At least
	// MinMessage; for UDP at most MaxUDPMessage.
	MaxMessage int
}

// Message size limits of SyslogConfig.MaxMessage.
const (
	DefaultUDPMax = 2048
	DefaultTCPMax = 8192
	MinMessage    = 480 // RFC 5426 3.2: every IPv4 receiver takes this much
	MaxUDPMessage = 65507
)

// TruncatedMarker ends the MSG of a message cut to MaxMessage.
const TruncatedMarker = "…[truncated]"

// Validate fills in defaults and reports the first invalid setting.
func (c *SyslogConfig) Validate() error {
	if c.Format == "" {
		c.Format = FormatJSON
	}
	if c.Facility == 0 {
		c.Facility = 13
	}
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "-"
		}
		c.Hostname = h
	}
	if c.AppName == "" {
		c.AppName = "mcpwatch"
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.MaxMessage == 0 {
		c.MaxMessage = DefaultTCPMax
		if c.Network == "udp" {
			c.MaxMessage = DefaultUDPMax
		}
	}
	switch {
	case c.Network != "udp" && c.Network != "tcp":
		return fmt.Errorf("syslog network %q: want udp or tcp", c.Network)
	case c.Addr == "":
		return errors.New("syslog: collector address (host:port) is required")
	case c.Facility < 0 || c.Facility > 23:
		return fmt.Errorf("syslog facility %d: want 0..23", c.Facility)
	case c.Timeout < 0:
		return errors.New("syslog: timeout must not be negative")
	case c.MaxMessage < MinMessage || c.Network == "udp" && c.MaxMessage > MaxUDPMessage:
		return fmt.Errorf("syslog: max message %d bytes: want %d..%d for udp, at least %d for tcp", c.MaxMessage, MinMessage, MaxUDPMessage, MinMessage)
	}
	if err := c.Retry.validate("syslog", 3); err != nil {
		return err
	}
	return c.Format.validate()
}

// Syslog sends each alert as one RFC 5424 message. It is safe for concurrent
// use; messages are written one at a time over one connection, opened on
// first use and again after a write fails.
type Syslog struct {
	cfg   SyslogConfig
	retry backoff
	pid   string

	mu   sync.Mutex
	conn net.Conn
}

var _ Output = (*Syslog)(nil)

// NewSyslog checks the configuration; it connects on the first write.
func NewSyslog(cfg SyslogConfig) (*Syslog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Syslog{
		cfg:   cfg,
		retry: cfg.Retry.backoff(),
		pid:   strconv.Itoa(os.Getpid()),
	}, nil
}

// WriteAlerts sends the alerts in order and stops at the first that cannot
// be sent.
func (s *Syslog) WriteAlerts(ctx context.Context, as []*event.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range as {
		msg, err := s.format(a, time.Now())
		if err != nil {
			return fmt.Errorf("syslog %s://%s: alert %s: %w", s.cfg.Network, s.cfg.Addr, a.AlertID, permanentError{err})
		}
		if err := s.retry.do(ctx, func() error { return s.send(ctx, msg) }); err != nil {
			return fmt.Errorf("syslog %s://%s: alert %s: %w", s.cfg.Network, s.cfg.Addr, a.AlertID, err)
		}
	}
	return nil
}

func (s *Syslog) send(ctx context.Context, msg []byte) error {
	if s.conn == nil {
		d := net.Dialer{Timeout: s.cfg.Timeout}
		conn, err := d.DialContext(ctx, s.cfg.Network, s.cfg.Addr)
		if err != nil {
			return err
		}
		s.conn = conn
	}
	if s.cfg.Network == "tcp" {
		// RFC 6587 octet counting: no delimiter inside the message can
		// break framing, unlike newline framing.
		msg = append(strconv.AppendInt(nil, int64(len(msg)), 10), append([]byte{' '}, msg...)...)
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.cfg.Timeout)); err != nil {
		return s.drop(err)
	}
	if _, err := s.conn.Write(msg); err != nil {
		if errors.Is(err, syscall.EMSGSIZE) {
			// Too big for a datagram (MaxMessage above the path's limit):
			// sending it again cannot help.
			return permanentError{s.drop(err)}
		}
		return s.drop(err)
	}
	return nil
}

// drop forgets a connection that failed, so the next attempt reconnects.
func (s *Syslog) drop(err error) error {
	s.conn.Close()
	s.conn = nil
	return err
}

// Close closes the connection.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	if err != nil {
		return fmt.Errorf("close syslog connection to %s: %w", s.cfg.Addr, err)
	}
	return nil
}

// sdID is the structured-data element of mcpwatch alerts. 32473 is the
// private enterprise number RFC 5612 reserves for documentation; a site that
// owns one can filter on the name alone.
const sdID = "mcpwatch@32473"

// syslogSeverity maps alert severities to RFC 5424 severities.
func syslogSeverity(s string) int {
	switch s {
	case event.SeverityCritical:
		return 2 // critical
	case event.SeverityHigh:
		return 3 // error
	case event.SeverityMedium:
		return 4 // warning
	}
	return 5 // notice
}

// format renders an RFC 5424 message:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG
//
// TIMESTAMP is the alert's ts, MSGID its rule_id, MSG the alert in the
// configured format; now is only a fallback for an alert without ts. Every
// value from the wire is escaped so that no control character reaches the
// collector raw (escapeSD, escapeJSONControls), and the message is cut to
// MaxMessage.
func (s *Syslog) format(a *event.Alert, now time.Time) ([]byte, error) {
	body, err := s.cfg.Format.encode(a)
	if err != nil {
		return nil, err
	}
	body = escapeJSONControls(body)
	ts := a.TS
	if ts.IsZero() {
		ts = now
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<%d>1 %s %s %s %s %s [%s",
		s.cfg.Facility*8+syslogSeverity(a.Severity),
		ts.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		headerField(s.cfg.Hostname, 255), headerField(s.cfg.AppName, 48), s.pid, headerField(a.RuleID, 32),
		sdID)
	for _, p := range [][2]string{
		{"alert_id", a.AlertID}, {"rule_id", a.RuleID}, {"severity", a.Severity}, {"category", a.Category},
		{"server_key", a.ServerKey}, {"client_address", a.ClientAddress}, {"session_id", a.SessionID},
		{"tool_name", a.ToolName},
	} {
		if p[1] != "" {
			fmt.Fprintf(&b, " %s=\"%s\"", p[0], escapeSD(p[1], sdValueMax))
		}
	}
	// The UTF-8 BOM tells the collector MSG is UTF-8 (RFC 5424 6.4).
	const msgStart = "] \uFEFF"
	if b.Len()+len(msgStart)+len(body) <= s.cfg.MaxMessage {
		b.WriteString(msgStart)
		b.Write(body)
		return b.Bytes(), nil
	}
	fmt.Fprintf(&b, ` truncated="%d"`, len(body))
	b.WriteString(msgStart)
	room := max(0, s.cfg.MaxMessage-b.Len()-len(TruncatedMarker))
	b.Write(body[:utf8Cut(body, room)])
	b.WriteString(TruncatedMarker)
	out := b.Bytes()
	// Only a header longer than MaxMessage itself (a huge hostname and
	// a small limit) gets here; the limit still holds.
	return out[:utf8Cut(out, s.cfg.MaxMessage)], nil
}

// sdValueMax caps one structured-data value, escaped, in bytes: the eight
// values and the header then fit well inside DefaultUDPMax, leaving MSG
// most of a datagram.
const sdValueMax = 128

// utf8Cut returns the length of the longest prefix of b of at most n bytes
// that does not end inside a UTF-8 sequence.
func utf8Cut(b []byte, n int) int {
	if n >= len(b) {
		return len(b)
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return n
}

// headerField makes a value fit a header field: printable US-ASCII without
// spaces, at most n characters, "-" when empty.
func headerField(v string, n int) string {
	out := make([]byte, 0, min(len(v), n))
	for i := 0; i < len(v) && len(out) < n; i++ {
		if c := v[i]; c > ' ' && c < 0x7f {
			out = append(out, c)
		} else {
			out = append(out, '_')
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}

// escapeSD renders a PARAM-VALUE (RFC 5424 6.3.3) of at most n bytes: `"`,
// `\` and `]` are escaped with a backslash as the RFC asks; so is every
// control character, which the RFC allows raw but a log line must not
// carry: \n, \r, \t, \xHH for the other C0 codes and DEL, \u00HH for C1.
// Invalid UTF-8 becomes U+FFFD. A longer value is cut and ends in "…".
func escapeSD(v string, n int) string {
	const more = "…"
	var b strings.Builder
	cut := -1 // where the value is cut if it does not fit whole
	for i, r := range v {
		var esc string
		switch {
		case r == '"' || r == '\\' || r == ']':
			esc = `\` + string(r)
		case r == '\n':
			esc = `\n`
		case r == '\r':
			esc = `\r`
		case r == '\t':
			esc = `\t`
		case r < 0x20 || r == 0x7f:
			esc = fmt.Sprintf(`\x%02x`, r)
		case r >= 0x80 && r <= 0x9f:
			esc = fmt.Sprintf(`\u%04x`, r)
		case r == utf8.RuneError:
			esc = "\uFFFD"
		default:
			esc = v[i : i+utf8.RuneLen(r)]
		}
		if cut < 0 && b.Len()+len(esc) > n-len(more) {
			cut = b.Len()
		}
		if b.Len()+len(esc) > n {
			return b.String()[:cut] + more
		}
		b.WriteString(esc)
	}
	return b.String()
}

// escapeJSONControls escapes in JSON text the control characters that
// encoding/json leaves raw: DEL and the C1 codes U+0080..U+009F, which some
// terminals and log viewers obey (U+009B is CSI). They can only occur
// inside strings, where \u escapes mean the same characters.
func escapeJSONControls(b []byte) []byte {
	need := false
	for i := 0; i < len(b); i++ {
		if b[i] == 0x7f || b[i] == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f {
			need = true
			break
		}
	}
	if !need {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == 0x7f:
			out = append(out, `\u007f`...)
		case b[i] == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f:
			out = fmt.Appendf(out, `\u%04x`, b[i+1])
			i++
		default:
			out = append(out, b[i])
		}
	}
	return out
}
