package decode

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/mcpwatch/mcpwatch/event"
)

// A capture that lost one segment in the middle of the tools/list result
// (a real go-sdk conversation in 200-byte segments): capture marks the body
// truncated, the response is still reported — id and method known, flagged
// truncated — and gives no manifest; every other message is intact.
func TestCaptureGapInResponse(t *testing.T) {
	const name = "gosdk-2025-11-25-json-mss200"
	cut := dropSegmentAfter(t, filepath.Join(captureDir, name+".pcap"), []byte(`{"jsonrpc":"2.0","id":2,"result":{`))
	evs, st := decodePcap(t, cut, Config{})
	assertMatchesSDK(t, evs, readSDKLog(t, filepath.Join(captureDir, name+".sdk.jsonl")))
	for _, e := range byKind(evs, event.KindMessage) {
		wantCut := e.Direction == event.DirServerToClient && e.Method == "tools/list"
		if e.Truncated != wantCut {
			t.Errorf("%s %s: truncated %v, want %v", e.Direction, e.Method, e.Truncated, wantCut)
		}
	}
	if n := len(byKind(evs, event.KindManifest)); n != 0 {
		t.Errorf("%d manifest events from a cut tools/list", n)
	}
	if st.Truncated != 1 {
		t.Errorf("stats: %d truncated, want 1", st.Truncated)
	}
}

// dropSegmentAfter writes a copy of the pcap at path without the TCP
// segment that follows, in the same direction, the first one containing
// marker, and returns the copy's path.
func dropSegmentAfter(t *testing.T, path string, marker []byte) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "gap.pcap")
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	w := pcapgo.NewWriter(o)
	if err := w.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
		t.Fatal(err)
	}
	var flow gopacket.Flow
	found, dropped := false, false
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.NoCopy)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp != nil && len(tcp.Payload) > 0 {
			switch {
			case !found && bytes.Contains(tcp.Payload, marker):
				found, flow = true, tcp.TransportFlow()
			case found && !dropped && tcp.TransportFlow() == flow:
				dropped = true
				continue
			}
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if !dropped {
		t.Fatalf("%s: no segment after %q to drop", path, marker)
	}
	return out
}
