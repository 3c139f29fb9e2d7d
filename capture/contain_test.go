package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// transcript is a Handler that writes one line per call, by connection
// (client → server), so runs with different connection ids compare.
type transcript struct {
	lines map[string][]string
}

func newTranscript() *transcript { return &transcript{lines: map[string][]string{}} }

func clientServer(c *Conn) string { return c.Client.String() + "→" + c.Server.String() }

func (r *transcript) add(c *Conn, format string, args ...any) {
	r.lines[clientServer(c)] = append(r.lines[clientServer(c)], fmt.Sprintf(format, args...))
}

func (r *transcript) Request(req *Request) {
	r.add(req.Conn, "request %d %s %s %d", req.Seq, req.Method, req.Target, req.BodyLen)
}

func (r *transcript) Response(_ *Request, resp *Response) {
	r.add(resp.Conn, "response %d %d %d", resp.Seq, resp.StatusCode, resp.BodyLen)
}

func (r *transcript) SSEEvent(_ *Request, resp *Response, ev *SSEEvent) {
	r.add(resp.Conn, "event %d/%d %q", resp.Seq, ev.Index, ev.Data)
}

func (r *transcript) ResponseEnd(_ *Request, resp *Response) {
	r.add(resp.Conn, "response end %d", resp.Seq)
}

func (r *transcript) ConnEnd(c *Conn, end *ConnEnd) {
	r.add(c, "end %s %d/%d", end.Reason, end.BytesC2S, end.BytesS2C)
}

// faultInjector hands every call on to next but the nth for the
// connection of client target, which dereferences a nil pointer, as the
// decoder did in issue 12.
type faultInjector struct {
	next     Handler
	target   netip.AddrPort
	n, calls int
	forgot   []*Conn
	sink     uint64
}

func (f *faultInjector) hit(c *Conn) {
	if c.Client != f.target {
		return
	}
	if f.calls++; f.calls == f.n {
		var nothing *Conn
		f.sink = nothing.ID
	}
}

func (f *faultInjector) Request(req *Request) { f.hit(req.Conn); f.next.Request(req) }
func (f *faultInjector) Response(req *Request, resp *Response) {
	f.hit(resp.Conn)
	f.next.Response(req, resp)
}
func (f *faultInjector) SSEEvent(req *Request, resp *Response, ev *SSEEvent) {
	f.hit(resp.Conn)
	f.next.SSEEvent(req, resp, ev)
}
func (f *faultInjector) ResponseEnd(req *Request, resp *Response) {
	f.hit(resp.Conn)
	f.next.ResponseEnd(req, resp)
}
func (f *faultInjector) ConnEnd(c *Conn, end *ConnEnd) { f.hit(c); f.next.ConnEnd(c, end) }
func (f *faultInjector) Forget(c *Conn)                { f.forgot = append(f.forgot, c) }

// busiestClient is the client of the connection with the most calls.
func busiestClient(t *testing.T, clean *transcript) netip.AddrPort {
	best := ""
	for _, k := range slices.Sorted(maps.Keys(clean.lines)) {
		if len(clean.lines[k]) > len(clean.lines[best]) {
			best = k
		}
	}
	client, _, _ := strings.Cut(best, "→")
	ap, err := netip.ParseAddrPort(client)
	if err != nil || len(clean.lines[best]) < 4 {
		t.Fatalf("busiest connection %q: %d calls, %v", best, len(clean.lines[best]), err)
	}
	return ap
}

