package capture

import (
	"bufio"
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// DumpConfig configures a FaultDumper. The zero value of a cap means its
// default.
type DumpConfig struct {
	// Dir receives the dumps; it is created if missing.
	Dir string
	// MaxConnBytes caps the packets kept per connection: the first half
	// of it keeps the connection's first packets (its handshake and first
	// messages, which set up the state a fault depends on), the second
	// half its latest; packets in between are dropped (Stats.ConnCapDrops)
	// and read back as a capture gap.
	MaxConnBytes int
	// MaxBytes caps what all connections keep together: beyond it the
	// least recently active connections are dropped whole
	// (Stats.Evictions).
	MaxBytes int
	// MaxDumps caps the dumps written, so a fault on every connection
	// cannot fill the disk (Stats.DumpsSkipped).
	MaxDumps int
	// Keep, when set, says which connections the capture keeps (its
	// Config.Keeps): the others are not copied.
	Keep func(a, b netip.AddrPort) bool
}

// endedLinger is how long (packet time) a connection is kept after its
// FIN or RST, for a fault when the capture ends it.
const endedLinger = 30 * time.Second

// DefaultDumpConfig returns the defaults every zero cap gets.
func DefaultDumpConfig() DumpConfig {
	return DumpConfig{MaxConnBytes: 4 << 20, MaxBytes: 256 << 20, MaxDumps: 100}
}

// DumpStats are a FaultDumper's counters; every cap has one.
type DumpStats struct {
	// ConnsActive and BytesInUse are what is kept now: connections, and
	// their packets' bytes plus bookkeeping.
	ConnsActive int
	BytesInUse  int
	// ConnCapDrops counts packets dropped from the middle of a connection
	// over MaxConnBytes; Evictions connections dropped whole over MaxBytes.
	ConnCapDrops uint64
	Evictions    uint64
	// EndedDropped counts connections forgotten endedLinger after their
	// FIN or RST.
	EndedDropped uint64
	// Dumps counts pcaps written; DumpsSkipped faults not dumped: past
	// MaxDumps, or with no packet of their connection kept; DumpErrors
	// dumps that failed to write.
	Dumps, DumpsSkipped, DumpErrors uint64
}

// Bookkeeping charged to the byte caps on top of the packets' data.
const (
	dumpPacketOverhead = 64
	dumpConnOverhead   = 256
)

// FaultDumper is a Source that keeps the latest packets of every TCP
// connection it reads, so that when a Fault is reported for a connection
// (Dump) its packets can be written as a pcap that reproduces it. It reads
// from another Source and passes its packets on unchanged; its memory is
// bounded by DumpConfig's caps. ReadPacket and Dump may be called from
// different goroutines (Shards reads on one and handles on others).
type FaultDumper struct {
	src Source
	cfg DumpConfig

	mu    sync.Mutex
	conns map[connKey]*dumpConn
	lru   list.List // of *dumpConn, least recently active first
	ended list.List // of *dumpConn, in the order they ended
	stats DumpStats
}

var _ Source = (*FaultDumper)(nil)

// dumpConn is what is kept of one connection: its first packets (head,
// up to half the per-connection cap) and its latest (tail).
type dumpConn struct {
	key        connKey
	elem       *list.Element
	head, tail []Packet
	headBytes  int
	tailBytes  int
	// ended is set by a FIN or RST: a SYN after it opens a new connection
	// on the same addresses. endedAt is the packet time of the first; the
	// connection is forgotten endedLinger later (endedElem is its place in
	// FaultDumper.ended).
	ended     bool
	endedAt   time.Time
	endedElem *list.Element
}

// NewFaultDumper returns a FaultDumper reading src.
func NewFaultDumper(src Source, cfg DumpConfig) (*FaultDumper, error) {
	if cfg.Dir == "" {
		return nil, errors.New("capture: fault dumps need a directory")
	}
	d := DefaultDumpConfig()
	orDefault(&cfg.MaxConnBytes, d.MaxConnBytes)
	orDefault(&cfg.MaxBytes, d.MaxBytes)
	orDefault(&cfg.MaxDumps, d.MaxDumps)
	if cfg.MaxConnBytes < 0 || cfg.MaxBytes < 0 || cfg.MaxDumps < 0 {
		return nil, fmt.Errorf("capture: fault dump caps %+v: want positive sizes", cfg)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("fault dump directory: %w", err)
	}
	return &FaultDumper{src: src, cfg: cfg, conns: map[connKey]*dumpConn{}}, nil
}

// ReadPacket implements Source: it reads the next packet and keeps a copy
// if it is a TCP segment.
func (d *FaultDumper) ReadPacket() (Packet, error) {
	p, err := d.src.ReadPacket()
	if err == nil {
		d.keep(p)
	}
	return p, err
}

// Close closes the Source read.
func (d *FaultDumper) Close() error { return d.src.Close() }

// Stats returns a snapshot of the counters.
func (d *FaultDumper) Stats() DumpStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stats
	st.ConnsActive = len(d.conns)
	return st
}

