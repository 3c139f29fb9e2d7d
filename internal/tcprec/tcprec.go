package tcprec

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// DefaultMSS is the segment size of an Ethernet path with a 1500-byte MTU.
const DefaultMSS = 1460

// Recorder collects the conversations of wrapped listeners.
type Recorder struct {
	// MSS is the largest TCP payload per synthesised segment; 0 = DefaultMSS.
	MSS int

	mu       sync.Mutex
	conns    []*Conversation
	nextPort uint16
}

// Segment is payload one side wrote, as it was handed to the socket.
type Segment struct {
	At   time.Time
	C2S  bool
	Data []byte
}

// Conversation is one recorded TCP connection. Closed is zero when the
// connection was still open at the end of the recording.
type Conversation struct {
	Client, Server netip.AddrPort
	Opened, Closed time.Time
	Segments       []Segment
}

// DialContext returns a dial function for http.Transport that ignores the
// address asked for, connects to realAddr instead and records the connection
// as if clientIP had connected to serverAs. Client ports are numbered from
// 40000 in dial order, so captures do not depend on the kernel's ephemeral
// ports. Recording on the client side keeps each client's address its own
// even when many clients share one test server.
func (r *Recorder) DialContext(realAddr string, clientIP netip.Addr, serverAs netip.AddrPort) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, realAddr)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		port := 40000 + r.nextPort
		r.nextPort++
		rc := &Conversation{
			Client: netip.AddrPortFrom(clientIP, port),
			Server: serverAs,
			Opened: time.Now(),
		}
		r.conns = append(r.conns, rc)
		r.mu.Unlock()
		return &conn{Conn: c, rec: r, rc: rc}, nil
	}
}

type conn struct {
	net.Conn
	rec *Recorder
	rc  *Conversation
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.record(false, p[:n])
	if err != nil {
		c.markClosed()
	}
	return n, err
}

// Write records the payload before sending it: once the bytes are on the
// socket the server may answer, and the answer must not be recorded first.
func (c *conn) Write(p []byte) (int, error) {
	unsent := c.record(true, p)
	n, err := c.Conn.Write(p)
	if n < len(p) {
		unsent(n)
	}
	return n, err
}

func (c *conn) Close() error {
	c.markClosed()
	return c.Conn.Close()
}

func (c *conn) markClosed() {
	c.rec.mu.Lock()
	if c.rc.Closed.IsZero() {
		c.rc.Closed = time.Now()
	}
	c.rec.mu.Unlock()
}

// record appends a segment and returns a function that cuts it to the n
// bytes a short write really sent.
func (c *conn) record(c2s bool, p []byte) (sent func(n int)) {
	if len(p) == 0 {
		return func(int) {}
	}
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	i := len(c.rc.Segments)
	c.rc.Segments = append(c.rc.Segments, Segment{At: time.Now(), C2S: c2s, Data: append([]byte(nil), p...)})
	return func(n int) {
		c.rec.mu.Lock()
		c.rc.Segments[i].Data = c.rc.Segments[i].Data[:n]
		c.rec.mu.Unlock()
	}
}

// Conversations reports how many connections were recorded.
func (r *Recorder) Conversations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// Recorded returns a copy of every recorded conversation, in dial order.
func (r *Recorder) Recorded() []Conversation {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Conversation, len(r.conns))
	for i, c := range r.conns {
		out[i] = *c
		out[i].Segments = append([]Segment(nil), c.Segments...)
	}
	return out
}

// WriteTo writes every recorded conversation to w in the given format,
// segmented at r.MSS.
func (r *Recorder) WriteTo(w io.Writer, format Format) error {
	pw, err := NewWriter(w, format)
	if err != nil {
		return err
	}
	convs := r.Recorded()
	var pkts []Packet
	for i := range convs {
		pkts = append(pkts, Synthesize(&convs[i], r.MSS)...)
	}
	// Stable: packets of one connection at the same instant keep their order.
	sort.SliceStable(pkts, func(i, j int) bool { return pkts[i].At.Before(pkts[j].At) })
	for _, p := range pkts {
		if err := pw.Write(p); err != nil {
			return err
		}
	}
	return pw.Flush()
}

// Packet is one synthesised TCP segment of a conversation.
type Packet struct {
	At   time.Time
	Conv *Conversation
	C2S  bool
	TCP  layers.TCP
	Data []byte
}

// Synthesize returns the segments a span port would see for conv: the
// three-way handshake, every payload cut at mss (0 = DefaultMSS) with
// consistent sequence and ack numbers, and a client-initiated FIN exchange
// when the conversation was closed. Times never go backwards.
func Synthesize(conv *Conversation, mss int) []Packet {
	if mss <= 0 {
		mss = DefaultMSS
	}
	b := builder{conv: conv, clientSeq: 1000, serverSeq: 5000}
	b.add(conv.Opened, true, layers.TCP{SYN: true}, nil)
	b.clientSeq++
	b.add(conv.Opened.Add(time.Microsecond), false, layers.TCP{SYN: true, ACK: true}, nil)
	b.serverSeq++
	b.add(conv.Opened.Add(2*time.Microsecond), true, layers.TCP{ACK: true}, nil)
	for _, s := range conv.Segments {
		for off := 0; off < len(s.Data); off += mss {
			end := min(off+mss, len(s.Data))
			b.add(s.At, s.C2S, layers.TCP{ACK: true, PSH: end == len(s.Data)}, s.Data[off:end])
		}
	}
	if !conv.Closed.IsZero() {
		b.add(conv.Closed, true, layers.TCP{FIN: true, ACK: true}, nil)
		b.clientSeq++
		b.add(conv.Closed.Add(time.Microsecond), false, layers.TCP{FIN: true, ACK: true}, nil)
		b.serverSeq++
		b.add(conv.Closed.Add(2*time.Microsecond), true, layers.TCP{ACK: true}, nil)
	}
	return b.out
}