// runContained plays src through shards Engines (a lone Engine when 0)
// into Contain(h), and returns the faults reported.
func runContained(t *testing.T, src Source, shards int, h Handler) ([]Fault, *Contained) {
	t.Helper()
	var faults []Fault
	c := Contain(h, func(f Fault) { faults = append(faults, f) })
	var r interface {
		Run(context.Context, Source) error
		Finish()
	}
	var err error
	if shards == 0 {
		r, err = NewEngine(Config{Tick: c.Tick}, c)
	} else {
		// The shards share one Contained, their calls serialised: the
		// test compares per connection, and a connection stays on one
		// shard.
		l := &locked{h: c}
		r, err = NewShards(shards, Config{}, func(int, *Config) Handler { return l })
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	r.Finish()
	return faults, c
}

// TestContainDropsOnlyTheFaultedConnection: a nil dereference in the third
// call for one connection of the demo capture is contained; that
// connection gets no call after it (not even ConnEnd) and is forgotten,
// every other connection gets exactly the calls of a clean run.
func TestContainDropsOnlyTheFaultedConnection(t *testing.T) {
	for _, shards := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			clean := newTranscript()
			runContained(t, openDemo(t), shards, clean)
			target := busiestClient(t, clean)

			got := newTranscript()
			inj := &faultInjector{next: got, target: target, n: 3}
			faults, c := runContained(t, openDemo(t), shards, inj)
			if len(faults) != 1 || c.Faults() != 1 {
				t.Fatalf("%d faults reported, %d counted; want 1", len(faults), c.Faults())
			}
			f := faults[0]
			if f.Stage != FaultHandler || f.Conn == nil || f.Client != target || f.Server != f.Conn.Server || f.Time.IsZero() {
				t.Errorf("fault %+v, want the handler's, on %v", f, target)
			}
			if err, ok := f.Value.(runtime.Error); !ok || !strings.Contains(err.Error(), "nil pointer dereference") {
				t.Errorf("panic value %v, want the nil dereference", f.Value)
			}
			if !strings.HasPrefix(f.Frame, "capture.(*faultInjector).hit contain_test.go:") || !strings.Contains(string(f.Stack), "faultInjector") {
				t.Errorf("frame %q, want the injector's", f.Frame)
			}
			if len(inj.forgot) != 1 || inj.forgot[0] != f.Conn {
				t.Errorf("Forget called with %v, want once with the faulted connection", inj.forgot)
			}
			for k, want := range clean.lines {
				if strings.HasPrefix(k, target.String()+"→") {
					// The two calls before the fault, none after.
					if g := got.lines[k]; !slices.Equal(g, want[:2]) {
						t.Errorf("faulted connection's calls %q, want %q", g, want[:2])
					}
				} else if !slices.Equal(got.lines[k], want) {
					t.Errorf("connection %s changed:\n got %q\nwant %q", k, got.lines[k], want)
				}
			}
			if len(got.lines) != len(clean.lines) {
				t.Errorf("%d connections, clean run %d", len(got.lines), len(clean.lines))
			}
			if len(c.faulted) != 0 {
				t.Errorf("%d faulted connections still remembered after their ConnEnd", len(c.faulted))
			}
		})
	}
}

// locked serialises calls from several shards into one Handler.
type locked struct {
	mu sync.Mutex
	h  *Contained
}

