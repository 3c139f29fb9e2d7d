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
	conns    []*recordedConn
	nextPort uint16
}

type segment struct {
	at   time.Time
	c2s  bool
	data []byte
}

type recordedConn struct {
	client, server netip.AddrPort
	opened         time.Time
	closed         time.Time
	segments       []segment
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
		rc := &recordedConn{
			client: netip.AddrPortFrom(clientIP, port),
			server: serverAs,
			opened: time.Now(),
		}
		r.conns = append(r.conns, rc)
		r.mu.Unlock()
		return &conn{Conn: c, rec: r, rc: rc}, nil
	}
}

type conn struct {
	net.Conn
	rec *Recorder
	rc  *recordedConn
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.record(false, p[:n])
	if err != nil {
		c.markClosed()
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.record(true, p[:n])
	return n, err
}

func (c *conn) Close() error {
	c.markClosed()
	return c.Conn.Close()
}

func (c *conn) markClosed() {
	c.rec.mu.Lock()
	if c.rc.closed.IsZero() {
		c.rc.closed = time.Now()
	}
	c.rec.mu.Unlock()
}

func (c *conn) record(c2s bool, p []byte) {
	if len(p) == 0 {
		return
	}
	c.rec.mu.Lock()
	c.rc.segments = append(c.rc.segments, segment{at: time.Now(), c2s: c2s, data: append([]byte(nil), p...)})
	c.rec.mu.Unlock()
}

// Conversations reports how many connections were recorded.
func (r *Recorder) Conversations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// packet is one synthesised frame before serialisation.
type packet struct {
	at   time.Time
	conn int // index in conns, to keep per-connection order stable
	seq  int // position within the connection
	c2s  bool
	tcp  layers.TCP
	data []byte
}

// Packets synthesises the frames of every recorded conversation, in time order.
func (r *Recorder) packets() ([]packet, []*recordedConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	mss := r.MSS
	if mss <= 0 {
		mss = DefaultMSS
	}
	var out []packet
	for ci, rc := range r.conns {
		b := builder{conn: ci, rc: rc, clientSeq: 1000, serverSeq: 5000}
		b.add(rc.opened, true, layers.TCP{SYN: true}, nil)
		b.clientSeq++
		b.add(rc.opened.Add(time.Microsecond), false, layers.TCP{SYN: true, ACK: true}, nil)
		b.serverSeq++
		b.add(rc.opened.Add(2*time.Microsecond), true, layers.TCP{ACK: true}, nil)
		for _, s := range rc.segments {
			for off := 0; off < len(s.data); off += mss {
				end := min(off+mss, len(s.data))
				b.add(s.at, s.c2s, layers.TCP{ACK: true, PSH: end == len(s.data)}, s.data[off:end])
			}
		}
		if !rc.closed.IsZero() {
			// Model a clean client-initiated FIN exchange.
			b.add(rc.closed, true, layers.TCP{FIN: true, ACK: true}, nil)
			b.clientSeq++
			b.add(rc.closed.Add(time.Microsecond), false, layers.TCP{FIN: true, ACK: true}, nil)
			b.serverSeq++
			b.add(rc.closed.Add(2*time.Microsecond), true, layers.TCP{ACK: true}, nil)
		}
		out = append(out, b.out...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].at.Equal(out[j].at) {
			return out[i].at.Before(out[j].at)
		}
		if out[i].conn != out[j].conn {
			return out[i].conn < out[j].conn
		}
		return out[i].seq < out[j].seq
	})
	return out, r.conns
}

type builder struct {
	conn                 int
	rc                   *recordedConn
	clientSeq, serverSeq uint32
	lastAt               time.Time
	out                  []packet
}

// add appends a segment from one side and advances that side's sequence
// number by the payload. Times never go backwards within a connection.
func (b *builder) add(at time.Time, c2s bool, tcp layers.TCP, data []byte) {
	if at.Before(b.lastAt) {
		at = b.lastAt
	}
	b.lastAt = at
	src, dst := b.rc.server, b.rc.client
	seq, ack := b.serverSeq, b.clientSeq
	if c2s {
		src, dst = b.rc.client, b.rc.server
		seq, ack = b.clientSeq, b.serverSeq
	}
	tcp.SrcPort = layers.TCPPort(src.Port())
	tcp.DstPort = layers.TCPPort(dst.Port())
	tcp.Seq = seq
	if tcp.ACK {
		tcp.Ack = ack
	}
	tcp.Window = 65535
	b.out = append(b.out, packet{at: at, conn: b.conn, seq: len(b.out), c2s: c2s, tcp: tcp, data: data})
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

// WriteTo writes every recorded conversation to w in the given format.
func (r *Recorder) WriteTo(w io.Writer, format Format) error {
	pkts, conns := r.packets()
	var write func(ci gopacket.CaptureInfo, data []byte) error
	switch format {
	case Pcap:
		pw := pcapgo.NewWriterNanos(w)
		if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			return fmt.Errorf("write pcap header: %w", err)
		}
		write = pw.WritePacket
	case PcapNG:
		nw, err := pcapgo.NewNgWriter(w, layers.LinkTypeEthernet)
		if err != nil {
			return fmt.Errorf("write pcapng header: %w", err)
		}
		defer nw.Flush()
		write = nw.WritePacket
	default:
		return fmt.Errorf("unknown capture format %d", format)
	}
	buf := gopacket.NewSerializeBuffer()
	for _, p := range pkts {
		rc := conns[p.conn]
		src, dst := rc.server, rc.client
		if p.c2s {
			src, dst = rc.client, rc.server
		}
		if err := serialize(buf, src, dst, p.tcp, p.data); err != nil {
			return err
		}
		frame := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: p.at, CaptureLength: len(frame), Length: len(frame)}
		if err := write(ci, frame); err != nil {
			return fmt.Errorf("write packet: %w", err)
		}
	}
	return nil
}

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