type builder struct {
	conv                 *Conversation
	clientSeq, serverSeq uint32
	lastAt               time.Time
	out                  []Packet
}

// add appends a segment from one side and advances that side's sequence
// number by the payload.
func (b *builder) add(at time.Time, c2s bool, tcp layers.TCP, data []byte) {
	if at.Before(b.lastAt) {
		at = b.lastAt
	}
	b.lastAt = at
	src, dst := b.conv.Server, b.conv.Client
	seq, ack := b.serverSeq, b.clientSeq
	if c2s {
		src, dst = b.conv.Client, b.conv.Server
		seq, ack = b.clientSeq, b.serverSeq
	}
	tcp.SrcPort = layers.TCPPort(src.Port())
	tcp.DstPort = layers.TCPPort(dst.Port())
	tcp.Seq = seq
	if tcp.ACK {
		tcp.Ack = ack
	}
	tcp.Window = 65535
	b.out = append(b.out, Packet{At: at, Conv: b.conv, C2S: c2s, TCP: tcp, Data: data})
	if c2s {
		b.clientSeq += uint32(len(data))
	} else {
		b.serverSeq += uint32(len(data))
	}
}

// Format is a capture file format.
type Format int

// Capture file formats.
const (
	Pcap Format = iota
	PcapNG
)

// Writer serialises Packets as Ethernet/IP/TCP frames into a capture file.
type Writer struct {
	write func(ci gopacket.CaptureInfo, data []byte) error
	flush func() error
	buf   gopacket.SerializeBuffer
	// Bytes counts the frame bytes written.
	Bytes int64
}

// NewWriter writes the file header for format and returns a Writer.
func NewWriter(w io.Writer, format Format) (*Writer, error) {
	pw := &Writer{buf: gopacket.NewSerializeBuffer(), flush: func() error { return nil }}
	switch format {
	case Pcap:
		pcapw := pcapgo.NewWriterNanos(w)
		if err := pcapw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			return nil, fmt.Errorf("write pcap header: %w", err)
		}
		pw.write = pcapw.WritePacket
	case PcapNG:
		ngw, err := pcapgo.NewNgWriter(w, layers.LinkTypeEthernet)
		if err != nil {
			return nil, fmt.Errorf("write pcapng header: %w", err)
		}
		pw.write, pw.flush = ngw.WritePacket, ngw.Flush
	default:
		return nil, fmt.Errorf("unknown capture format %d", format)
	}
	return pw, nil
}

// Write serialises one packet.
func (w *Writer) Write(p Packet) error {
	src, dst := p.Conv.Server, p.Conv.Client
	if p.C2S {
		src, dst = p.Conv.Client, p.Conv.Server
	}
	if err := serialize(w.buf, src, dst, p.TCP, p.Data); err != nil {
		return err
	}
	frame := w.buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: p.At, CaptureLength: len(frame), Length: len(frame)}
	if err := w.write(ci, frame); err != nil {
		return fmt.Errorf("write packet: %w", err)
	}
	w.Bytes += int64(len(frame))
	return nil
}

// Flush writes out anything the format buffers.
func (w *Writer) Flush() error { return w.flush() }

func serialize(buf gopacket.SerializeBuffer, src, dst netip.AddrPort, tcp layers.TCP, data []byte) error {
	eth := layers.Ethernet{
		SrcMAC:       macFor(src.Addr()),
		DstMAC:       macFor(dst.Addr()),
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := layers.IPv4{
		Version:  4,
		TTL:      64,
		Protocol: layers.IPProtocolTCP,
		SrcIP:    src.Addr().AsSlice(),
		DstIP:    dst.Addr().AsSlice(),
	}
	layersOut := []gopacket.SerializableLayer{&eth}
	if src.Addr().Is6() && !src.Addr().Is4In6() {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		if err := tcp.SetNetworkLayerForChecksum(&ip6); err != nil {
			return fmt.Errorf("tcp checksum: %w", err)
		}
		layersOut = append(layersOut, &ip6)
	} else {
		if err := tcp.SetNetworkLayerForChecksum(&ip); err != nil {
			return fmt.Errorf("tcp checksum: %w", err)
		}
		layersOut = append(layersOut, &ip)
	}
	layersOut = append(layersOut, &tcp, gopacket.Payload(data))
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, layersOut...); err != nil {
		return fmt.Errorf("serialize packet %s→%s: %w", src, dst, err)
	}
	return nil
}

// macFor derives a stable locally administered MAC from an IP address.
func macFor(a netip.Addr) net.HardwareAddr {
	b := a.As16()
	return net.HardwareAddr{0x02, 0x00, b[12], b[13], b[14], b[15]}
}