func (d *FaultDumper) keep(p Packet) {
	a, b, ok := frameEndpoints(p.LinkType, p.Data)
	if !ok || (d.cfg.Keep != nil && !d.cfg.Keep(a, b)) {
		return
	}
	flags := tcpFlags(p)
	key := keyOf(a, b)
	size := len(p.Data) + dumpPacketOverhead
	d.mu.Lock()
	defer d.mu.Unlock()
	for el := d.ended.Front(); el != nil && p.Info.Timestamp.Sub(el.Value.(*dumpConn).endedAt) > endedLinger; el = d.ended.Front() {
		d.drop(el.Value.(*dumpConn))
		d.stats.EndedDropped++
	}
	c := d.conns[key]
	if c != nil && c.ended && flags&tcpSYN != 0 && flags&tcpACK == 0 {
		d.drop(c) // the addresses are reused by a new connection
		c = nil
	}
	if c == nil {
		c = &dumpConn{key: key}
		c.elem = d.lru.PushBack(c)
		d.conns[key] = c
		d.stats.BytesInUse += dumpConnOverhead
	} else {
		d.lru.MoveToBack(c.elem)
	}
	if flags&(tcpFIN|tcpRST) != 0 && !c.ended {
		c.ended, c.endedAt = true, p.Info.Timestamp
		c.endedElem = d.ended.PushBack(c)
	}
	cp := p
	cp.Data = append([]byte(nil), p.Data...)
	half := d.cfg.MaxConnBytes / 2
	switch {
	case size > half:
		d.stats.ConnCapDrops++ // a frame over the cap on its own
		return
	case len(c.tail) == 0 && c.headBytes+size <= half:
		c.head = append(c.head, cp)
		c.headBytes += size
	default:
		c.tail = append(c.tail, cp)
		c.tailBytes += size
		for c.tailBytes > d.cfg.MaxConnBytes-half {
			c.tailBytes -= len(c.tail[0].Data) + dumpPacketOverhead
			d.stats.BytesInUse -= len(c.tail[0].Data) + dumpPacketOverhead
			c.tail[0] = Packet{}
			c.tail = c.tail[1:]
			d.stats.ConnCapDrops++
		}
	}
	d.stats.BytesInUse += size
	for d.stats.BytesInUse > d.cfg.MaxBytes && d.lru.Len() > 1 {
		d.drop(d.lru.Front().Value.(*dumpConn))
		d.stats.Evictions++
	}
}

// drop forgets a connection; d.mu is held.
func (d *FaultDumper) drop(c *dumpConn) {
	d.lru.Remove(c.elem)
	if c.endedElem != nil {
		d.ended.Remove(c.endedElem)
	}
	delete(d.conns, c.key)
	d.stats.BytesInUse -= c.headBytes + c.tailBytes + dumpConnOverhead
}

// TCP flags, from the 14th byte of the header.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// tcpFlags returns the flags of a TCP segment that frameEndpoints read.
func tcpFlags(p Packet) byte {
	ip, err := networkPayload(p.LinkType, p.Data)
	if err != nil || len(ip) == 0 {
		return 0
	}
	off := 40
	if ip[0]>>4 == 4 {
		off = int(ip[0]&0x0f) * 4
	}
	if len(ip) < off+14 {
		return 0
	}
	return ip[off+13]
}