func (l *locked) do(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

func (l *locked) Request(req *Request) { l.do(func() { l.h.Request(req) }) }
func (l *locked) Response(req *Request, resp *Response) {
	l.do(func() { l.h.Response(req, resp) })
}
func (l *locked) SSEEvent(req *Request, resp *Response, ev *SSEEvent) {
	l.do(func() { l.h.SSEEvent(req, resp, ev) })
}
func (l *locked) ResponseEnd(req *Request, resp *Response) {
	l.do(func() { l.h.ResponseEnd(req, resp) })
}
func (l *locked) ConnEnd(c *Conn, end *ConnEnd) { l.do(func() { l.h.ConnEnd(c, end) }) }

func openDemo(t *testing.T) Source {
	t.Helper()
	src, err := OpenPcap("../testdata/demo.pcap")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// ticker panics in Tick and Finish.
type ticker struct {
	transcript
	ticks int
}

func (k *ticker) Tick(time.Time)          { k.ticks++; panic("tick") }
func (k *ticker) Finish(time.Time)        { panic(errors.New("finish")) }
func (k *ticker) ConnEnd(*Conn, *ConnEnd) { panic("end") }

// TestContainTickAndFinish: panics in Tick and Finish are reported without
// a connection, and the next Tick runs; a panic in ConnEnd is reported and
// not remembered.
func TestContainTickAndFinish(t *testing.T) {
	k := &ticker{transcript: *newTranscript()}
	var faults []Fault
	c := Contain(k, func(f Fault) { faults = append(faults, f) })
	c.Tick(time.Unix(1, 0))
	c.Tick(time.Unix(2, 0))
	c.Finish(time.Unix(3, 0))
	if k.ticks != 2 || len(faults) != 3 || c.Faults() != 3 {
		t.Fatalf("%d ticks, %d faults; want 2 and 3", k.ticks, len(faults))
	}
	for i, call := range []string{"Tick", "Tick", "Finish"} {
		f := faults[i]
		if f.Call != call || f.Conn != nil || f.Client.IsValid() || !strings.HasPrefix(f.Frame, "capture.(*ticker)."+call) {
			t.Errorf("fault %d: %s %v %q, want %s without a connection", i, f.Call, f.Conn, f.Frame, call)
		}
	}
	// A panic in ConnEnd, the connection's last call, leaves nothing behind.
	c.ConnEnd(&Conn{ID: 1}, &ConnEnd{})
	if len(faults) != 4 || faults[3].Call != "ConnEnd" || len(c.faulted) != 0 {
		t.Errorf("ConnEnd fault: %d faults, %d connections remembered", len(faults), len(c.faulted))
	}
	// A Handler without Tick and Finish: nothing to call.
	Contain(newTranscript(), nil).Tick(time.Unix(4, 0))
}

// TestFrameDecodePanicContained: a frame whose header decoding panics is
// skipped and reported with its endpoints and a copy of it, and the Engine
// goes on with the next frames.
func TestFrameDecodePanicContained(t *testing.T) {
	var faults []Fault
	rec := newTranscript()
	e, err := NewEngine(Config{Fault: func(f Fault) { faults = append(faults, f) }}, rec)
	if err != nil {
		t.Fatal(err)
	}
	src := openDemo(t)
	p, err := src.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	first := p
	first.Data = slices.Clone(p.Data)
	_, tcp, err := e.containFrame(p, func(layers.LinkType, []byte) (gopacket.Flow, *layers.TCP, error) {
		var b []byte
		return gopacket.Flow{}, nil, fmt.Errorf("%d", b[3])
	})
	if err == nil || tcp != nil || e.stats.Faults != 1 || len(faults) != 1 {
		t.Fatalf("err %v, %d faults counted, %d reported", err, e.stats.Faults, len(faults))
	}
	f := faults[0]
	a, b, ok := frameEndpoints(first.LinkType, first.Data)
	if f.Stage != FaultPacket || f.Call != "decode" || !ok || f.Client != a || f.Server != b || f.Packet == nil ||
		!slices.Equal(f.Packet.Data, first.Data) || !strings.HasPrefix(f.Frame, "capture.TestFrameDecodePanicContained.func") {
		t.Errorf("fault %s, packet %v", f, f.Packet != nil)
	}
	if a.Port() < b.Port() {
		t.Errorf("client port %d below server port %d", a.Port(), b.Port())
	}
	// The frame decodes as usual, and the rest of the capture runs.
	if _, tcp, err := e.decodeFrame(first); err != nil || tcp == nil {
		t.Fatalf("decode after the fault: %v", err)
	}
	e.packet(first)
	if err := e.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	e.Finish()
	if len(rec.lines) == 0 || len(faults) != 1 {
		t.Errorf("%d connections after the fault, %d faults", len(rec.lines), len(faults))
	}
}

// packetsOf are the frames between client and server, both directions.
func packetsOf(pkts []Packet, client, server netip.AddrPort) []Packet {
	var out []Packet
	for _, p := range pkts {
		if a, b, ok := frameEndpoints(p.LinkType, p.Data); ok && keyOf(a, b) == keyOf(client, server) {
			out = append(out, p)
		}
	}
	return out
}

func samePackets(t *testing.T, got, want []Packet) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d packets, want %d", len(got), len(want))
	}
	for i := range got {
		if !slices.Equal(got[i].Data, want[i].Data) || !got[i].Info.Timestamp.Equal(want[i].Info.Timestamp) || got[i].LinkType != want[i].LinkType {
			t.Fatalf("packet %d differs", i)
		}
	}
}

