// Package pcapsynth rebuilds captures from recorded TCP conversations so
// tests can alter real traffic: re-segment it, drop, repeat, reorder or
// overlap segments, move it to IPv6, and frame it in any link layer the
// capture package reads.
//
// Conversations come from a clean capture (FromPcap reads what
// internal/tcprec writes); their payload is the real bytes an SDK sent.
package pcapsynth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// Write is one application write of one side.
type Write struct {
	At   time.Time
	C2S  bool
	Data []byte
}

// Conn is one recorded TCP conversation.
type Conn struct {
	Client, Server netip.AddrPort
	Opened, Closed time.Time // Closed zero: never closed
	Writes         []Write
}

// FromPcap reads the conversations of a clean Ethernet/IP capture: no loss,
// segments in order, a SYN opening every connection. Consecutive segments
// of one side with one timestamp are joined back into one write.
func FromPcap(r io.Reader) ([]Conn, error) {
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("read pcap: %w", err)
	}
	var conns []Conn
	index := map[[2]netip.AddrPort]int{}
	for {
		data, ci, err := pr.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return conns, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read pcap: %w", err)
		}
		pkt := gopacket.NewPacket(data, pr.LinkType(), gopacket.NoCopy)
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil || pkt.NetworkLayer() == nil {
			continue
		}
		nf := pkt.NetworkLayer().NetworkFlow()
		src, _ := netip.AddrFromSlice(nf.Src().Raw())
		dst, _ := netip.AddrFromSlice(nf.Dst().Raw())
		from := netip.AddrPortFrom(src, uint16(tcp.SrcPort))
		to := netip.AddrPortFrom(dst, uint16(tcp.DstPort))
		i, ok := index[[2]netip.AddrPort{from, to}]
		c2s := true
		if !ok {
			if i, ok = index[[2]netip.AddrPort{to, from}]; ok {
				c2s = false
			}
		}
		if !ok {
			if !tcp.SYN || tcp.ACK {
				return nil, fmt.Errorf("packet %s→%s of a connection without SYN", from, to)
			}
			i = len(conns)
			index[[2]netip.AddrPort{from, to}] = i
			conns = append(conns, Conn{Client: from, Server: to, Opened: ci.Timestamp})
		}
		c := &conns[i]
		if tcp.FIN && c.Closed.IsZero() {
			c.Closed = ci.Timestamp
		}
		if len(tcp.Payload) == 0 {
			continue
		}
		if n := len(c.Writes); n > 0 && c.Writes[n-1].C2S == c2s && c.Writes[n-1].At.Equal(ci.Timestamp) {
			c.Writes[n-1].Data = append(c.Writes[n-1].Data, tcp.Payload...)
			continue
		}
		c.Writes = append(c.Writes, Write{At: ci.Timestamp, C2S: c2s, Data: append([]byte(nil), tcp.Payload...)})
	}
}

// Packet is one TCP segment to write.
type Packet struct {
	At       time.Time
	Conn     int // index of the Conn
	C2S      bool
	Src, Dst netip.AddrPort
	SYN, ACK bool
	FIN, RST bool
	Seq, Ack uint32
	Data     []byte
	// Write and Part locate a data segment: Conn.Writes[Write], its Part-th
	// MSS-sized piece. -1 for segments without data.
	Write, Part int
}