// Dump writes the packets kept of the fault's connection to a pcap in the
// directory, named by the fault's time and endpoints, and the fault itself
// (value, frame, stack) to a .txt beside it, and forgets the connection.
// It returns the pcap's path, or "" when nothing was written (the fault
// has no connection, none of its packets were kept, or MaxDumps were
// written).
func (d *FaultDumper) Dump(f Fault) (string, error) {
	if !f.Client.IsValid() && f.Packet == nil {
		return "", nil // Tick or Finish: no connection to reproduce
	}
	d.mu.Lock()
	var pkts []Packet
	if c := d.conns[keyOf(f.Client, f.Server)]; c != nil && f.Client.IsValid() {
		pkts = append(append(pkts, c.head...), c.tail...)
		d.drop(c)
	}
	if len(pkts) == 0 && f.Packet != nil {
		pkts = []Packet{*f.Packet} // a frame whose connection is unknown
	}
	if len(pkts) == 0 || d.stats.Dumps >= uint64(d.cfg.MaxDumps) {
		d.stats.DumpsSkipped++
		d.mu.Unlock()
		return "", nil
	}
	d.stats.Dumps++
	d.mu.Unlock()

	path, err := writeDump(d.cfg.Dir, f, pkts)
	if err != nil {
		d.mu.Lock()
		d.stats.DumpErrors++
		d.mu.Unlock()
		return "", fmt.Errorf("dump fault: %w", err)
	}
	return path, nil
}

// writeDump writes pkts as a pcap and f as text beside it.
func writeDump(dir string, f Fault, pkts []Packet) (string, error) {
	base := filepath.Join(dir, dumpName(f))
	file, err := os.OpenFile(base+".pcap", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	for i := 2; errors.Is(err, os.ErrExist) && i < 100; i++ {
		base = filepath.Join(dir, fmt.Sprintf("%s-%d", dumpName(f), i))
		file, err = os.OpenFile(base+".pcap", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return "", err
	}
	lt := pkts[0].LinkType
	snap := 0
	for _, p := range pkts {
		snap = max(snap, p.Info.CaptureLength, len(p.Data))
	}
	bw := bufio.NewWriter(file)
	w := pcapgo.NewWriterNanos(bw)
	err = writePcapHeader(bw, uint32(max(snap, 65535)), lt)
	for _, p := range pkts {
		if err != nil {
			break
		}
		if p.LinkType != lt {
			continue // one link type per pcap; a pcapng may mix them
		}
		ci := gopacket.CaptureInfo{Timestamp: p.Info.Timestamp, CaptureLength: len(p.Data), Length: max(p.Info.Length, len(p.Data))}
		err = w.WritePacket(ci, p.Data)
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\ntime: %s\npackets: %d\n\n%s", f, f.Time.UTC().Format(time.RFC3339Nano), len(pkts), f.Stack)
	if err := os.WriteFile(base+".txt", []byte(b.String()), 0o644); err != nil {
		return "", err
	}
	return base + ".pcap", nil
}

// dumpName is fault-<packet time>-<client>_<port>-<server>_<port>, IPv6
// colons written as dashes: 20260728T101500.123456789Z-10.0.0.9_51234-10.0.0.1_8080.
func dumpName(f Fault) string {
	ep := func(a netip.AddrPort) string {
		if !a.IsValid() {
			return "unknown"
		}
		return strings.ReplaceAll(a.Addr().String(), ":", "-") + "_" + fmt.Sprint(a.Port())
	}
	return "fault-" + f.Time.UTC().Format("20060102T150405.000000000Z") + "-" + ep(f.Client) + "-" + ep(f.Server)
}

// writePcapHeader writes a pcap file header with nanosecond timestamps
// (what pcapgo.NewWriterNanos writes records for). pcapgo's own takes
// gopacket's LinkType, a byte, which cannot say SLL2 (276).
func writePcapHeader(w io.Writer, snaplen uint32, lt layers.LinkType) error {
	network := uint32(lt)
	if lt == linkTypeLinuxSLL2 {
		network = 276
	}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b23c4d)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], snaplen)
	binary.LittleEndian.PutUint32(h[20:], network)
	_, err := w.Write(h[:])
	return err
}
