package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// readPacket is one packet as read, its data copied.
type readPacket struct {
	data []byte
	ts   time.Time
	orig int
	lt   layers.LinkType
}

// readAllPackets reads a capture file in full with PcapFile.
func readAllPackets(t testing.TB, path string) ([]readPacket, ReadStats, error) {
	t.Helper()
	p, err := OpenPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out []readPacket
	for {
		pkt, err := p.ReadPacket()
		if errors.Is(err, io.EOF) {
			return out, p.ReadStats(), nil
		}
		if err != nil {
			return out, p.ReadStats(), err
		}
		out = append(out, readPacket{bytes.Clone(pkt.Data), pkt.Info.Timestamp, pkt.Info.Length, pkt.LinkType})
	}
}

// realCaptures are the checked-in captures of real SDK traffic and the demo.
func realCaptures(t testing.TB) []string {
	files, err := filepath.Glob("../testdata/decode/*.pcap")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	return append(files, "../testdata/demo.pcap")
}

// pcapRecords returns the offset of every record of a classic pcap.
func pcapRecords(t testing.TB, b []byte) []int {
	var offs []int
	for off := 24; off < len(b); {
		offs = append(offs, off)
		off += 16 + int(binary.LittleEndian.Uint32(b[off+8:]))
	}
	return offs
}

// toPcapNG rewrites a classic pcap as pcapng with gopacket's writer; with
// extra set, a second interface of that link type is described too.
func toPcapNG(t testing.TB, pcap []byte, extra layers.LinkType) []byte {
	r, err := pcapgo.NewReader(bytes.NewReader(pcap))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, r.LinkType())
	if err != nil {
		t.Fatal(err)
	}
	if extra != 0 {
		if _, err := w.AddInterface(pcapgo.NgInterface{LinkType: extra, SnapLength: 65536}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; ; i++ {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if extra != 0 && i%2 == 1 {
			ci.InterfaceIndex = 1
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ngBlocks returns the offset and type of every block of a little-endian
// pcapng.
func ngBlocks(b []byte) (offs []int, types []uint32) {
	for off := 0; off+12 <= len(b); off += int(binary.LittleEndian.Uint32(b[off+4:])) {
		offs, types = append(offs, off), append(types, binary.LittleEndian.Uint32(b[off:]))
	}
	return offs, types
}

func writeTemp(t testing.TB, name string, b []byte) string {
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// junk overwrites b with a fixed pattern no record header survives.
func junk(b []byte) {
	for i := range b {
		b[i] = 0xa5 ^ byte(i*37)
	}
}

func equalPackets(t *testing.T, what string, got, want []readPacket) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d packets, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].data, want[i].data) || !got[i].ts.Equal(want[i].ts) || got[i].orig != want[i].orig || got[i].lt != want[i].lt {
			t.Fatalf("%s: packet %d differs: %v %d %d, want %v %d %d", what, i, got[i].ts, got[i].orig, len(got[i].data), want[i].ts, want[i].orig, len(want[i].data))
		}
	}
}

// The readers give what gopacket's give, packet for packet, on every clean
// real capture in both formats.
func TestPcapReadersMatchGopacket(t *testing.T) {
	for _, path := range realCaptures(t) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			format string
			b      []byte
		}{{"pcap", raw}, {"pcapng", toPcapNG(t, raw, 0)}} {
			got, st, err := readAllPackets(t, writeTemp(t, "c."+c.format, c.b))
			if err != nil || st.Damaged() || len(st.UnsupportedLinkTypes) > 0 {
				t.Fatalf("%s as %s: %v, %+v", path, c.format, err, st)
			}
			equalPackets(t, filepath.Base(path)+" as "+c.format, got, gopacketPackets(t, c.b))
		}
	}
}

func gopacketPackets(t testing.TB, b []byte) []readPacket {
	var src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var lt func() layers.LinkType
	if binary.LittleEndian.Uint32(b) == ngSectionHeader {
		r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		src, lt = r, r.LinkType
	} else {
		r, err := pcapgo.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		src, lt = r, r.LinkType
	}
	var out []readPacket
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, readPacket{data, ci.Timestamp, ci.Length, lt()})
	}
}

// A record header overwritten with junk in the middle of a real capture
// costs that record alone: the reader resynchronises on the next one and
// says where the damage was and how much it skipped.
func TestPcapDamagedRecordHeader(t *testing.T) {
	for _, path := range realCaptures(t) {
		clean, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := readAllPackets(t, path)
		if err != nil {
			t.Fatal(err)
		}
		offs := pcapRecords(t, clean)
		k := len(offs) / 2
		bad := bytes.Clone(clean)
		junk(bad[offs[k] : offs[k]+16])
		got, st, err := readAllPackets(t, writeTemp(t, "bad.pcap", bad))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		equalPackets(t, filepath.Base(path), got, slices.Delete(slices.Clone(want), k, k+1))
		size := uint64(offs[k+1] - offs[k])
		if st.BadRecords != 1 || st.SkippedBytes != size || st.FirstBadOffset != int64(offs[k]) || st.FirstBadRecord != uint64(k+1) {
			t.Errorf("%s: stats %+v, want 1 bad record of %d bytes at byte %d (record %d)", path, st, size, offs[k], k+1)
		}
	}
}

