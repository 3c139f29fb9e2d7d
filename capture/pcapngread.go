package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"time"

	"github.com/google/gopacket"
)

// pcapngReader reads a pcapng file. Every block carries its length at both
// ends, so a damaged one is found out (a length that does not fit, or a
// trailer that disagrees with the header) and skipped: the reader moves on
// to the next offset, in steps of four bytes as blocks are aligned, where a
// block of a known type begins whose header and trailer agree. A block
// whose framing is whole but whose content is not (a packet of an interface
// never described, longer than its block) is skipped alone.
type pcapngReader struct {
	*fileReader
	order  binary.ByteOrder
	ifaces []ngInterface
	// blocks counts the blocks read, damaged ones included.
	blocks uint64
}

type ngInterface struct {
	linkType uint32
	snaplen  uint32
	// units is the timestamp units per second, offset the seconds added.
	units  uint64
	offset int64
}

const (
	ngSectionHeader   = 0x0a0d0d0a
	ngInterfaceDesc   = 0x00000001
	ngObsoletePacket  = 0x00000002
	ngSimplePacket    = 0x00000003
	ngNameResolution  = 0x00000004
	ngInterfaceStats  = 0x00000005
	ngEnhancedPacket  = 0x00000006
	ngDecryptSecrets  = 0x0000000a
	ngCustom          = 0x00000bad
	ngCustomNoCopy    = 0x40000bad
	ngByteOrderMagic  = 0x1a2b3c4d
	ngOptionEnd       = 0
	ngOptionTSResol   = 9
	ngOptionTSOffset  = 14
	ngBlockHeaderLen  = 8
	ngBlockMinimumLen = 12
)

// ngMinLen is the shortest a block of each known type can be; a type not
// listed is not one to resynchronise on.
var ngMinLen = map[uint32]int{
	ngSectionHeader: 28, ngInterfaceDesc: 20, ngObsoletePacket: 32, ngSimplePacket: 16,
	ngNameResolution: 16, ngInterfaceStats: 24, ngEnhancedPacket: 32, ngDecryptSecrets: 20,
	ngCustom: 16, ngCustomNoCopy: 16,
}

func newPcapngReader(src io.Reader, path string) (*pcapngReader, error) {
	r := &pcapngReader{fileReader: newFileReader(src, "pcapng")}
	b, _, err := r.peek(28)
	if err != nil || len(b) < 28 {
		return nil, fmt.Errorf("read pcapng header of %q: %d of 28 bytes", path, len(b))
	}
	if _, ok := sectionOrder(b); !ok {
		return nil, fmt.Errorf("read pcapng header of %q: bad byte-order magic", path)
	}
	return r, nil
}

// sectionOrder reads a section header's byte order.
func sectionOrder(b []byte) (binary.ByteOrder, bool) {
	switch {
	case binary.LittleEndian.Uint32(b[8:]) == ngByteOrderMagic:
		return binary.LittleEndian, true
	case binary.BigEndian.Uint32(b[8:]) == ngByteOrderMagic:
		return binary.BigEndian, true
	}
	return nil, false
}

// frame reads the type and length of the block at b's start, b holding at
// least its first 12 bytes, and whether they can be right: a known type,
// at least that type's minimum length, a multiple of four, within what a
// scan window holds.
func (r *pcapngReader) frame(b []byte) (typ uint32, length int, order binary.ByteOrder, ok bool) {
	order = r.order
	typ = binary.LittleEndian.Uint32(b) // the section header's type reads the same both ways
	if typ == ngSectionHeader {
		if order, ok = sectionOrder(b); !ok {
			return typ, 0, nil, false
		}
	} else {
		if order == nil {
			return typ, 0, nil, false
		}
		typ = order.Uint32(b)
	}
	min, known := ngMinLen[typ]
	l := order.Uint32(b[4:])
	if !known || l < uint32(min) || l%4 != 0 || l > scanWindow {
		return typ, int(l), order, false
	}
	return typ, int(l), order, true
}

func (r *pcapngReader) next() (data []byte, ci gopacket.CaptureInfo, lt uint32, err error) {
	r.settle()
	for {
		b, atEOF, err := r.peek(ngBlockMinimumLen)
		if err != nil {
			return nil, ci, 0, fmt.Errorf("at byte %d: %w", r.off, err)
		}
		if len(b) == 0 {
			return nil, ci, 0, io.EOF
		}
		r.blocks++
		if atEOF {
			if err := r.truncatedOrDamaged(); err != nil {
				return nil, ci, 0, err
			}
			continue
		}
		typ, n, order, ok := r.frame(b)
		if !ok {
			r.resync()
			continue
		}
		blk, atEOF, err := r.peek(n)
		if err != nil {
			return nil, ci, 0, fmt.Errorf("at byte %d: %w", r.off, err)
		}
		if atEOF {
			if err := r.truncatedOrDamaged(); err != nil {
				return nil, ci, 0, err
			}
			continue
		}
		if int(order.Uint32(blk[n-4:])) != n {
			r.resync()
			continue
		}
		data, ci, lt, ok = r.block(typ, order, blk)
		if !ok {
			// Whole framing, impossible content: this block alone goes.
			r.damaged(r.blocks)
			r.skip(n)
			continue
		}
		if data == nil {
			r.discard(n)
			continue
		}
		r.pending = n
		return data, ci, lt, nil
	}
}

