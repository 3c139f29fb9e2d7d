package alertfeed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

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
}

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
	switch {
	case c.Network != "udp" && c.Network != "tcp":
		return fmt.Errorf("syslog network %q: want udp or tcp", c.Network)
	case c.Addr == "":
		return errors.New("syslog: collector address (host:port) is required")
	case c.Facility < 0 || c.Facility > 23:
		return fmt.Errorf("syslog facility %d: want 0..23", c.Facility)
	case c.Timeout < 0:
		return errors.New("syslog: timeout must not be negative")
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
			return fmt.Errorf("syslog %s://%s: alert %s: %w", s.cfg.Network, s.cfg.Addr, a.AlertID, err)
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
// configured format; now is only a fallback for an alert without ts.
func (s *Syslog) format(a *event.Alert, now time.Time) ([]byte, error) {
	body, err := s.cfg.Format.encode(a)
	if err != nil {
		return nil, err
	}
	ts := a.TS
	if ts.IsZero() {
		ts = now
	}
	var b strings.Builder
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
			fmt.Fprintf(&b, " %s=\"%s\"", p[0], sdEscape.Replace(p[1]))
		}
	}
	b.WriteString("] ")
	// The UTF-8 BOM tells the collector MSG is UTF-8 (RFC 5424 6.4).
	b.WriteString("\uFEFF")
	b.Write(body)
	return []byte(b.String()), nil
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

// sdEscape escapes a PARAM-VALUE (RFC 5424 6.3.3).
var sdEscape = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`)