// Junk over the header and into the next record's header costs both
// records; a timestamp that jumps years is damage too, when the record
// after it does not follow it.
func TestPcapDamagedAcrossRecords(t *testing.T) {
	clean, err := os.ReadFile("../testdata/demo.pcap")
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := readAllPackets(t, "../testdata/demo.pcap")
	offs := pcapRecords(t, clean)
	k := len(offs) / 3

	bad := bytes.Clone(clean)
	junk(bad[offs[k] : offs[k+1]+8])
	got, st, err := readAllPackets(t, writeTemp(t, "bad.pcap", bad))
	if err != nil {
		t.Fatal(err)
	}
	equalPackets(t, "two records", got, slices.Delete(slices.Clone(want), k, k+2))
	if st.BadRecords != 1 || st.SkippedBytes != uint64(offs[k+2]-offs[k]) {
		t.Errorf("stats %+v, want one stretch of %d bytes", st, offs[k+2]-offs[k])
	}

	bad = bytes.Clone(clean)
	binary.LittleEndian.PutUint32(bad[offs[k]:], binary.LittleEndian.Uint32(bad[offs[k]:])+5*365*86400)
	got, st, err = readAllPackets(t, writeTemp(t, "jump.pcap", bad))
	if err != nil {
		t.Fatal(err)
	}
	equalPackets(t, "time jump", got, slices.Delete(slices.Clone(want), k, k+1))
	if st.BadRecords != 1 || st.FirstBadRecord != uint64(k+1) {
		t.Errorf("time jump: stats %+v", st)
	}
}

// A file cut inside its last record stays ErrTruncated, after every packet
// before the cut; so does one cut inside a record whose header says more
// than the file holds. Neither counts as damage.
func TestPcapTruncatedStaysTruncated(t *testing.T) {
	for _, format := range []string{"pcap", "pcapng"} {
		clean, err := os.ReadFile("../testdata/demo.pcap")
		if err != nil {
			t.Fatal(err)
		}
		if format == "pcapng" {
			clean = toPcapNG(t, clean, 0)
		}
		want, _, _ := readAllPackets(t, writeTemp(t, "c", clean))
		got, st, err := readAllPackets(t, writeTemp(t, "cut", clean[:len(clean)-10]))
		if !errors.Is(err, ErrTruncated) || st.Damaged() {
			t.Fatalf("%s: err %v, stats %+v, want ErrTruncated and no damage", format, err, st)
		}
		equalPackets(t, format+" cut", got, want[:len(want)-1])
	}
}

// A pcapng Enhanced Packet Block whose length reads 0xFFFFFF00 costs that
// block alone, not the rest of the file; so does one whose trailer
// disagrees with its header, or whose interface was never described.
func TestPcapNGDamagedBlocks(t *testing.T) {
	for _, path := range realCaptures(t) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		clean := toPcapNG(t, raw, 0)
		want, _, _ := readAllPackets(t, writeTemp(t, "c.pcapng", clean))
		offs, types := ngBlocks(clean)
		k := len(offs) / 2
		for types[k] != ngEnhancedPacket {
			k++
		}
		pkt := k - 2 // the section header and interface come first
		size := uint64(offs[k+1] - offs[k])
		for _, c := range []struct {
			name   string
			damage func(b []byte)
		}{
			{"huge length", func(b []byte) { binary.LittleEndian.PutUint32(b[offs[k]+4:], 0xFFFFFF00) }},
			{"short length", func(b []byte) { binary.LittleEndian.PutUint32(b[offs[k]+4:], uint32(size)-8) }},
			{"trailer", func(b []byte) { binary.LittleEndian.PutUint32(b[offs[k+1]-4:], 7) }},
			{"interface", func(b []byte) { binary.LittleEndian.PutUint32(b[offs[k]+8:], 9) }},
		} {
			bad := bytes.Clone(clean)
			c.damage(bad)
			got, st, err := readAllPackets(t, writeTemp(t, "bad.pcapng", bad))
			if err != nil {
				t.Fatalf("%s, %s: %v", path, c.name, err)
			}
			equalPackets(t, filepath.Base(path)+", "+c.name, got, slices.Delete(slices.Clone(want), pkt, pkt+1))
			if st.BadRecords != 1 || st.SkippedBytes != size || st.FirstBadOffset != int64(offs[k]) || st.FirstBadRecord != uint64(k+1) {
				t.Errorf("%s, %s: stats %+v, want 1 bad block of %d bytes at byte %d (block %d)", path, c.name, st, size, offs[k], k+1)
			}
		}
	}
}

