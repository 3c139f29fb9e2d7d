package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/klauspost/compress/zstd"
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
// packets, and a record claiming more is not believed (it is read as
// damage, see ReadStats).
const maxSnaplen = 262144

// PcapFile reads a pcap or pcapng file without libpcap. Damage inside the
// file does not end it: a record header or block that cannot be right is
// skipped up to the next valid one, and frames of a link type the Engine
// does not decode are skipped too; ReadStats counts both. Only a file that
// ends inside a record (ErrTruncated) or a read error ends the packets
// early.
type PcapFile struct {
	path string
	f    io.ReadCloser
	// compressed is set for a gzip or zstd file: offsets are then in the
	// decompressed stream.
	compressed bool
	// next reads the next packet and its LINKTYPE_ number.
	next func() ([]byte, gopacket.CaptureInfo, uint32, error)
	fr   *fileReader
}

var _ Source = (*PcapFile)(nil)

// OpenPcap opens a pcap or pcapng file, telling them apart by their magic;
// a gzip or zstd compressed one (.pcap.gz, .pcapng.zst) is read through
// its decompressor, also told by its magic.
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

// Magics of the compressed formats OpenPcap reads.
var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompressed is a decompressor over a file; Close closes both.
type decompressed struct {
	io.Reader
	close func() error
}

func (d decompressed) Close() error { return d.close() }

// decompress returns a reader of f's decompressed content when magic, the
// bytes already read from f, starts a gzip or zstd stream; otherwise f, to
// be read after magic.
func decompress(path string, f io.ReadCloser, magic []byte) (io.ReadCloser, bool, error) {
	src := io.MultiReader(bytes.NewReader(magic), f)
	switch {
	case bytes.HasPrefix(magic, gzipMagic):
		z, err := gzip.NewReader(src)
		if err != nil {
			return nil, false, fmt.Errorf("%q: gzip: %w", path, err)
		}
		return decompressed{z, func() error { return errors.Join(z.Close(), f.Close()) }}, true, nil
	case bytes.HasPrefix(magic, zstdMagic):
		z, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, false, fmt.Errorf("%q: zstd: %w", path, err)
		}
		return decompressed{z, func() error { z.Close(); return f.Close() }}, true, nil
	}
	return f, false, nil
}

func newPcapFile(path string, f io.ReadCloser) (*PcapFile, error) {
	var magic [4]byte
	if n, err := io.ReadFull(f, magic[:]); err != nil {
		return nil, fmt.Errorf("%q is not a pcap or pcapng file (%d bytes)", path, n)
	}
	f, compressed, err := decompress(path, f, magic[:])
	if err != nil {
		return nil, err
	}
	if compressed {
		if n, err := io.ReadFull(f, magic[:]); err != nil {
			return nil, fmt.Errorf("%q is not a compressed pcap or pcapng file (%d bytes decompressed): %w", path, n, err)
		}
	}
	src := io.MultiReader(bytes.NewReader(magic[:]), f)
	p := &PcapFile{path: path, f: f, compressed: compressed}
	switch binary.LittleEndian.Uint32(magic[:]) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		r, err := newPcapReader(src, path)
		if err != nil {
			return nil, err
		}
		p.fr = r.fileReader
		p.next = func() ([]byte, gopacket.CaptureInfo, uint32, error) {
			data, ci, err := r.next()
			return data, ci, r.linkType, err
		}
	case ngSectionHeader:
		r, err := newPcapngReader(src, path)
		if err != nil {
			return nil, err
		}
		p.fr = r.fileReader
		p.next = r.next
	default:
		return nil, fmt.Errorf("%q is not a pcap or pcapng file", path)
	}
	return p, nil
}

// ReadPacket implements Source.
func (p *PcapFile) ReadPacket() (Packet, error) {
	for {
		data, ci, raw, err := p.next()
		if err != nil {
			if err == io.EOF {
				return Packet{}, io.EOF
			}
			return Packet{}, fmt.Errorf("read %q: %w", p.path, err)
		}
		lt, ok := engineLinkType(raw)
		if !ok {
			p.fr.unsupported(raw)
			continue
		}
		p.fr.stats.Records++
		return Packet{Data: data, Info: ci, LinkType: lt}, nil
	}
}

// Compressed reports whether the file is read through a decompressor: its
// size on disk then says nothing of how far reading got.
func (p *PcapFile) Compressed() bool { return p.compressed }

// ReadStats returns what the file gave and what damage cost so far. Call
// it from the goroutine that reads the file, or after reading ended.
func (p *PcapFile) ReadStats() ReadStats {
	s := p.fr.stats
	if s.UnsupportedLinkTypes != nil {
		s.UnsupportedLinkTypes = maps.Clone(s.UnsupportedLinkTypes)
	}
	return s
}

// Close closes the file.
func (p *PcapFile) Close() error { return p.f.Close() }
