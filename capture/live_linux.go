//go:build linux

package capture

import (
	"errors"
	"fmt"
	"net"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	// The maintained fork's AF_PACKET reader is pure Go (google/gopacket's
	// needs cgo), so live capture works in a CGO_ENABLED=0 build.
	"github.com/gopacket/gopacket/afpacket"
)

// Live reads packets from a network interface with AF_PACKET and a
// TPACKET_V3 memory-mapped ring. It needs CAP_NET_RAW (root, or
// `setcap cap_net_raw+ep` on the binary).
type Live struct {
	iface string
	tp    *afpacket.TPacket
}

var (
	_ Source        = (*Live)(nil)
	_ KernelCounted = (*Live)(nil)
)

// OpenLive starts capturing on iface. The Source it returns is a *Live.
func OpenLive(iface string, opts LiveOptions) (Source, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(iface),
		afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		// Loopback and offloading NICs hand over up to 64 KiB per frame.
		afpacket.OptFrameSize(1<<16),
		afpacket.OptBlockSize(liveBlockSize),
		afpacket.OptNumBlocks(opts.RingSize/liveBlockSize),
		afpacket.OptPollTimeout(opts.PollTimeout),
		// The kernel strips 802.1Q tags into metadata; put them back so
		// frames look as they do in a capture file.
		afpacket.OptAddVLANHeader(true),
	)
	if err != nil {
		return nil, fmt.Errorf("open live capture on %q: %w", iface, err)
	}
	// On loopback AF_PACKET sees every packet twice, leaving and arriving;
	// keep the arriving copy, as libpcap does.
	ifi, err := net.InterfaceByName(iface)
	loopback := err == nil && ifi.Flags&net.FlagLoopback != 0
	if loopback || len(opts.Ports) > 0 {
		prog, err := filterProgram(opts.Ports, loopback)
		if err == nil {
			err = tp.SetBPF(prog)
		}
		if err != nil {
			tp.Close()
			return nil, fmt.Errorf("set capture filter on %q: %w", iface, err)
		}
	}
	if opts.FanoutID != 0 {
		if err := tp.SetFanout(afpacket.FanoutHash, opts.FanoutID); err != nil {
			tp.Close()
			return nil, fmt.Errorf("join fanout group %d on %q: %w", opts.FanoutID, iface, err)
		}
	}
	return &Live{iface: iface, tp: tp}, nil
}

// ReadPacket implements Source.
func (l *Live) ReadPacket() (Packet, error) {
	data, ci, err := l.tp.ZeroCopyReadPacketData()
	switch {
	case err == nil:
		// The fork's CaptureInfo has the fields of the one the Engine takes.
		return Packet{Data: data, Info: gopacket.CaptureInfo(ci), LinkType: layers.LinkTypeEthernet}, nil
	case errors.Is(err, afpacket.ErrTimeout):
		return Packet{}, ErrNoPacket
	}
	return Packet{}, fmt.Errorf("read from %q: %w", l.iface, err)
}

// KernelStats returns the ring's counters since the capture opened.
func (l *Live) KernelStats() (KernelStats, error) {
	_, v3, err := l.tp.SocketStats()
	if err != nil {
		return KernelStats{}, fmt.Errorf("socket stats of %q: %w", l.iface, err)
	}
	return KernelStats{Packets: uint64(v3.Packets()), Drops: uint64(v3.Drops())}, nil
}

// Close stops the capture.
func (l *Live) Close() error {
	l.tp.Close()
	return nil
}
