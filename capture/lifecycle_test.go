package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/mcpwatch/mcpwatch/capture/internal/pcapsynth"
)

func TestOpenPcapErrors(t *testing.T) {
	dir := t.TempDir()
	notPcap := filepath.Join(dir, "notes.txt")
	os.WriteFile(notPcap, []byte("these are not packets\n"), 0o644)
	empty := filepath.Join(dir, "empty.pcap")
	os.WriteFile(empty, nil, 0o644)
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.pcap"), `open pcap "` + filepath.Join(dir, "missing.pcap") + `": open ` + filepath.Join(dir, "missing.pcap") + `: no such file or directory`},
		{notPcap, `"` + notPcap + `" is not a pcap or pcapng file`},
		{empty, `"` + empty + `" is not a pcap or pcapng file (0 bytes)`},
	} {
		_, err := OpenPcap(c.path)
		if err == nil || err.Error() != c.want {
			t.Errorf("OpenPcap(%s) = %v, want %s", filepath.Base(c.path), err, c.want)
		}
	}
}

// demoAsPcapNG rewrites the demo capture as pcapng.
func demoAsPcapNG(t *testing.T) []byte {
	f, err := os.Open("../testdata/demo.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	return buf.Bytes()
}

func TestPcapNG(t *testing.T) {
	ng := demoAsPcapNG(t)
	dir := t.TempDir()
	whole, cut := filepath.Join(dir, "demo.pcapng"), filepath.Join(dir, "cut.pcapng")
	os.WriteFile(whole, ng, 0o644)
	os.WriteFile(cut, ng[:len(ng)-30], 0o644)

	rec, _, err := runFile(t, whole, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if lost := lostMessages(t, rec); len(lost) > 0 {
		t.Errorf("pcapng lost %q", lost)
	}
	rec, st, err := runFile(t, cut, Config{})
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "cut.pcapng") {
		t.Fatalf("cut pcapng: error %v, want ErrTruncated naming the file", err)
	}
	if lost := lostMessages(t, rec); len(lost) > 0 || st.FlowsEnded.InputEnd == 0 {
		t.Errorf("cut inside the last FIN exchange: lost %q, %d ended by input end", lost, st.FlowsEnded.InputEnd)
	}
}

// demoConns reads the real conversations of the demo capture.
func demoConns(t testing.TB) []pcapsynth.Conn { return readConns(t, "../testdata/demo.pcap") }

// corpusConns reads the conversations of a corpus capture.
func corpusConns(t testing.TB, name string) []pcapsynth.Conn {
	return readConns(t, "../testdata/capture/"+name+".pcap")
}

func readConns(t testing.TB, path string) []pcapsynth.Conn {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	conns, err := pcapsynth.FromPcap(f)
	if err != nil {
		t.Fatal(err)
	}
	return conns
}

// writeCapture writes packets as an Ethernet pcap in a temp dir.
func writeCapture(t testing.TB, pkts []pcapsynth.Packet) string {
	var buf bytes.Buffer
	if err := pcapsynth.WritePcap(&buf, pkts, pcapsynth.Ethernet); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestIdleTimeoutAndTick(t *testing.T) {
	conns := demoConns(t)
	// The SSE session never closes; the JSON session starts an hour later.
	conns[0].Closed = time.Time{}
	for i := range conns[2].Writes {
		conns[2].Writes[i].At = conns[2].Writes[i].At.Add(time.Hour)
	}
	conns[2].Opened = conns[2].Opened.Add(time.Hour)
	path := writeCapture(t, pcapsynth.Segment(conns, 1460))

	var ticks []time.Time
	cfg := Config{IdleTimeout: 10 * time.Minute, Tick: func(now time.Time) { ticks = append(ticks, now) }}
	rec, _, err := runFile(t, path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The DELETE connection ends with FIN, the SSE session idle when the
	// JSON session's first packet moves the clock, which ends at input end.
	var reasons []string
	for _, e := range rec.ends {
		reasons = append(reasons, e.Reason)
	}
	if strings.Join(reasons, ",") != "fin,idle,input-end" || rec.conns[1].Client != conns[0].Client {
		t.Fatalf("connection ends %v (first to end idle: %v, want the SSE session's %v)", reasons, rec.conns[1].Client, conns[0].Client)
	}
	if !rec.ends[1].Time.Equal(conns[2].Opened) {
		t.Errorf("idle end at %v, not at the packet that revealed it (%v)", rec.ends[1].Time, conns[2].Opened)
	}
	if len(ticks) == 0 {
		t.Fatal("Tick never called")
	}
	for i := 1; i < len(ticks); i++ {
		if ticks[i].Before(ticks[i-1]) {
			t.Errorf("Tick went back in time: %v after %v", ticks[i], ticks[i-1])
		}
	}
}

func TestRSTEndsConnection(t *testing.T) {
	conns := demoConns(t)
	pkts := pcapsynth.Segment(conns, 1460)
	// The JSON session (left open by the client) is reset by the server.
	var last pcapsynth.Packet
	for _, p := range pkts {
		if p.Conn == 2 && !p.C2S {
			last = p
		}
	}
	rst := pcapsynth.Packet{At: last.At.Add(time.Millisecond), Conn: 2, Src: last.Src, Dst: last.Dst, RST: true, Seq: last.Seq + uint32(len(last.Data)), Write: -1}
	rec, st, err := runFile(t, writeCapture(t, append(pkts, rst)), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if st.FlowsEnded.RST != 1 {
		t.Fatalf("ends %+v, want one RST", st.FlowsEnded)
	}
	for i, c := range rec.conns {
		if c.Server.Port() == 3000 && (rec.ends[i].Reason != ConnEndRST || rec.ends[i].Exchanges != 8 || !rec.ends[i].Time.Equal(rst.At)) {
			t.Errorf("JSON session end %+v", rec.ends[i])
		}
	}
}

// halfOpenFlows makes n connections that send a SYN and nothing else,
// one every 10 µs, from distinct client ports and addresses.
func halfOpenFlows(n int) []pcapsynth.Packet {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	server := netip.MustParseAddrPort("10.0.0.5:8080")
	pkts := make([]pcapsynth.Packet, n)
	for i := range pkts {
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 16), byte(i >> 8)}), uint16(1024+i%60000))
		pkts[i] = pcapsynth.Packet{At: start.Add(time.Duration(i) * 10 * time.Microsecond), Src: client, Dst: server, SYN: true, Seq: uint32(i), Write: -1}
	}
	return pkts
}

