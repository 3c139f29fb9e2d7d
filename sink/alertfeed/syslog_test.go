package alertfeed

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// syslogMessage is an RFC 5424 message taken apart by parseSyslog.
type syslogMessage struct {
	pri                                       int
	timestamp, host, app, procID, msgID, sdID string
	params                                    map[string]string
	msg                                       []byte
}

// parseSyslog is a strict reader of the messages Syslog writes: one
// structured-data element, then a BOM and the MSG.
func parseSyslog(t *testing.T, raw []byte) syslogMessage {
	t.Helper()
	s := string(raw)
	var m syslogMessage
	end := strings.IndexByte(s, '>')
	if !strings.HasPrefix(s, "<") || end < 0 {
		t.Fatalf("no PRI in %q", s)
	}
	pri, err := strconv.Atoi(s[1:end])
	if err != nil {
		t.Fatalf("PRI in %q: %v", s, err)
	}
	m.pri = pri
	fields := strings.SplitN(s[end+1:], " ", 7)
	if len(fields) != 7 || fields[0] != "1" {
		t.Fatalf("header of %q: want VERSION 1 and six fields", s)
	}
	m.timestamp, m.host, m.app, m.procID, m.msgID = fields[1], fields[2], fields[3], fields[4], fields[5]
	rest := fields[6]
	if !strings.HasPrefix(rest, "[") {
		t.Fatalf("no structured data in %q", s)
	}
	rest = rest[1:]
	sp := strings.IndexByte(rest, ' ')
	m.sdID, rest = rest[:sp], rest[sp:]
	m.params = map[string]string{}
	for strings.HasPrefix(rest, " ") {
		eq := strings.Index(rest, `="`)
		name := rest[1:eq]
		rest = rest[eq+2:]
		var val strings.Builder
		for i := 0; ; i++ {
			c := rest[i]
			if c == '\\' {
				val.WriteByte(rest[i+1])
				i++
				continue
			}
			if c == '"' {
				rest = rest[i+1:]
				break
			}
			val.WriteByte(c)
		}
		m.params[name] = val.String()
	}
	const bom = "\uFEFF"
	if !strings.HasPrefix(rest, "] "+bom) {
		t.Fatalf("structured data of %q does not end in \"] \" and a BOM", s)
	}
	m.msg = []byte(rest[2+len(bom):])
	return m
}

func checkSyslogMessage(t *testing.T, raw []byte, want *event.Alert) {
	t.Helper()
	m := parseSyslog(t, raw)
	if m.pri != 13*8+3 { // log audit, error (a high alert)
		t.Errorf("PRI %d, want %d", m.pri, 13*8+3)
	}
	if m.timestamp != "2026-07-28T11:00:01.123456Z" && m.timestamp != "2026-07-28T11:00:02.123456Z" {
		t.Errorf("TIMESTAMP %q, want the alert's ts in microseconds", m.timestamp)
	}
	if m.host != "sensor-a" || m.app != "mcpwatch" || m.msgID != want.RuleID || m.sdID != sdID {
		t.Errorf("header %+v", m)
	}
	wantParams := map[string]string{
		"alert_id": want.AlertID, "rule_id": want.RuleID, "severity": want.Severity, "category": want.Category,
		"server_key": want.ServerKey, "client_address": want.ClientAddress, "session_id": want.SessionID,
		"tool_name": want.ToolName,
	}
	if !reflect.DeepEqual(m.params, wantParams) {
		t.Errorf("structured data %v, want %v", m.params, wantParams)
	}
	got, err := event.DecodeAlert(m.msg)
	if err != nil {
		t.Fatalf("MSG %q: %v", m.msg, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MSG decodes to %+v, want %+v", got, want)
	}
}

func newTestSyslog(t *testing.T, network, addr string) *Syslog {
	t.Helper()
	s, err := NewSyslog(SyslogConfig{Network: network, Addr: addr, Hostname: "sensor-a",
		Retry: Retry{Attempts: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := newTestSyslog(t, "udp", pc.LocalAddr().String())
	want := []*event.Alert{testAlert(1), testAlert(2)}
	if err := s.WriteAlerts(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	// A deadline only so that a lost datagram fails the test instead of
	// hanging it.
	pc.SetReadDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 64<<10)
	for _, a := range want {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		checkSyslogMessage(t, buf[:n], a)
	}
}

func TestSyslogTCPOctetCounting(t *testing.T) {
	l, frames := octetCountedListener(t)
	s := newTestSyslog(t, "tcp", l.Addr().String())
	want := []*event.Alert{testAlert(1), testAlert(2)}
	if err := s.WriteAlerts(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	for _, a := range want {
		checkSyslogMessage(t, <-frames, a)
	}
}

func TestSyslogCollectorDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	s := newTestSyslog(t, "tcp", addr)
	err = s.WriteAlerts(context.Background(), []*event.Alert{testAlert(1)})
	if err == nil || !strings.Contains(err.Error(), "syslog tcp://"+addr) {
		t.Errorf("WriteAlerts = %v, want an error naming tcp://%s", err, addr)
	}
}

func TestSyslogHeaderFields(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "-",
		"unexpected-server":     "unexpected-server",
		"rule with spaces":      "rule_with_spaces",
		"ünïcode":               "__n__code", // byte by byte
		strings.Repeat("x", 40): strings.Repeat("x", 32),
	} {
		if got := headerField(in, 32); got != want {
			t.Errorf("headerField(%q) = %q, want %q", in, got, want)
		}
	}
}

// octetCountedListener accepts one TCP syslog connection and passes on
// the first two octet-counted frames (RFC 6587) it carries.
func octetCountedListener(t *testing.T) (net.Listener, chan []byte) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	frames := make(chan []byte, 2)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		for range 2 {
			var n int
			if _, err := fmt.Fscanf(r, "%d ", &n); err != nil {
				t.Errorf("frame length: %v", err)
				return
			}
			frame := make([]byte, n)
			if _, err := io.ReadFull(r, frame); err != nil {
				t.Errorf("frame: %v", err)
				return
			}
			frames <- frame
		}
	}()
	return l, frames
}
