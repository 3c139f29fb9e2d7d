//go:build libpcap && cgo

package capture

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket/pcap"
)

// Libpcap is a Source read through libpcap, for BPF filter expressions
// (host, net, port, and anything else tcpdump accepts) on capture files and
// interfaces. Built only with -tags libpcap (and cgo, libpcap-dev); the
// default build reads files in pure Go and captures with AF_PACKET.
type Libpcap struct {
	h    *pcap.Handle
	live bool
}

var _ Source = (*Libpcap)(nil)

// OpenLibpcapFile opens a pcap or pcapng file through libpcap, keeping only
// the packets that match the BPF expression bpf (empty: all).
func OpenLibpcapFile(path, bpf string) (*Libpcap, error) {
	h, err := pcap.OpenOffline(path)
	if err != nil {
		return nil, fmt.Errorf("open pcap %q: %w", path, err)
	}
	return withFilter(&Libpcap{h: h}, bpf)
}

// OpenLibpcapLive captures on iface through libpcap with the BPF filter
// bpf (empty: all), snaplen 256 KiB, promiscuous.
func OpenLibpcapLive(iface, bpf string) (*Libpcap, error) {
	h, err := pcap.OpenLive(iface, 256<<10, true, 200*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("open live capture on %q (libpcap): %w", iface, err)
	}
	return withFilter(&Libpcap{h: h, live: true}, bpf)
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
	case !l.live && errors.Is(err, pcap.NextErrorReadError):
		return Packet{}, fmt.Errorf("%w: %v", ErrTruncated, err)
	}
	return Packet{}, err
}

// Close implements Source.
func (l *Libpcap) Close() error {
	l.h.Close()
	return nil
}