type discard struct{ ends int }

func (discard) Request(*Request)                        {}
func (discard) Response(*Request, *Response)            {}
func (discard) SSEEvent(*Request, *Response, *SSEEvent) {}
func (discard) ResponseEnd(*Request, *Response)         {}
func (d *discard) ConnEnd(*Conn, *ConnEnd)              { d.ends++ }

func TestHalfOpenFloodStaysBounded(t *testing.T) {
	const flows, maxFlows = 100_000, 5_000
	path := writeCapture(t, halfOpenFlows(flows))
	src, err := OpenPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	h := &discard{}
	e, err := NewEngine(Config{MaxFlows: maxFlows}, h)
	if err != nil {
		t.Fatal(err)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := e.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := e.Stats()
	if st.FlowsCreated != flows || st.FlowsActive > maxFlows || st.FlowsEnded.Evicted < flows-maxFlows || e.tracked > maxFlows {
		t.Errorf("flood: created %d, active %d (cap %d), evicted %d, tracked %d", st.FlowsCreated, st.FlowsActive, maxFlows, st.FlowsEnded.Evicted, e.tracked)
	}
	// A tracked flow costs a few KB (stream, parsers, reassembly
	// connection); the cap must keep the heap far below what 100,000 would take.
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap grew %d KiB for %d flows at cap %d; %d evicted", grown>>10, flows, maxFlows, st.FlowsEnded.Evicted)
	if limit := int64(maxFlows) * 8 << 10; grown > limit {
		t.Errorf("heap grew %d bytes, more than %d for %d tracked flows", grown, limit, maxFlows)
	}
	e.Finish()
	if uint64(h.ends) != flows || e.Stats().FlowsActive != 0 {
		t.Errorf("%d ConnEnds for %d flows, %d still active", h.ends, flows, e.Stats().FlowsActive)
	}
}

// TestLargeBody replaces the JSON session's tools/list result with a
// 50 MB body: the Engine keeps MaxBodyBytes of it, counts all of it, and
// the exchanges after it still parse.
func TestLargeBody(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 50 MB capture")
	}
	conns := demoConns(t)
	const size = 50 << 20
	body := bytes.Repeat([]byte(`{"jsonrpc":"2.0","id":2,"result":{"pad":"`), 1)
	body = append(body, bytes.Repeat([]byte("x"), size-len(body)-3)...)
	body = append(body, `"}}`...)
	c := &conns[2]
	replaced := false
	for i, w := range c.Writes {
		if !w.C2S && bytes.Contains(w.Data, []byte(`"tools":[`)) {
			head, _, _ := bytes.Cut(w.Data, []byte("\r\n\r\n"))
			head = regexpContentLength.ReplaceAll(head, []byte(fmt.Sprintf("Content-Length: %d", size)))
			c.Writes[i].Data = append(append(head, "\r\n\r\n"...), body...)
			replaced = true
		}
	}
	if !replaced {
		t.Fatal("no tools/list response in the demo")
	}
	rec, st, err := runFile(t, writeCapture(t, pcapsynth.Segment(conns, 1460)), Config{})
	if err != nil {
		t.Fatal(err)
	}
	var big *Response
	for _, r := range rec.resps {
		if r.BodyLen == size {
			big = r
		}
	}
	if big == nil || len(big.Body) != DefaultConfig().MaxBodyBytes || big.TruncatedBy != TruncBodyCap {
		t.Fatalf("50 MB response: %+v", big)
	}
	if st.Requests != 16 || st.Responses != 16 || st.Truncations.BodyCap != 1 {
		t.Errorf("exchanges around the big body: %+v", st)
	}
}

var regexpContentLength = regexp.MustCompile(`Content-Length: \d+`)
