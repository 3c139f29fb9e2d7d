package capture

import (
	"errors"
	"io"
	"testing"

	"golang.org/x/net/bpf"
)

// TestFilterProgram runs the live capture filter in x/net/bpf's VM over
// real frames (IPv4 and IPv6) and checks it keeps exactly the segments
// that Config.Ports would.
func TestFilterProgram(t *testing.T) {
	raw, err := filterProgram([]uint16{3000, 9999}, false)
	if err != nil {
		t.Fatal(err)
	}
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("filter does not disassemble")
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Ports: []uint16{3000, 9999}}
	for _, path := range []string{"../testdata/demo.pcap", "../testdata/capture/ipv6.pcap"} {
		src, err := OpenPcap(path)
		if err != nil {
			t.Fatal(err)
		}
		var d packetDecoder
		var kept int
		for {
			p, err := src.ReadPacket()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n, err := vm.Run(p.Data)
			if err != nil {
				t.Fatal(err)
			}
			flow, tcp, err := d.decode(p.LinkType, p.Data)
			if err != nil {
				t.Fatal(err)
			}
			if want := cfg.keep(flow, tcp); (n > 0) != want {
				t.Errorf("%s: filter kept=%v, Config.Ports keeps=%v for %v %d→%d", path, n > 0, want, flow, tcp.SrcPort, tcp.DstPort)
			}
			if n > 0 {
				kept++
			}
		}
		src.Close()
		if kept == 0 {
			t.Errorf("%s: nothing kept", path)
		}
	}
}
