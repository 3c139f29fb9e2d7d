package capture

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// packetDecoder peels a frame down to its TCP segment. It reuses its layer
// structs from packet to packet, so decoding allocates nothing.
type packetDecoder struct {
	ip4 layers.IPv4
	ip6 layers.IPv6
	tcp layers.TCP
}

var (
	errNotTCP       = errors.New("not TCP")
	errFragment     = errors.New("IP fragment")
	errUnknownLink  = errors.New("unsupported link type")
	errShortFrame   = errors.New("frame shorter than its headers")
	errNotIP        = errors.New("not IPv4 or IPv6")
	errIPv6ExtChain = errors.New("IPv6 extension header")
)

// Ethertypes and address families the link layers below can carry.
const (
	etherIPv4  = 0x0800
	etherIPv6  = 0x86dd
	etherVLAN  = 0x8100
	etherQinQ  = 0x88a8
	etherQinQ2 = 0x9100
)

// decode returns the network flow and TCP header of a frame; the TCP
// payload aliases data.
func (d *packetDecoder) decode(lt layers.LinkType, data []byte) (gopacket.Flow, *layers.TCP, error) {
	ip, err := networkPayload(lt, data)
	if err != nil {
		return gopacket.Flow{}, nil, err
	}
	if len(ip) == 0 {
		return gopacket.Flow{}, nil, errShortFrame
	}
	var flow gopacket.Flow
	var payload []byte
	switch ip[0] >> 4 {
	case 4:
		if err := d.ip4.DecodeFromBytes(ip, gopacket.NilDecodeFeedback); err != nil {
			return flow, nil, fmt.Errorf("IPv4: %w", err)
		}
		if d.ip4.Protocol != layers.IPProtocolTCP {
			return flow, nil, errNotTCP
		}
		if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
			return flow, nil, errFragment
		}
		flow, payload = d.ip4.NetworkFlow(), d.ip4.Payload
	case 6:
		if err := d.ip6.DecodeFromBytes(ip, gopacket.NilDecodeFeedback); err != nil {
			return flow, nil, fmt.Errorf("IPv6: %w", err)
		}
		// DecodeFromBytes handles a hop-by-hop header itself; other
		// extension headers are rare on MCP traffic and not followed.
		next := d.ip6.NextHeader
		if next == layers.IPProtocolIPv6HopByHop && d.ip6.HopByHop != nil {
			next = d.ip6.HopByHop.NextHeader
		}
		switch next {
		case layers.IPProtocolTCP:
		case layers.IPProtocolIPv6Fragment:
			return flow, nil, errFragment
		case layers.IPProtocolIPv6Routing, layers.IPProtocolIPv6Destination:
			return flow, nil, errIPv6ExtChain
		default:
			return flow, nil, errNotTCP
		}
		flow, payload = d.ip6.NetworkFlow(), d.ip6.Payload
	default:
		return flow, nil, errNotIP
	}
	if err := d.tcp.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
		return flow, nil, fmt.Errorf("TCP: %w", err)
	}
	return flow, &d.tcp, nil
}

// networkPayload strips the link-layer header(s) and returns the IP packet.
func networkPayload(lt layers.LinkType, data []byte) ([]byte, error) {
	switch lt {
	case layers.LinkTypeEthernet:
		if len(data) < 14 {
			return nil, errShortFrame
		}
		return etherPayload(binary.BigEndian.Uint16(data[12:14]), data[14:])
	case layers.LinkTypeLinuxSLL:
		// 16-byte cooked header, protocol (ethertype) last.
		if len(data) < 16 {
			return nil, errShortFrame
		}
		return etherPayload(binary.BigEndian.Uint16(data[14:16]), data[16:])
	case linkTypeLinuxSLL2:
		// 20-byte cooked v2 header, protocol first.
		if len(data) < 20 {
			return nil, errShortFrame
		}
		return etherPayload(binary.BigEndian.Uint16(data[0:2]), data[20:])
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		// A 4-byte address family, in the capturing host's byte order for
		// NULL and network order for LOOP; the IP version nibble is simpler
		// and as reliable.
		if len(data) < 4 {
			return nil, errShortFrame
		}
		return data[4:], nil
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return data, nil
	}
	return nil, fmt.Errorf("%w %d", errUnknownLink, lt)
}

// linkTypeLinuxSLL2 is LINKTYPE_LINUX_SLL2 (276) as gopacket v1.1.19 sees
// it: its LinkType is a uint8, so pcapgo hands over 276 mod 256. No other
// link type has that number.
const linkTypeLinuxSLL2 layers.LinkType = 276 & 0xff

// etherPayload follows 802.1Q and 802.1ad (QinQ) tags to the IP packet.
func etherPayload(etherType uint16, data []byte) ([]byte, error) {
	for etherType == etherVLAN || etherType == etherQinQ || etherType == etherQinQ2 {
		if len(data) < 4 {
			return nil, errShortFrame
		}
		etherType = binary.BigEndian.Uint16(data[2:4])
		data = data[4:]
	}
	switch etherType {
	case etherIPv4, etherIPv6:
		return data, nil
	}
	return nil, errNotIP
}