// TestDumpReproducesFault: with a FaultDumper on the source, the fault's
// connection is written as a pcap holding exactly its packets, and playing
// that pcap with the same fault faults the same way.
func TestDumpReproducesFault(t *testing.T) {
	all := readFrames(t, "../testdata/demo.pcap")
	clean := newTranscript()
	runContained(t, &memSource{frames: all}, 0, clean)
	target := busiestClient(t, clean)
	for _, shards := range []int{1, 2} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			dir := t.TempDir()
			d, err := NewFaultDumper(&memSource{frames: all}, DumpConfig{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			inj := &faultInjector{next: newTranscript(), target: target, n: 3}
			faults, _ := runContained(t, d, shards, inj)
			if len(faults) != 1 {
				t.Fatalf("%d faults", len(faults))
			}
			f := faults[0]
			path, err := d.Dump(f)
			if err != nil || path == "" {
				t.Fatalf("dump: %q, %v", path, err)
			}
			if want := filepath.Join(dir, dumpName(f)+".pcap"); path != want {
				t.Errorf("dump %s, want %s", path, want)
			}
			samePackets(t, readFrames(t, path), packetsOf(all, f.Client, f.Server))
			txt, err := os.ReadFile(strings.TrimSuffix(path, ".pcap") + ".txt")
			if err != nil || !strings.Contains(string(txt), f.Frame) || !strings.Contains(string(txt), "goroutine") {
				t.Errorf("fault text %q, %v", txt, err)
			}
			st := d.Stats()
			if st.Dumps != 1 || st.ConnCapDrops != 0 || st.Evictions != 0 {
				t.Errorf("stats %+v", st)
			}

			again := &faultInjector{next: newTranscript(), target: target, n: 3}
			src, err := OpenPcap(path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			replayed, _ := runContained(t, src, 0, again)
			if len(replayed) != 1 || replayed[0].Call != f.Call || replayed[0].Client != f.Client || replayed[0].Frame != f.Frame {
				t.Fatalf("replaying the dump: faults %v, want %s", replayed, f)
			}
		})
	}
}

// TestDumperCaps: a connection over MaxConnBytes keeps its first and latest
// packets, the rest counted; over MaxBytes the least recently active
// connections go whole, counted; past MaxDumps nothing is written.
func TestDumperCaps(t *testing.T) {
	all := readFrames(t, "../testdata/demo.pcap")
	a, b, _ := frameEndpoints(all[0].LinkType, all[0].Data)
	conn := packetsOf(all, a, b)
	size := func(ps []Packet) (n int) {
		for _, p := range ps {
			n += len(p.Data) + dumpPacketOverhead
		}
		return n
	}
	if len(conn) < 8 {
		t.Fatalf("first connection has %d packets", len(conn))
	}
	// Room for about a third of the connection, half of it for its head.
	perConn := size(conn) / 3
	d, err := NewFaultDumper(&memSource{frames: conn}, DumpConfig{Dir: t.TempDir(), MaxConnBytes: perConn, MaxDumps: 1})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, d)
	st := d.Stats()
	head, tail := 0, len(conn)
	for size(conn[:head+1]) <= perConn/2 {
		head++
	}
	for size(conn[tail-1:]) <= perConn-perConn/2 {
		tail--
	}
	if st.ConnsActive != 1 || st.ConnCapDrops != uint64(tail-head) || st.BytesInUse != size(conn[:head])+size(conn[tail:])+dumpConnOverhead {
		t.Fatalf("stats %+v; want %d packets dropped of %d, %d bytes", st, tail-head, len(conn), size(conn[:head])+size(conn[tail:])+dumpConnOverhead)
	}
	path, err := d.Dump(Fault{Stage: FaultHandler, Client: a, Server: b, Time: conn[0].Info.Timestamp})
	if err != nil {
		t.Fatal(err)
	}
	samePackets(t, readFrames(t, path), append(slices.Clone(conn[:head]), conn[tail:]...))
	if st := d.Stats(); st.ConnsActive != 0 || st.BytesInUse != 0 {
		t.Errorf("after the dump: %+v", st)
	}
	// MaxDumps is 1: the next fault is counted, not written.
	drain(t, d)
	if path, err := d.Dump(Fault{Stage: FaultHandler, Client: a, Server: b}); path != "" || err != nil || d.Stats().DumpsSkipped != 1 {
		t.Errorf("second dump %q, %v, stats %+v", path, err, d.Stats())
	}
	// No connection: nothing to dump.
	if path, _ := d.Dump(Fault{Stage: FaultHandler, Call: "Tick"}); path != "" {
		t.Errorf("Tick fault dumped to %s", path)
	}

	// The whole capture within a total cap of about one connection: the
	// oldest connections go.
	d, err = NewFaultDumper(&memSource{frames: all}, DumpConfig{Dir: t.TempDir(), MaxBytes: size(conn)})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, d)
	if st := d.Stats(); st.Evictions == 0 || st.BytesInUse > size(conn) || st.ConnsActive == 0 {
		t.Errorf("total cap: stats %+v", st)
	}
}

