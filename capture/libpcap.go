//go:build libpcap && cgo

package capture

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcap"
)

// Libpcap is an interface captured through libpcap, for BPF filter
// expressions (host, net, port, and anything else tcpdump accepts); capture
// files are filtered with libpcap's compiled programs (OpenLibpcapFile).
// Built only with -tags libpcap (and cgo, libpcap-dev); the default build
// captures with AF_PACKET and filters by --port and --net.
type Libpcap struct {
	h *pcap.Handle
}

var _ Source = (*Libpcap)(nil)

// OpenLibpcapFile reads a pcap or pcapng file with the pure-Go reader, so
// that damaged records are skipped and reading resynchronises exactly as
// without a filter, and keeps only the packets that the BPF expression bpf
// (empty: all), compiled by libpcap for each link type met, matches.
func OpenLibpcapFile(path, bpf string) (Source, error) {
	f, err := OpenPcap(path)
	if err != nil || bpf == "" {
		return f, err
	}
	// A wrong expression fails here rather than at the first packet.
	if _, err := pcap.NewBPF(layers.LinkTypeEthernet, snapAll, bpf); err != nil {
		f.Close()
		return nil, fmt.Errorf("BPF filter %q: %w", bpf, err)
	}
	return &filteredFile{PcapFile: f, expr: bpf, programs: map[layers.LinkType]*pcap.BPF{}}, nil
}

// filteredFile is a capture file whose packets pass a BPF filter.
type filteredFile struct {
	*PcapFile
	expr     string
	programs map[layers.LinkType]*pcap.BPF
}

// ReadPacket implements Source: the next packet the filter matches.
func (f *filteredFile) ReadPacket() (Packet, error) {
	for {
		p, err := f.PcapFile.ReadPacket()
		if err != nil {
			return p, err
		}
		prog, ok := f.programs[p.LinkType]
		if !ok {
			if prog, err = pcap.NewBPF(p.LinkType, snapAll, f.expr); err != nil {
				return Packet{}, fmt.Errorf("BPF filter %q on link type %s: %w", f.expr, p.LinkType, err)
			}
			f.programs[p.LinkType] = prog
		}
		if prog.Matches(p.Info, p.Data) {
			return p, nil
		}
	}
}

// OpenLibpcapLive captures on iface through libpcap with the BPF filter
// bpf (empty: all), snaplen 256 KiB, promiscuous.
func OpenLibpcapLive(iface, bpf string) (*Libpcap, error) {
	h, err := pcap.OpenLive(iface, 256<<10, true, 200*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("open live capture on %q (libpcap): %w", iface, err)
	}
	return withFilter(&Libpcap{h: h}, bpf)
}

func withFilter(l *Libpcap, bpf string) (*Libpcap, error) {
	if bpf == "" {
		return l, nil
	}
	if err := l.h.SetBPFFilter(bpf); err != nil {
		l.h.Close()
		return nil, fmt.Errorf("BPF filter %q: %w", bpf, err)
	}
	return l, nil
}

// ReadPacket implements Source.
func (l *Libpcap) ReadPacket() (Packet, error) {
	data, ci, err := l.h.ZeroCopyReadPacketData()
	switch {
	case err == nil:
		return Packet{Data: data, Info: ci, LinkType: l.h.LinkType()}, nil
	case errors.Is(err, pcap.NextErrorTimeoutExpired):
		return Packet{}, ErrNoPacket
	case errors.Is(err, io.EOF):
		return Packet{}, io.EOF
	}
	return Packet{}, err
}

// Close implements Source.
func (l *Libpcap) Close() error {
	l.h.Close()
	return nil
}
