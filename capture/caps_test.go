package capture

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture/internal/pcapsynth"
)

// TestPageCapFlushesOldestAsGap holds back one early segment of the long
// SSE stream so everything after it queues out of order; the per-connection
// page cap must flush the queue as a gap long before GapTimeout, and the
// stream must go on.
func TestPageCapFlushesOldestAsGap(t *testing.T) {
	conns := corpusConns(t, "sse-30min")
	pkts := pcapsynth.Segment(conns, 100)
	var out []pcapsynth.Packet
	dropped := false
	for _, p := range pkts {
		if !dropped && p.Conn == 0 && !p.C2S && len(p.Data) > 0 && p.At.Sub(pkts[0].At) > 90*time.Second {
			dropped = true
			continue
		}
		out = append(out, p)
	}
	cfg := Config{MaxPages: 16, MaxPagesPerConn: 4, GapTimeout: time.Hour, IdleTimeout: time.Hour}
	rec, st, err := runFile(t, writeCapture(t, out), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.PageCapGaps != 1 || st.Gaps != 1 || st.PagesInUse > cfg.MaxPages {
		t.Errorf("page cap: %d cap gaps, %d gaps, %d pages in use", st.PageCapGaps, st.Gaps, st.PagesInUse)
	}
	var cut, after int
	for _, ev := range rec.events {
		if ev.Truncated {
			cut++
		} else if cut > 0 {
			after++
		}
	}
	if cut != 1 || after < 25 {
		t.Errorf("%d truncated events, %d complete ones after", cut, after)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{MaxBodyBytes: -1}, "capture config: MaxBodyBytes must be positive, got -1"},
		{Config{MaxHeaderBytes: 100}, "capture config: MaxHeaderBytes must be at least 256, got 100"},
		{Config{MaxPages: 10, MaxPagesPerConn: 20}, "capture config: MaxPagesPerConn (20) exceeds MaxPages (10)"},
		{Config{IdleTimeout: time.Second}, "capture config: IdleTimeout (1s) shorter than GapTimeout (2s)"},
	} {
		err := c.cfg.Validate()
		if (err == nil && c.want != "") || (err != nil && err.Error() != c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
	if _, err := NewEngine(Config{MaxFlows: -5}, &discard{}); err == nil {
		t.Error("NewEngine accepted a negative MaxFlows")
	}
}

func TestFilters(t *testing.T) {
	for _, c := range []struct {
		cfg     Config
		servers []string
	}{
		{Config{Ports: []uint16{3000}}, []string{"10.0.0.9:3000"}},
		{Config{Nets: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}}, []string{"10.0.0.5:8080", "10.0.0.5:8080"}},
		{Config{Ports: []uint16{3000}, Nets: []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24")}}, []string{"10.0.0.9:3000"}},
		{Config{Ports: []uint16{8080}, Nets: []netip.Prefix{netip.MustParsePrefix("10.0.0.9/32")}}, nil},
	} {
		rec, st, err := runFile(t, "../testdata/demo.pcap", c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		var servers []string
		for _, conn := range rec.conns {
			servers = append(servers, conn.Server.String())
		}
		slices.Sort(servers)
		if !slices.Equal(servers, c.servers) || (len(servers) < 3 && st.Filtered == 0) {
			t.Errorf("ports %v nets %v: connections to %v (%d filtered), want %v", c.cfg.Ports, c.cfg.Nets, servers, st.Filtered, c.servers)
		}
	}
}

// TestKeepAliveProbeOnParkedStream: a TCP keep-alive probe (no data, one
// sequence number back) is the first packet after a quiet stream was
// parked, a minute before the next event; resuming must not start the
// stream at the probe, or a one-byte hole would cut that event.
func TestKeepAliveProbeOnParkedStream(t *testing.T) {
	conns := corpusConns(t, "sse-quiet")
	var out []pcapsynth.Packet
	for _, p := range pcapsynth.Segment(conns, 1460) {
		if p.Conn == 0 && !p.C2S && len(p.Data) > 0 && bytes.Contains(p.Data, []byte("id: ")) {
			probe := p
			probe.At = p.At.Add(-time.Minute)
			probe.Seq, probe.Data = p.Seq-1, nil
			out = append(out, probe)
		}
		out = append(out, p)
	}
	rec, st, err := runFile(t, writeCapture(t, out), Config{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ev := range rec.events {
		if ev.ID != "" {
			ids = append(ids, ev.ID)
		}
		if ev.Truncated {
			t.Errorf("event %q truncated", ev.ID)
		}
	}
	if st.Gaps != 0 || st.Resumed == 0 || strings.Join(ids, ",") != "0,1,2,3" {
		t.Errorf("gaps %d, resumed %d, event ids %v", st.Gaps, st.Resumed, ids)
	}
}
