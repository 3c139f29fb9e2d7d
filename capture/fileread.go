package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/google/gopacket/layers"
)

// ReadStats counts what a PcapFile read and what damage in the file made it
// skip. A damaged record header (pcap) or block (pcapng) does not end the
// file: the reader resynchronises on the next valid record and goes on.
type ReadStats struct {
	// Format is "pcap" or "pcapng".
	Format string
	// Records counts the packets delivered.
	Records uint64
	// BadRecords counts damaged stretches of the file: a record header or
	// block that did not parse, skipped with whatever followed it up to the
	// next valid record (so a stretch may have held more than one record).
	// SkippedBytes is their size.
	BadRecords, SkippedBytes uint64
	// FirstBadOffset is the byte offset of the first damage (-1: none) and
	// FirstBadRecord the number, from 1, of the record (pcap) or block
	// (pcapng) that was due there.
	FirstBadOffset int64
	FirstBadRecord uint64
	// UnsupportedLinkTypes counts the frames skipped because the Engine
	// does not decode their link type, by link type number (LINKTYPE_*).
	UnsupportedLinkTypes map[uint32]uint64
}

// Damaged reports whether any record was skipped as damaged.
func (s ReadStats) Damaged() bool { return s.BadRecords > 0 }

// DamageString says where the damage was and what it cost, for a warning.
func (s ReadStats) DamageString() string {
	unit := "record"
	if s.Format == "pcapng" {
		unit = "block"
	}
	return fmt.Sprintf("damaged %s from byte %d (%s %d): %d damaged stretch(es), %d bytes skipped, resynchronised on the next valid %s",
		s.Format, s.FirstBadOffset, unit, s.FirstBadRecord, s.BadRecords, s.SkippedBytes, unit)
}

// LinkTypesString lists the unsupported link types and the frames skipped
// for each, lowest number first.
func (s ReadStats) LinkTypesString() string {
	var parts []string
	for _, lt := range slices.Sorted(maps.Keys(s.UnsupportedLinkTypes)) {
		parts = append(parts, fmt.Sprintf("link type %d: %d frames skipped", lt, s.UnsupportedLinkTypes[lt]))
	}
	return strings.Join(parts, ", ")
}

// engineLinkType maps a file's LINKTYPE_ number to the link type the
// Engine decodes (networkPayload), or false for one it does not.
func engineLinkType(raw uint32) (layers.LinkType, bool) {
	switch raw {
	case 276:
		return linkTypeLinuxSLL2, true
	case uint32(layers.LinkTypeEthernet), uint32(layers.LinkTypeLinuxSLL), uint32(layers.LinkTypeNull),
		uint32(layers.LinkTypeLoop), uint32(layers.LinkTypeRaw), uint32(layers.LinkTypeIPv4), uint32(layers.LinkTypeIPv6):
		return layers.LinkType(raw), true
	}
	return 0, false
}

// scanWindow is how much of the file a reader looks at once while it
// searches for the next valid record: a record or block of the longest
// packet (maxSnaplen) and the header after it fit.
const scanWindow = 1 << 20

// fileReader is the part of the pcap and pcapng readers that walks the
// file: a buffered reader, the offset of its next byte, and the damage
// counters.
type fileReader struct {
	src io.Reader
	br  *bufio.Reader
	off int64
	// pending bytes are consumed at the next read: the packet handed out
	// last still points into the buffer.
	pending int
	stats   ReadStats
}

func newFileReader(src io.Reader, format string) *fileReader {
	return &fileReader{src: src, br: bufio.NewReaderSize(src, 1<<16), stats: ReadStats{Format: format, FirstBadOffset: -1}}
}

// settle consumes what the previous packet left pending.
func (r *fileReader) settle() {
	if r.pending > 0 {
		r.discard(r.pending)
		r.pending = 0
	}
}

func (r *fileReader) discard(n int) {
	d, _ := r.br.Discard(n)
	r.off += int64(d)
}

// grow swaps the buffer for one of scanWindow bytes, keeping what is
// buffered, so that a whole record of the longest packet can be peeked.
func (r *fileReader) grow() {
	if r.br.Size() >= scanWindow {
		return
	}
	held, _ := r.br.Peek(r.br.Buffered())
	r.br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(held)), r.src), scanWindow)
}

// peek returns up to n bytes from the reader's position; fewer only at the
// end of the file (atEOF) or on a read error (err).
func (r *fileReader) peek(n int) (b []byte, atEOF bool, err error) {
	if n > r.br.Size() {
		r.grow()
	}
	b, err = r.br.Peek(n)
	switch {
	case err == nil:
		return b, false, nil
	case errors.Is(err, io.EOF):
		return b, true, nil
	}
	return b, false, err
}

// damaged records a damaged stretch that starts at the reader's position
// in record number rec; the caller then skips its bytes with skip.
func (r *fileReader) damaged(rec uint64) {
	if r.stats.BadRecords == 0 {
		r.stats.FirstBadOffset, r.stats.FirstBadRecord = r.off, rec
	}
	r.stats.BadRecords++
}

// truncatedOrDamaged handles the end of the file inside record (or
// block) n, named unit: when a valid one follows in what is left, the
// bytes before it were damaged and the reader resynchronises there (as
// resync, with step, keep and candidate); else the file was cut short
// (ErrTruncated).
func (r *fileReader) truncatedOrDamaged(unit string, n uint64, step, keep int, candidate func(win []byte, from int) int) error {
	rest, _, _ := r.peek(scanWindow)
	if candidate(rest, step) < 0 {
		return fmt.Errorf("%s %d at byte %d: %w", unit, n, r.off, ErrTruncated)
	}
	r.resync(n, step, keep, candidate)
	return nil
}

// resync skips from damage at the reader's position, in record rec, to the
// first offset from from where candidate finds a valid record, or to the
// end of the file. Each window's last keep bytes are looked at again with
// the next: a record starting there may need more data to be checked.
func (r *fileReader) resync(rec uint64, from, keep int, candidate func(win []byte, from int) int) {
	r.damaged(rec)
	for {
		win, atEOF, err := r.peek(scanWindow)
		if err != nil {
			// A read error: the next read reports it.
			r.skip(from)
			return
		}
		if i := candidate(win, from); i >= 0 {
			r.skip(i)
			return
		}
		if atEOF {
			r.skip(len(win))
			return
		}
		r.skip(max(len(win)-keep, from))
		from = 0
	}
}

// skip consumes n damaged bytes.
func (r *fileReader) skip(n int) {
	r.discard(n)
	r.stats.SkippedBytes += uint64(n)
}

// unsupported counts a frame skipped for its link type.
func (r *fileReader) unsupported(lt uint32) {
	if r.stats.UnsupportedLinkTypes == nil {
		r.stats.UnsupportedLinkTypes = map[uint32]uint64{}
	}
	r.stats.UnsupportedLinkTypes[lt]++
}
