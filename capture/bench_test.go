package capture

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/reassembly"

	"github.com/mcpwatch/mcpwatch/capture/internal/pcapsynth"
)

// memSource replays frames held in memory.
type memSource struct {
	frames []Packet
	next   int
}

func (m *memSource) ReadPacket() (Packet, error) {
	if m.next == len(m.frames) {
		return Packet{}, io.EOF
	}
	m.next++
	return m.frames[m.next-1], nil
}

func (m *memSource) Close() error { return nil }

// realisticFrames is the demo's real traffic played by many clients: each
// copy of the three conversations gets its own client address and starts
// 10 ms after the previous one, so connections overlap.
func realisticFrames(b *testing.B, copies int) ([]Packet, int64) {
	base := demoConns(b)
	var conns []pcapsynth.Conn
	for i := range copies {
		for _, c := range base {
			c.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), c.Client.Port())
			shift := time.Duration(i) * 10 * time.Millisecond
			c.Opened = c.Opened.Add(shift)
			if !c.Closed.IsZero() {
				c.Closed = c.Closed.Add(shift)
			}
			c.Writes = append([]pcapsynth.Write(nil), c.Writes...)
			for w := range c.Writes {
				c.Writes[w].At = c.Writes[w].At.Add(shift)
			}
			conns = append(conns, c)
		}
	}
	var buf bytes.Buffer
	if err := pcapsynth.WritePcap(&buf, pcapsynth.Segment(conns, 1460), pcapsynth.Ethernet); err != nil {
		b.Fatal(err)
	}
	src, err := newPcapFileFromBytes(b, buf.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	var frames []Packet
	var total int64
	for {
		p, err := src.ReadPacket()
		if errors.Is(err, io.EOF) {
			return frames, total
		}
		if err != nil {
			b.Fatal(err)
		}
		p.Data = bytes.Clone(p.Data)
		frames = append(frames, p)
		total += int64(len(p.Data))
	}
}

func newPcapFileFromBytes(b *testing.B, data []byte) (*PcapFile, error) {
	path := filepath.Join(b.TempDir(), "bench.pcap")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return nil, err
	}
	return OpenPcap(path)
}

const benchCopies = 200

func BenchmarkPacketDecode(b *testing.B) {
	frames, total := realisticFrames(b, benchCopies)
	var d packetDecoder
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, p := range frames {
			if _, _, err := d.decode(p.LinkType, p.Data); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// countingStream is the cheapest reassembly.Stream: it measures the
// reassembler alone.
type countingStream struct{ n *int }

func (c countingStream) Accept(*layers.TCP, gopacket.CaptureInfo, reassembly.TCPFlowDirection, reassembly.Sequence, *bool, reassembly.AssemblerContext) bool {
	return true
}
func (c countingStream) ReassembledSG(sg reassembly.ScatterGather, _ reassembly.AssemblerContext) {
	n, _ := sg.Lengths()
	*c.n += n
}
func (c countingStream) ReassemblyComplete(reassembly.AssemblerContext) bool { return true }

type countingFactory struct{ n *int }

func (f countingFactory) New(gopacket.Flow, gopacket.Flow, *layers.TCP, reassembly.AssemblerContext) reassembly.Stream {
	return countingStream(f)
}

func BenchmarkReassembly(b *testing.B) {
	frames, total := realisticFrames(b, benchCopies)
	var d packetDecoder
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var n int
		asm := reassembly.NewAssembler(reassembly.NewStreamPool(countingFactory{&n}))
		var ac captureContext
		for _, p := range frames {
			flow, tcp, err := d.decode(p.LinkType, p.Data)
			if err != nil {
				b.Fatal(err)
			}
			ac.ci = p.Info
			asm.AssembleWithContext(flow, tcp, &ac)
		}
		asm.FlushAll()
	}
}

func BenchmarkHTTPParse(b *testing.B) {
	c2s, s2c := demoStreams(b)
	var total int64
	for i := range c2s {
		total += int64(len(c2s[i]) + len(s2c[i]))
	}
	at := time.Unix(0, 0)
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for i := range c2s {
			s := testStream(&discard{}, Config{})
			s.halves[0].feed(c2s[i], at)
			s.halves[1].feed(s2c[i], at)
			s.finish(ConnEndFIN)
		}
	}
}

// BenchmarkEngine is the whole path: frames to Handler calls.
func BenchmarkEngine(b *testing.B) {
	frames, total := realisticFrames(b, benchCopies)
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		e, err := NewEngine(Config{}, &discard{})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Run(context.Background(), &memSource{frames: frames}); err != nil {
			b.Fatal(err)
		}
		e.Finish()
		if st := e.Stats(); st.Requests != 16*benchCopies {
			b.Fatalf("%d requests, want %d", st.Requests, 16*benchCopies)
		}
	}
}

// BenchmarkShards is BenchmarkEngine over two shards.
func BenchmarkShards(b *testing.B) {
	frames, total := realisticFrames(b, benchCopies)
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sh, err := NewShards(2, Config{}, func(int, *Config) Handler { return &discard{} })
		if err != nil {
			b.Fatal(err)
		}
		if err := sh.Run(context.Background(), &memSource{frames: frames}); err != nil {
			b.Fatal(err)
		}
		sh.Finish()
		if st := sh.Stats(); st.Requests != 16*benchCopies {
			b.Fatalf("%d requests, want %d", st.Requests, 16*benchCopies)
		}
	}
}
