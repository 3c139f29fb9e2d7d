package impair

import (
	"bytes"
	"slices"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/mcpwatch/mcpwatch/capture"
)

func demo(t *testing.T) []capture.Packet {
	t.Helper()
	pkts, err := ReadFile("../../testdata/demo.pcap")
	if err != nil || len(pkts) < 20 {
		t.Fatalf("%d packets, %v", len(pkts), err)
	}
	return pkts
}

// payloads are the TCP payload bytes of each direction's segments, by
// sequence number: what a receiver would reassemble.
func payloads(t *testing.T, pkts []capture.Packet) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	type seg struct {
		seq  uint32
		data []byte
	}
	segs := map[string][]seg{}
	for _, p := range pkts {
		pkt := gopacket.NewPacket(p.Data, p.LinkType, gopacket.Default)
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil || len(tcp.Payload) == 0 {
			continue
		}
		k := pkt.NetworkLayer().NetworkFlow().String() + tcp.TransportFlow().String()
		segs[k] = append(segs[k], seg{tcp.Seq, tcp.Payload})
	}
	for k, ss := range segs {
		slices.SortStableFunc(ss, func(a, b seg) int { return int(int32(a.seq - b.seq)) })
		var buf []byte
		next := ss[0].seq
		for _, s := range ss {
			if s.seq == next {
				buf = append(buf, s.data...)
				next += uint32(len(s.data))
			} else if int32(s.seq-next) > 0 {
				t.Fatalf("%s: hole at %d", k, next)
			}
		}
		out[k] = buf
	}
	return out
}

// Lossless mixes change the order and the segmentation of the packets,
// never the bytes each direction carries; the same seed gives the same
// variant.
func TestLosslessMixesKeepTheBytes(t *testing.T) {
	pkts := demo(t)
	want := payloads(t, pkts)
	for _, m := range []Mix{Reorder, Duplicates, Resegment, Field} {
		for seed := range uint64(5) {
			v := Apply(pkts, m, seed)
			got := payloads(t, v)
			if len(got) != len(want) {
				t.Fatalf("%+v seed %d: %d directions, want %d", m, seed, len(got), len(want))
			}
			for k := range want {
				if !bytes.Equal(got[k], want[k]) {
					t.Errorf("%+v seed %d: %s carries other bytes", m, seed, k)
				}
			}
			again := Apply(pkts, m, seed)
			if !slices.EqualFunc(v, again, func(a, b capture.Packet) bool { return bytes.Equal(a.Data, b.Data) }) {
				t.Errorf("%+v seed %d: two variants differ", m, seed)
			}
			for i := 1; i < len(v); i++ {
				if v[i].Info.Timestamp.Before(v[i-1].Info.Timestamp) {
					t.Fatalf("%+v seed %d: time goes back at packet %d", m, seed, i)
				}
			}
		}
	}
}

// Resegment really splits segments, and Reorder really swaps packets.
func TestMixesImpair(t *testing.T) {
	pkts := demo(t)
	if v := Apply(pkts, Resegment, 1); len(v) <= len(pkts) {
		t.Errorf("resegmented: %d packets, original %d", len(v), len(pkts))
	}
	v := Apply(pkts, Reorder, 1)
	moved := 0
	for i := range v {
		if !bytes.Equal(v[i].Data, pkts[i].Data) {
			moved++
		}
	}
	if moved == 0 {
		t.Error("reorder moved no packet")
	}
	if v := Apply(pkts, Mix{Drop: 1}, 1); len(v) != 0 {
		t.Errorf("%d packets left after dropping all", len(v))
	}
}
