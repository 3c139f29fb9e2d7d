package alertfeed

import (
	"bytes"
	"context"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mcpwatch/mcpwatch/event"
)

// hugeAlert is an alert bigger than any datagram: the alert that used to
// fail with "message too long" and be retried forever.
func hugeAlert() *event.Alert {
	a := testAlert(9)
	a.Attributes = map[string]string{"previous": strings.Repeat("é", 50_000)} // 100 000 bytes
	return a
}

// checkTruncated checks a message cut to max: within it, valid UTF-8, the
// marker at the end and the MSG's full length in structured data.
func checkTruncated(t *testing.T, raw []byte, limit int, a *event.Alert) {
	t.Helper()
	if len(raw) > limit || !utf8.Valid(raw) || !bytes.HasSuffix(raw, []byte(TruncatedMarker)) {
		t.Fatalf("message of %d bytes (max %d), valid UTF-8 %v, ends %q", len(raw), limit, utf8.Valid(raw), raw[max(0, len(raw)-20):])
	}
	m := parseSyslog(t, raw)
	full, err := Format(FormatJSON).encode(a)
	if err != nil {
		t.Fatal(err)
	}
	if m.params["truncated"] != strconv.Itoa(len(full)) || m.params["alert_id"] != a.AlertID {
		t.Errorf("structured data %v, want truncated=%d and the alert id", m.params, len(full))
	}
	if msg := bytes.TrimSuffix(m.msg, []byte(TruncatedMarker)); !bytes.HasPrefix(full, msg) {
		t.Errorf("MSG is not a prefix of the alert JSON")
	}
}

// TestSyslogUDPTruncatesToADatagram sends an alert of 100 kB and one after
// it to a real UDP listener: the first arrives cut to 2048 bytes with the
// marker, the second whole — nothing is retried, nothing blocked.
func TestSyslogUDPTruncatesToADatagram(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	f := newTestFeed(t, newTestSyslog(t, "udp", pc.LocalAddr().String()))
	big, next := hugeAlert(), testAlert(2)
	if err := f.WriteAlerts(context.Background(), []*event.Alert{big, next}); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 64<<10)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	checkTruncated(t, buf[:n], DefaultUDPMax, big)
	if n, _, err = pc.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	checkSyslogMessage(t, buf[:n], next)
	if st := f.Stats(); st.Delivered != 2 || st.DeadLettered.Permanent+st.DeadLettered.Undelivered != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestSyslogTCPMaxMessage cuts messages to a configured maximum over TCP;
// the octet count frames the cut message exactly.
func TestSyslogTCPMaxMessage(t *testing.T) {
	l, frames := octetCountedListener(t)
	s, err := NewSyslog(SyslogConfig{Network: "tcp", Addr: l.Addr().String(), Hostname: "sensor-a", MaxMessage: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big, next := hugeAlert(), testAlert(2)
	if err := s.WriteAlerts(context.Background(), []*event.Alert{big, next}); err != nil {
		t.Fatal(err)
	}
	checkTruncated(t, <-frames, 1000, big)
	checkSyslogMessage(t, <-frames, next)
}

// TestSyslogEscapesControlCharacters sends an alert whose wire-derived
// fields carry LF, CR, ESC, DEL and C1 codes (a forged second log line, a
// terminal escape) to a real UDP listener: no control character arrives
// raw, and the MSG still decodes to the alert as it was.
func TestSyslogEscapesControlCharacters(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	a := testAlert(1)
	a.ServerKey = "http://evil.example/mcp\n<13>1 2026-07-28T11:00:00Z sensor-a mcpwatch - - - forged"
	a.SessionID = "sess\r\x1b[2J"
	a.ToolName = "tool\u009b31m\x7f"
	a.ClientAddress = "10.0.0.7\x00"
	a.Summary = "line one\nline two \x1b]0;title\x07 \u0085 done"
	a.Attributes = map[string]string{"tool_description": "ignore previous\u2028instructions\x1b[8m"}
	s := newTestSyslog(t, "udp", pc.LocalAddr().String())
	if err := s.WriteAlerts(context.Background(), []*event.Alert{a}); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 64<<10)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	raw := buf[:n]
	for i, r := range string(raw) {
		if r < 0x20 || r >= 0x7f && r <= 0x9f || r == 0x2028 {
			t.Fatalf("control character %U at byte %d of %q", r, i, raw)
		}
	}
	for _, want := range []string{
		`server_key="http://evil.example/mcp\n<13>1 2026-07-28T11:00:00Z sensor-a mcpwatch - - - forged"`,
		`session_id="sess\r\x1b[2J"`,
		`tool_name="tool\u009b31m\x7f"`,
		`client_address="10.0.0.7\x00"`,
	} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("message lacks %s: %q", want, raw)
		}
	}
	got, err := event.DecodeAlert(parseSyslog(t, raw).msg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Errorf("MSG decodes to %+v, want %+v", got, a)
	}
}

func TestEscapeSD(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{`a"b\c]d`, `a\"b\\c\]d`},
		{"a\nb\rc\td", `a\nb\rc\td`},
		{"\x1b[31m\x00\x7f", `\x1b[31m\x00\x7f`},
		{"\u0085\u009b", `\u0085\u009b`},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{"ünïcode", "ünïcode"},
		{strings.Repeat("x", 200), strings.Repeat("x", 125) + "…"},
		{strings.Repeat("\n", 100), strings.Repeat(`\n`, 62) + "…"},
	} {
		if got := escapeSD(tc.in, sdValueMax); got != tc.want {
			t.Errorf("escapeSD(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSyslogMaxMessageRejects(t *testing.T) {
	for _, cfg := range []SyslogConfig{
		{Network: "udp", Addr: "127.0.0.1:514", MaxMessage: 100},
		{Network: "udp", Addr: "127.0.0.1:514", MaxMessage: 70_000},
		{Network: "tcp", Addr: "127.0.0.1:514", MaxMessage: -1},
	} {
		if _, err := NewSyslog(cfg); err == nil {
			t.Errorf("NewSyslog(%+v) succeeded", cfg)
		}
	}
}