// Frames of a link type the Engine does not decode are skipped and counted
// per link type; the others of the file are read.
func TestUnsupportedLinkType(t *testing.T) {
	clean, err := os.ReadFile("../testdata/demo.pcap")
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := readAllPackets(t, "../testdata/demo.pcap")

	bogus := bytes.Clone(clean)
	binary.LittleEndian.PutUint32(bogus[20:], 4660)
	got, st, err := readAllPackets(t, writeTemp(t, "bogus.pcap", bogus))
	if err != nil || len(got) != 0 || st.UnsupportedLinkTypes[4660] != uint64(len(want)) || len(st.UnsupportedLinkTypes) != 1 {
		t.Fatalf("pcap: %v, %d packets, %v; want all %d frames skipped as link type 4660", err, len(got), st.UnsupportedLinkTypes, len(want))
	}
	if s, w := st.LinkTypesString(), fmt.Sprintf("link type 4660: %d frames skipped", len(want)); s != w {
		t.Errorf("LinkTypesString %q, want %q", s, w)
	}

	// pcapng, every other packet on a second interface of link type 147
	// (LINKTYPE_USER0).
	mixed := toPcapNG(t, clean, 147)
	got, st, err = readAllPackets(t, writeTemp(t, "mixed.pcapng", mixed))
	var even []readPacket
	for i, p := range want {
		if i%2 == 0 {
			even = append(even, p)
		}
	}
	if err != nil || st.UnsupportedLinkTypes[147] != uint64(len(want)-len(even)) {
		t.Fatalf("pcapng: %v, %v", err, st.UnsupportedLinkTypes)
	}
	equalPackets(t, "mixed pcapng", got, even)
}

// FuzzPcapFile reads arbitrary bytes as a capture file: no panic, every
// read ends, no packet over the longest snap length, and what was skipped
// fits in the file. The seeds are the first records of real captures, in
// both formats, whole and damaged as the tests above damage them.
func FuzzPcapFile(f *testing.F) {
	for _, name := range []string{"../testdata/demo.pcap", "../testdata/decode/gosdk-2025-06-18-json.pcap"} {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		offs := pcapRecords(f, raw)
		raw = raw[:offs[12]]
		ng := toPcapNG(f, raw, 147)
		f.Add(raw)
		f.Add(ng)
		bad := bytes.Clone(raw)
		junk(bad[offs[6] : offs[6]+16])
		f.Add(bad)
		noffs, _ := ngBlocks(ng)
		bad = bytes.Clone(ng)
		binary.LittleEndian.PutUint32(bad[noffs[6]+4:], 0xFFFFFF00)
		f.Add(bad)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := newPcapFile("fuzz", io.NopCloser(bytes.NewReader(b)))
		if err != nil {
			return
		}
		for n := 0; ; n++ {
			if n > len(b) {
				t.Fatalf("%d packets from %d bytes", n, len(b))
			}
			pkt, err := p.ReadPacket()
			if err != nil {
				break
			}
			if len(pkt.Data) > maxSnaplen || len(pkt.Data) != pkt.Info.CaptureLength || pkt.Info.Length < pkt.Info.CaptureLength {
				t.Fatalf("packet of %d bytes, capture info %+v", len(pkt.Data), pkt.Info)
			}
		}
		st := p.ReadStats()
		if st.SkippedBytes > uint64(len(b)) || st.Damaged() != (st.FirstBadOffset >= 0) || st.FirstBadOffset >= int64(len(b)) {
			t.Fatalf("stats %+v for %d bytes", st, len(b))
		}
	})
}

// BenchmarkPcapFile reads a real capture's records 64 times over, in both
// formats, with PcapFile and, for comparison, with gopacket's readers.
func BenchmarkPcapFile(b *testing.B) {
	demo, err := os.ReadFile("../testdata/demo.pcap")
	if err != nil {
		b.Fatal(err)
	}
	raw := slices.Clone(demo)
	for range 63 {
		raw = append(raw, demo[24:]...)
	}
	for _, c := range []struct {
		format string
		data   []byte
	}{{"pcap", raw}, {"pcapng", toPcapNG(b, raw, 0)}} {
		b.Run(c.format, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				p, err := newPcapFile("bench", io.NopCloser(bytes.NewReader(c.data)))
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := p.ReadPacket(); err != nil {
						break
					}
				}
			}
		})
		b.Run(c.format+"/gopacket", func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				gopacketPackets(b, c.data)
			}
		})
	}
}
