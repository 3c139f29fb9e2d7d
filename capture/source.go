package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Packet is one captured frame.
type Packet struct {
	// Data is the frame from its link-layer header on. It is only valid
	// until the next ReadPacket call on the same Source.
	Data     []byte
	Info     gopacket.CaptureInfo
	LinkType layers.LinkType
}

// Source yields packets in capture order. One Engine reads a Source.
type Source interface {
	// ReadPacket returns the next packet, io.EOF at the end of the input, an
	// error wrapping ErrTruncated when a file ends inside a packet, or
	// ErrNoPacket when a live source had nothing to deliver for a while (the
	// Engine then advances its clock to the wall clock).
	ReadPacket() (Packet, error)
	Close() error
}

var (
	// ErrTruncated reports a capture file that ends inside a packet record:
	// every complete packet before it has been delivered.
	ErrTruncated = errors.New("capture file truncated")
	// ErrNoPacket is returned by live sources when their poll timeout passed
	// without a packet, so that a quiet link still advances idle timers.
	ErrNoPacket = errors.New("no packet within the poll timeout")
)

// maxSnaplen is libpcap's MAXIMUM_SNAPLEN: no capture tool writes longer
// packets, and a pcap header claiming more is not believed (a packet longer
// than it ends the file as a broken record).
const maxSnaplen = 262144

// PcapFile reads a pcap or pcapng file without libpcap.
type PcapFile struct {
	path string
	f    *os.File
	cr   *countingReader
	br   *bufio.Reader
	read func() ([]byte, gopacket.CaptureInfo, error)
	// linkType gives the link type of a packet (pcapng interfaces may differ).
	linkType func(gopacket.CaptureInfo) layers.LinkType
}

var _ Source = (*PcapFile)(nil)

// countingReader counts the bytes read from the file. Less what is still
// buffered, that is the reader's position: a read that ends in io.EOF after
// consuming part of a record can so be told apart from a clean end of file
// (pcapgo's pcapng reader returns a bare io.EOF in both cases).
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// OpenPcap opens a pcap or pcapng file, telling them apart by their magic.
func OpenPcap(path string) (*PcapFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open pcap %q: %w", path, err)
	}
	p, err := newPcapFile(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return p, nil
}

func newPcapFile(path string, f *os.File) (*PcapFile, error) {
	// pcapgo wraps its input in a bufio.Reader unless it already is a large
	// enough one, so handing it br keeps the position arithmetic exact.
	cr := &countingReader{r: f}
	br := bufio.NewReaderSize(cr, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%q is not a pcap or pcapng file (%d bytes)", path, len(magic))
	}
	p := &PcapFile{path: path, f: f, cr: cr, br: br}
	switch binary.LittleEndian.Uint32(magic) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		r, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read pcap header of %q: %w", path, err)
		}
		if r.Snaplen() > maxSnaplen {
			// pcapgo sizes its packet buffer by the header's snaplen,
			// up to 4 GiB for a damaged or hostile file.
			r.SetSnaplen(maxSnaplen)
		}
		lt := r.LinkType()
		p.read = r.ZeroCopyReadPacketData
		p.linkType = func(gopacket.CaptureInfo) layers.LinkType { return lt }
	case 0x0a0d0d0a:
		r, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("read pcapng header of %q: %w", path, err)
		}
		p.read = r.ZeroCopyReadPacketData
		p.linkType = func(ci gopacket.CaptureInfo) layers.LinkType {
			if len(ci.AncillaryData) > 0 {
				if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					return lt
				}
			}
			return r.LinkType()
		}
	default:
		return nil, fmt.Errorf("%q is not a pcap or pcapng file", path)
	}
	return p, nil
}

// ReadPacket implements Source.
func (p *PcapFile) ReadPacket() (Packet, error) {
	before := p.pos()
	data, ci, err := p.read()
	if err != nil {
		if (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && p.pos() > before {
			return Packet{}, fmt.Errorf("read %q at byte %d: %w", p.path, before, ErrTruncated)
		}
		if errors.Is(err, io.EOF) {
			return Packet{}, io.EOF
		}
		return Packet{}, fmt.Errorf("read %q at byte %d: %w", p.path, before, err)
	}
	return Packet{Data: data, Info: ci, LinkType: p.linkType(ci)}, nil
}

func (p *PcapFile) pos() int64 { return p.cr.n - int64(p.br.Buffered()) }

// Close closes the file.
func (p *PcapFile) Close() error { return p.f.Close() }