// Segment turns conversations into packets as a span port sees them:
// handshake, writes cut at mss, FIN exchange; all in time order.
func Segment(conns []Conn, mss int) []Packet {
	var out []Packet
	for ci, c := range conns {
		seq := [2]uint32{1000, 5000} // client, server
		add := func(at time.Time, c2s bool, p Packet) {
			side, src, dst := 1, c.Server, c.Client
			if c2s {
				side, src, dst = 0, c.Client, c.Server
			}
			p.At, p.Conn, p.C2S, p.Src, p.Dst = at, ci, c2s, src, dst
			p.Seq = seq[side]
			if p.ACK {
				p.Ack = seq[1-side]
			}
			seq[side] += uint32(len(p.Data))
			if p.SYN || p.FIN {
				seq[side]++
			}
			out = append(out, p)
		}
		us := time.Microsecond
		add(c.Opened, true, Packet{SYN: true, Write: -1})
		add(c.Opened.Add(us), false, Packet{SYN: true, ACK: true, Write: -1})
		add(c.Opened.Add(2*us), true, Packet{ACK: true, Write: -1})
		for wi, w := range c.Writes {
			for off, part := 0, 0; off < len(w.Data); off, part = off+mss, part+1 {
				end := min(off+mss, len(w.Data))
				add(w.At, w.C2S, Packet{ACK: true, Data: w.Data[off:end], Write: wi, Part: part})
			}
		}
		if !c.Closed.IsZero() {
			add(c.Closed, true, Packet{FIN: true, ACK: true, Write: -1})
			add(c.Closed.Add(us), false, Packet{FIN: true, ACK: true, Write: -1})
			add(c.Closed.Add(2*us), true, Packet{ACK: true, Write: -1})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// Link is the link-layer framing of a written capture.
type Link int

// Link layers.
const (
	Ethernet Link = iota
	VLAN          // Ethernet + one 802.1Q tag
	QinQ          // Ethernet + 802.1ad outer and 802.1Q inner tags
	SLL           // Linux cooked v1
	SLL2          // Linux cooked v2
	RawIP         // LINKTYPE_RAW
	Null          // BSD loopback
)

// linkTypeSLL2 is LINKTYPE_LINUX_SLL2; pcapgo's writer takes a uint8
// link type, so the file header is patched after writing.
const linkTypeSLL2 = 276

// WritePcap writes packets in the given framing as a nanosecond pcap.
func WritePcap(w io.Writer, pkts []Packet, link Link) error {
	lt := map[Link]layers.LinkType{Ethernet: layers.LinkTypeEthernet, VLAN: layers.LinkTypeEthernet, QinQ: layers.LinkTypeEthernet,
		SLL: layers.LinkTypeLinuxSLL, SLL2: layers.LinkTypeEthernet, RawIP: layers.LinkTypeRaw, Null: layers.LinkTypeNull}[link]
	hdr := &headerPatch{w: w}
	if link == SLL2 {
		hdr.linkType = linkTypeSLL2
	}
	pw := pcapgo.NewWriterNanos(hdr)
	if err := pw.WriteFileHeader(65535, lt); err != nil {
		return fmt.Errorf("write pcap header: %w", err)
	}
	buf := gopacket.NewSerializeBuffer()
	for i, p := range pkts {
		frame, err := frame(buf, p, link)
		if err != nil {
			return fmt.Errorf("packet %d: %w", i, err)
		}
		ci := gopacket.CaptureInfo{Timestamp: p.At, CaptureLength: len(frame), Length: len(frame)}
		if err := pw.WritePacket(ci, frame); err != nil {
			return fmt.Errorf("write packet %d: %w", i, err)
		}
	}
	return nil
}

// headerPatch rewrites the link type of the 24-byte pcap file header.
type headerPatch struct {
	w        io.Writer
	linkType uint32
	done     bool
}

func (h *headerPatch) Write(p []byte) (int, error) {
	if !h.done && h.linkType != 0 && len(p) == 24 {
		p = append([]byte(nil), p...)
		binary.LittleEndian.PutUint32(p[20:], h.linkType)
	}
	h.done = true
	return h.w.Write(p)
}

func frame(buf gopacket.SerializeBuffer, p Packet, link Link) ([]byte, error) {
	tcp := layers.TCP{SrcPort: layers.TCPPort(p.Src.Port()), DstPort: layers.TCPPort(p.Dst.Port()),
		Seq: p.Seq, Ack: p.Ack, SYN: p.SYN, ACK: p.ACK, FIN: p.FIN, RST: p.RST, PSH: len(p.Data) > 0, Window: 65535}
	var ip gopacket.SerializableLayer
	etherType := layers.EthernetTypeIPv4
	if p.Src.Addr().Is4() {
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	} else {
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: p.Src.Addr().AsSlice(), DstIP: p.Dst.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip6)
		ip, etherType = ip6, layers.EthernetTypeIPv6
	}
	var ls []gopacket.SerializableLayer
	src, dst := mac(p.Src.Addr()), mac(p.Dst.Addr())
	switch link {
	case Ethernet:
		ls = append(ls, &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: etherType})
	case VLAN:
		ls = append(ls, &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 100, Type: etherType})
	case QinQ:
		ls = append(ls, &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeQinQ},
			&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 200, Type: etherType})
	case SLL:
		ls = append(ls, rawHeader(sllHeader(etherType, src)))
	case SLL2:
		ls = append(ls, rawHeader(sll2Header(etherType, src)))
	case Null:
		family := uint32(2) // AF_INET
		if etherType == layers.EthernetTypeIPv6 {
			family = 30 // AF_INET6 on Darwin, whose pcaps use DLT_NULL
		}
		h := make([]byte, 4)
		binary.LittleEndian.PutUint32(h, family)
		ls = append(ls, rawHeader(h))
	case RawIP:
	}
	ls = append(ls, ip, &tcp, gopacket.Payload(p.Data))
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// rawHeader is a link header gopacket cannot serialize itself.
type rawHeader []byte

func (h rawHeader) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	dst, err := b.PrependBytes(len(h))
	if err != nil {
		return err
	}
	copy(dst, h)
	return nil
}

func (h rawHeader) LayerType() gopacket.LayerType { return gopacket.LayerTypePayload }

func sllHeader(etherType layers.EthernetType, src net.HardwareAddr) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:], 0) // packet type: to us
	binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:], 6)
	copy(h[6:], src)
	binary.BigEndian.PutUint16(h[14:], uint16(etherType))
	return h
}

func sll2Header(etherType layers.EthernetType, src net.HardwareAddr) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], uint16(etherType))
	binary.BigEndian.PutUint32(h[4:], 2) // interface index
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	h[10] = 0                            // packet type: to us
	h[11] = 6
	copy(h[12:], src)
	return h
}

func mac(a netip.Addr) net.HardwareAddr {
	b := a.As16()
	return net.HardwareAddr{0x02, 0x00, b[12], b[13], b[14], b[15]}
}

// FromRecorded turns conversations recorded by internal/tcprec (real
// clients talking to real servers) into Conns to segment and alter.
func FromRecorded(convs []tcprec.Conversation) []Conn {
	out := make([]Conn, len(convs))
	for i, c := range convs {
		out[i] = Conn{Client: c.Client, Server: c.Server, Opened: c.Opened, Closed: c.Closed}
		for _, s := range c.Segments {
			out[i].Writes = append(out[i].Writes, Write{At: s.At, C2S: s.C2S, Data: s.Data})
		}
	}
	return out
}
