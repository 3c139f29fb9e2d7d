// Package impair derives the captures a span port or a lossy tap delivers
// from a clean one, deterministically from a seed: adjacent packets
// swapped (within a connection's direction, across its two directions, or
// between connections), packets duplicated, dropped or cut short, and TCP
// segments split in two as a smaller MTU would. Property tests replay every
// checked-in capture through such variants and check what must hold:
// reordering, duplicates and resegmentation change no event, loss and cuts
// never crash and stay within the caps.
//
// Swaps also swap the two timestamps, so packet time stays monotonic as a
// capture point writes it.
package impair

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/mcpwatch/mcpwatch/capture"
)

// Mix is how often each impairment hits a packet, as a probability.
type Mix struct {
	Swap      float64 // swapped with the next packet, if it came within SwapWithin
	Duplicate float64 // delivered twice in a row
	Drop      float64 // never delivered
	Cut       float64 // delivered cut to a random shorter length
	Split     float64 // a TCP segment with payload split in two
}

// SwapWithin is how close in time two packets must be to be swapped: two
// NIC queues or span sessions disagree by microseconds to milliseconds,
// not by the minute a quiet event stream may wait between two packets.
const SwapWithin = 20 * time.Millisecond

// Preset mixes, named as tests and reports call them.
var (
	// Reorder is span-port reordering: about one packet in ten swapped
	// with its neighbour.
	Reorder = Mix{Swap: 0.10}
	// Duplicates is a tap that sees some packets twice.
	Duplicates = Mix{Duplicate: 0.05}
	// Resegment splits a fifth of the segments, as a smaller MSS would.
	Resegment = Mix{Split: 0.20}
	// Field is all harmless impairments at once.
	Field = Mix{Swap: 0.08, Duplicate: 0.03, Split: 0.05}
	// Lossy adds loss and cut packets to Field: events may go, the
	// sensor must not.
	Lossy = Mix{Swap: 0.08, Duplicate: 0.03, Drop: 0.02, Cut: 0.02, Split: 0.03}
)

// Lossless reports whether m only reorders, duplicates or resegments, so
// a variant must decode to the same events as the original.
func (m Mix) Lossless() bool { return m.Drop == 0 && m.Cut == 0 }

// ReadFile reads every packet of a pcap or pcapng file into memory, each
// with its own copy of the data.
func ReadFile(path string) ([]capture.Packet, error) {
	src, err := capture.OpenPcap(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var pkts []capture.Packet
	for {
		p, err := src.ReadPacket()
		if errors.Is(err, io.EOF) {
			return pkts, nil
		}
		if err != nil {
			return pkts, fmt.Errorf("read %s: %w", path, err)
		}
		p.Data = append([]byte(nil), p.Data...)
		pkts = append(pkts, p)
	}
}

// Apply returns the variant of pkts that seed and m give. pkts is not
// modified; packets of the result may share data with it.
func Apply(pkts []capture.Packet, m Mix, seed uint64) []capture.Packet {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]capture.Packet, 0, len(pkts)+len(pkts)/8)
	for _, p := range pkts {
		switch r := rng.Float64(); {
		case r < m.Drop:
			continue
		case r < m.Drop+m.Cut && len(p.Data) > 1:
			p.Data = p.Data[:1+rng.IntN(len(p.Data)-1)]
			p.Info.CaptureLength = len(p.Data)
		case r < m.Drop+m.Cut+m.Split:
			if a, b, ok := split(p, rng); ok {
				out = append(out, a)
				p = b
			}
		}
		out = append(out, p)
		if rng.Float64() < m.Duplicate {
			out = append(out, p)
		}
	}
	for i := 0; i+1 < len(out); i++ {
		if rng.Float64() < m.Swap && out[i+1].Info.Timestamp.Sub(out[i].Info.Timestamp) <= SwapWithin {
			a, b := out[i], out[i+1]
			a.Info.Timestamp, b.Info.Timestamp = b.Info.Timestamp, a.Info.Timestamp
			out[i], out[i+1] = b, a
			i++ // a packet moves one place at most, as across two NIC queues
		}
	}
	return out
}

// split cuts the TCP payload of p in two segments at a random point and
// re-serialises both with correct lengths, sequence numbers and checksums.
// Link layers gopacket cannot serialise are left whole (ok false).
func split(p capture.Packet, rng *rand.Rand) (first, second capture.Packet, ok bool) {
	pkt := gopacket.NewPacket(p.Data, p.LinkType, gopacket.DecodeOptions{NoCopy: true})
	tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcp == nil || len(tcp.Payload) < 2 || pkt.ErrorLayer() != nil {
		return p, p, false
	}
	var stack []gopacket.SerializableLayer
	for _, l := range pkt.Layers() {
		if l.LayerType() == layers.LayerTypeTCP {
			break
		}
		sl, ok := l.(gopacket.SerializableLayer)
		if !ok {
			return p, p, false
		}
		stack = append(stack, sl)
	}
	if len(stack) == 0 {
		return p, p, false
	}
	switch nl := stack[len(stack)-1].(type) {
	case *layers.IPv4:
		if err := tcp.SetNetworkLayerForChecksum(nl); err != nil {
			return p, p, false
		}
	case *layers.IPv6:
		if err := tcp.SetNetworkLayerForChecksum(nl); err != nil {
			return p, p, false
		}
	default:
		return p, p, false
	}
	payload := append([]byte(nil), tcp.Payload...)
	at := 1 + rng.IntN(len(payload)-1)
	head, tail := *tcp, *tcp
	head.FIN, head.PSH = false, false
	tail.Seq = tcp.Seq + uint32(at)
	first, ok1 := serialize(p, stack, &head, payload[:at])
	second, ok2 := serialize(p, stack, &tail, payload[at:])
	return first, second, ok1 && ok2
}

func serialize(p capture.Packet, stack []gopacket.SerializableLayer, tcp *layers.TCP, payload []byte) (capture.Packet, bool) {
	buf := gopacket.NewSerializeBuffer()
	ls := append(append([]gopacket.SerializableLayer(nil), stack...), tcp, gopacket.Payload(payload))
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		return p, false
	}
	p.Data = append([]byte(nil), buf.Bytes()...)
	p.Info.CaptureLength, p.Info.Length = len(p.Data), len(p.Data)
	return p, true
}

// Source replays packets held in memory.
type Source struct {
	pkts []capture.Packet
}

var _ capture.Source = (*Source)(nil)

// NewSource returns a Source of pkts, in order.
func NewSource(pkts []capture.Packet) *Source { return &Source{pkts: pkts} }

// ReadPacket implements capture.Source.
func (s *Source) ReadPacket() (capture.Packet, error) {
	if len(s.pkts) == 0 {
		return capture.Packet{}, io.EOF
	}
	p := s.pkts[0]
	s.pkts = s.pkts[1:]
	return p, nil
}

// Close implements capture.Source.
func (s *Source) Close() error { return nil }

// Captures lists the checked-in captures under the given directories
// (pcap and pcapng files).
func Captures(dirs ...string) ([]string, error) {
	var out []string
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".pcap") || strings.HasSuffix(n, ".pcapng")) {
				out = append(out, dir+"/"+n)
			}
		}
	}
	return out, nil
}