// TestDumperNewConnectionOnSameAddresses: a SYN after the connection on
// the same addresses ended starts afresh, so a dump holds one connection.
func TestDumperNewConnectionOnSameAddresses(t *testing.T) {
	all := readFrames(t, "../testdata/demo.pcap")
	a, b, _ := frameEndpoints(all[0].LinkType, all[0].Data)
	conn := packetsOf(all, a, b)
	d, err := NewFaultDumper(&memSource{frames: append(slices.Clone(conn), conn...)}, DumpConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, d)
	path, err := d.Dump(Fault{Stage: FaultHandler, Client: a, Server: b})
	if err != nil {
		t.Fatal(err)
	}
	samePackets(t, readFrames(t, path), conn)
}

// TestDumperForgetsEndedAndFiltered: a connection is forgotten
// endedLinger after its FIN (a later packet moves the clock), and a
// connection the capture's filter skips is never copied.
func TestDumperForgetsEndedAndFiltered(t *testing.T) {
	all := readFrames(t, "../testdata/demo.pcap")
	a, b, _ := frameEndpoints(all[0].LinkType, all[0].Data)
	conn := packetsOf(all, a, b)
	late := slices.Clone(all[len(all)-1:])
	late[0].Info.Timestamp = all[len(all)-1].Info.Timestamp.Add(endedLinger + time.Second)
	d, err := NewFaultDumper(&memSource{frames: append(slices.Clone(conn), late...)}, DumpConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, d)
	if st := d.Stats(); st.EndedDropped != 1 || st.ConnsActive != 1 {
		t.Errorf("stats %+v, want the ended connection forgotten and the late one's kept", st)
	}

	keep := Config{Ports: []uint16{1}}
	d, err = NewFaultDumper(&memSource{frames: all}, DumpConfig{Dir: t.TempDir(), Keep: keep.Keeps})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, d)
	if st := d.Stats(); st.ConnsActive != 0 || st.BytesInUse != 0 {
		t.Errorf("filtered out, yet kept: %+v", st)
	}
}

func drain(t *testing.T, src Source) {
	t.Helper()
	for {
		if _, err := src.ReadPacket(); err == io.EOF {
			return
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

// TestPcapHugeSnaplen: a pcap header claiming a 4 GiB snaplen (a fuzzed
// or damaged file) costs no more memory than a real one.
func TestPcapHugeSnaplen(t *testing.T) {
	data, err := os.ReadFile("../testdata/demo.pcap")
	if err != nil {
		t.Fatal(err)
	}
	data = slices.Clone(data)
	copy(data[16:20], []byte{0xff, 0xff, 0xff, 0xff})
	path := filepath.Join(t.TempDir(), "huge-snaplen.pcap")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	frames := readFrames(t, path)
	runtime.ReadMemStats(&after)
	if want := len(readFrames(t, "../testdata/demo.pcap")); len(frames) != want {
		t.Errorf("%d frames, want %d", len(frames), want)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("reading allocated %d bytes", n)
	}
}

// TestEngineContainsParserFault: a panic inside reassembly or the parsers
// (here, a Handler not wrapped by Contain panicking from inside them) ends
// parsing of that connection only: the run completes, the fault is counted
// and reported as the parser's, the connection still ends with ConnEnd,
// and every other connection gets exactly the calls of a clean run.
func TestEngineContainsParserFault(t *testing.T) {
	clean := newTranscript()
	runContained(t, openDemo(t), 0, clean)
	target := busiestClient(t, clean)

	got := newTranscript()
	inj := &faultInjector{next: got, target: target, n: 3}
	var faults []Fault
	e, err := NewEngine(Config{Fault: func(f Fault) { faults = append(faults, f) }}, inj)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Run(context.Background(), openDemo(t)); err != nil {
		t.Fatal(err)
	}
	e.Finish()
	if len(faults) != 1 || e.Stats().Faults != 1 {
		t.Fatalf("%d faults reported, %d counted; want 1", len(faults), e.Stats().Faults)
	}
	if f := faults[0]; f.Stage != FaultParser || f.Conn == nil || f.Client != target || !strings.Contains(string(f.Stack), "faultInjector") {
		t.Errorf("fault %+v, want the parser's, on %v", f, target)
	}
	for k, want := range clean.lines {
		g := got.lines[k]
		if !strings.HasPrefix(k, target.String()+"→") {
			if !slices.Equal(g, want) {
				t.Errorf("connection %s changed:\n got %q\nwant %q", k, g, want)
			}
			continue
		}
		// The calls before the fault, then only its end.
		if len(g) != 3 || !slices.Equal(g[:2], want[:2]) || !strings.HasPrefix(g[2], "end ") {
			t.Errorf("faulted connection's calls %q, want the first two of %q and its end", g, want)
		}
	}
}
