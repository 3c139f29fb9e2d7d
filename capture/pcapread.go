package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
)

// pcapReader reads a classic pcap file. A record header that cannot be
// right (a fraction of a second over one second, a captured length over the
// snap length or over the original length) does not end the file: the
// reader scans forward for the next plausible record header — timestamps
// near the last good record's, lengths as above, and the header after that
// record plausible too (or the file ending right there) — counts what it
// skipped and goes on from there.
type pcapReader struct {
	*fileReader
	order binary.ByteOrder
	// fracUnit is nanoseconds per unit of the timestamp fraction;
	// fracLimit the number of units in a second.
	fracUnit, fracLimit uint32
	// snaplen is the file's snap length (maxSnaplen when it claims more or
	// none): a resync candidate must keep to it. Records read in order may
	// go up to maxSnaplen, as some writers do not keep to their own.
	snaplen  uint32
	linkType uint32
	// last is the timestamp of the last good record, in seconds.
	last    uint32
	hasLast bool
	// records counts the records read, damaged ones included.
	records uint64
}

const pcapRecordHeaderLen = 16

// resyncWindow is how far from the last good record's time a resync
// candidate's timestamp may be.
const resyncWindow = 24 * 60 * 60

func newPcapReader(src io.Reader, path string) (*pcapReader, error) {
	r := &pcapReader{fileReader: newFileReader(src, "pcap")}
	hdr, _, err := r.peek(24)
	if err != nil || len(hdr) < 24 {
		return nil, fmt.Errorf("read pcap header of %q: %d of 24 bytes", path, len(hdr))
	}
	switch binary.LittleEndian.Uint32(hdr) {
	case 0xa1b2c3d4:
		r.order, r.fracUnit = binary.LittleEndian, 1000
	case 0xd4c3b2a1:
		r.order, r.fracUnit = binary.BigEndian, 1000
	case 0xa1b23c4d:
		r.order, r.fracUnit = binary.LittleEndian, 1
	case 0x4d3cb2a1:
		r.order, r.fracUnit = binary.BigEndian, 1
	}
	r.fracLimit = 1e9 / r.fracUnit
	if v := r.order.Uint16(hdr[4:]); v != 2 {
		return nil, fmt.Errorf("read pcap header of %q: unknown major version %d", path, v)
	}
	r.snaplen = r.order.Uint32(hdr[16:])
	if r.snaplen == 0 || r.snaplen > maxSnaplen {
		r.snaplen = maxSnaplen
	}
	// The upper bits hold an FCS length, not the link type.
	r.linkType = r.order.Uint32(hdr[20:]) & 0x03ffffff
	r.discard(24)
	return r, nil
}

// header is one record header.
type pcapRecordHeader struct{ sec, frac, incl, orig uint32 }

func (r *pcapReader) parse(b []byte) pcapRecordHeader {
	return pcapRecordHeader{r.order.Uint32(b), r.order.Uint32(b[4:]), r.order.Uint32(b[8:]), r.order.Uint32(b[12:])}
}

// sane holds for a header that can be right on its own.
func (r *pcapReader) sane(h pcapRecordHeader, snaplen uint32) bool {
	return h.frac < r.fracLimit && h.incl <= snaplen && h.incl <= h.orig && h.orig <= 1<<24
}

// near holds for timestamps within resyncWindow of each other.
func near(a, b uint32) bool { return max(a, b)-min(a, b) <= resyncWindow }

func (r *pcapReader) next() (data []byte, ci gopacket.CaptureInfo, err error) {
	r.settle()
	for {
		b, atEOF, err := r.peek(pcapRecordHeaderLen)
		if err != nil {
			return nil, ci, fmt.Errorf("at byte %d: %w", r.off, err)
		}
		if len(b) == 0 {
			return nil, ci, io.EOF
		}
		r.records++
		if atEOF {
			if err := r.truncatedOrDamaged(); err != nil {
				return nil, ci, err
			}
			continue
		}
		h := r.parse(b)
		n := pcapRecordHeaderLen + int(h.incl)
		if !r.sane(h, maxSnaplen) {
			r.resync()
			continue
		}
		rec, atEOF, err := r.peek(n)
		if err != nil {
			return nil, ci, fmt.Errorf("at byte %d: %w", r.off, err)
		}
		if atEOF {
			if err := r.truncatedOrDamaged(); err != nil {
				return nil, ci, err
			}
			continue
		}
		if r.hasLast && !near(h.sec, r.last) {
			// A jump in time: believed when the record after it is
			// plausible too.
			win, _, _ := r.peek(n + pcapRecordHeaderLen)
			r.hasLast = false
			ok := r.plausibleAt(win, 0)
			r.hasLast = true
			if !ok {
				r.resync()
				continue
			}
			rec, _, _ = r.peek(n)
		}
		r.last, r.hasLast = h.sec, true
		r.pending = n
		ci = gopacket.CaptureInfo{
			Timestamp:     time.Unix(int64(h.sec), int64(h.frac)*int64(r.fracUnit)).UTC(),
			CaptureLength: int(h.incl),
			Length:        int(h.orig),
		}
		return rec[pcapRecordHeaderLen:], ci, nil
	}
}

// truncatedOrDamaged is the end of a file inside a record: a damaged
// header when a valid record follows it in what is left, else a file cut
// short.
func (r *pcapReader) truncatedOrDamaged() error {
	return r.fileReader.truncatedOrDamaged("record", r.records, 1, 2*pcapRecordHeaderLen+maxSnaplen, r.candidate)
}

// resync skips from a damaged record header at the reader's position to
// the next plausible one, or to the end of the file.
func (r *pcapReader) resync() {
	r.fileReader.resync(r.records, 1, 2*pcapRecordHeaderLen+maxSnaplen, r.candidate)
}

// candidate returns the first offset from from in win that holds a
// plausible record, or -1. A candidate too close to the end of win to be
// checked is not taken unless win ends the file (a short win is the file's
// end: peek returns fewer bytes only there).
func (r *pcapReader) candidate(win []byte, from int) int {
	for i := from; i+pcapRecordHeaderLen <= len(win); i++ {
		if r.plausibleAt(win, i) {
			return i
		}
	}
	return -1
}

// plausibleAt holds for a record at win[i:] whose header is plausible
// (timestamp near the last good record's, unless there is none) and is
// followed by another plausible header or by the end of the file.
func (r *pcapReader) plausibleAt(win []byte, i int) bool {
	h := r.parse(win[i:])
	if !r.sane(h, r.snaplen) || r.hasLast && !near(h.sec, r.last) {
		return false
	}
	end := i + pcapRecordHeaderLen + int(h.incl)
	switch {
	case end == len(win) && len(win) < scanWindow:
		return true // the last record of the file
	case end+pcapRecordHeaderLen <= len(win):
		f := r.parse(win[end:])
		return r.sane(f, r.snaplen) && near(f.sec, h.sec)
	}
	return false
}