// block interprets one whole block: a packet (data set), a block that only
// changes the reader's state or is of no interest (data nil), or content
// that cannot be right (!ok).
func (r *pcapngReader) block(typ uint32, order binary.ByteOrder, blk []byte) (data []byte, ci gopacket.CaptureInfo, lt uint32, ok bool) {
	body := blk[ngBlockHeaderLen : len(blk)-4]
	switch typ {
	case ngSectionHeader:
		if order.Uint16(body[4:]) != 1 {
			return nil, ci, 0, false
		}
		r.order, r.ifaces = order, r.ifaces[:0]
	case ngInterfaceDesc:
		ifc := ngInterface{linkType: uint32(order.Uint16(body)), snaplen: order.Uint32(body[4:]), units: 1e6}
		r.interfaceOptions(&ifc, body[8:])
		r.ifaces = append(r.ifaces, ifc)
	case ngEnhancedPacket, ngObsoletePacket:
		var id int
		if typ == ngEnhancedPacket {
			id = int(order.Uint32(body))
		} else {
			id = int(order.Uint16(body))
		}
		incl, orig := order.Uint32(body[12:]), order.Uint32(body[16:])
		if id >= len(r.ifaces) || uint64(incl) > uint64(len(body)-20) || incl > maxSnaplen {
			return nil, ci, 0, false
		}
		ifc := r.ifaces[id]
		ci = gopacket.CaptureInfo{
			Timestamp:      ifc.time(uint64(order.Uint32(body[4:]))<<32 | uint64(order.Uint32(body[8:]))),
			CaptureLength:  int(incl),
			Length:         int(max(orig, incl)),
			InterfaceIndex: id,
		}
		return body[20 : 20+incl], ci, ifc.linkType, true
	case ngSimplePacket:
		if len(r.ifaces) == 0 {
			return nil, ci, 0, false
		}
		ifc := r.ifaces[0]
		orig := order.Uint32(body)
		incl := min(uint64(orig), uint64(len(body)-4))
		if ifc.snaplen > 0 {
			incl = min(incl, uint64(ifc.snaplen))
		}
		ci = gopacket.CaptureInfo{CaptureLength: int(incl), Length: int(max(uint64(orig), incl))}
		return body[4 : 4+incl], ci, ifc.linkType, true
	}
	return nil, ci, 0, true
}

// interfaceOptions reads the timestamp resolution and offset of an
// interface; other options, and options that run past the block, are
// ignored.
func (r *pcapngReader) interfaceOptions(ifc *ngInterface, opts []byte) {
	for len(opts) >= 4 {
		code, n := r.order.Uint16(opts), int(r.order.Uint16(opts[2:]))
		if code == ngOptionEnd || 4+n > len(opts) {
			return
		}
		v := opts[4 : 4+n]
		switch {
		case code == ngOptionTSResol && n >= 1:
			exp := uint(v[0] & 0x7f)
			if v[0]&0x80 != 0 {
				ifc.units = 1 << min(exp, 63)
			} else {
				ifc.units = 1
				for range min(exp, 19) {
					ifc.units *= 10
				}
			}
		case code == ngOptionTSOffset && n >= 8:
			ifc.offset = int64(r.order.Uint64(v))
		}
		opts = opts[min(4+(n+3)&^3, len(opts)):]
	}
}

// time converts a timestamp in the interface's units.
func (ifc ngInterface) time(ts uint64) time.Time {
	sec, frac := ts/ifc.units, ts%ifc.units
	hi, lo := bits.Mul64(frac, 1e9)
	ns, _ := bits.Div64(hi, lo, ifc.units)
	return time.Unix(int64(sec)+ifc.offset, int64(ns)).UTC()
}

// truncatedOrDamaged is the end of the file inside a block: a damaged
// block when a valid one follows it in what is left, else a file cut short.
func (r *pcapngReader) truncatedOrDamaged() error {
	return r.fileReader.truncatedOrDamaged("block", r.blocks, 4, scanWindow/2, r.candidate)
}

// resync skips from a damaged block at the reader's position to the next
// valid one, or to the end of the file. Blocks are four-byte aligned, and
// so is what a window keeps.
func (r *pcapngReader) resync() {
	r.fileReader.resync(r.blocks, 4, scanWindow/2, r.candidate)
}

// candidate returns the first offset from from in win, in steps of four,
// where a whole block of a known type starts whose header and trailer
// agree, or -1.
func (r *pcapngReader) candidate(win []byte, from int) int {
	for i := from; i+ngBlockMinimumLen <= len(win); i += 4 {
		_, n, order, ok := r.frame(win[i:])
		if ok && i+n <= len(win) && int(order.Uint32(win[i+n-4:])) == n {
			return i
		}
	}
	return -1
}
