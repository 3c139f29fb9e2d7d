package capture

import (
	"errors"
	"fmt"
	"time"
)

// LiveOptions configure an AF_PACKET capture.
type LiveOptions struct {
	// RingSize is the kernel ring buffer in bytes (TPACKET_V3 blocks of
	// 1 MiB); default 64 MiB. A larger ring rides out longer stalls of the
	// reading goroutine before the kernel drops packets.
	RingSize int
	// FanoutID, when non-zero, joins PACKET_FANOUT group FanoutID in hash
	// mode: open the same interface N times with one id and the kernel
	// hashes each flow to one socket, so N Engines each own a share of
	// the flows (both directions of a connection hash alike).
	FanoutID uint16
	// Ports, when not empty, keeps only TCP segments from or to one of
	// these ports, filtered in the kernel (BPF) before they reach the ring.
	// IPv6 packets with extension headers before TCP do not match.
	Ports []uint16
	// PollTimeout is how long a read waits before ReadPacket returns
	// ErrNoPacket so idle timers advance; default 200ms.
	PollTimeout time.Duration
}

const liveBlockSize = 1 << 20

func (o LiveOptions) withDefaults() (LiveOptions, error) {
	if o.RingSize == 0 {
		o.RingSize = 64 << 20
	}
	if o.PollTimeout == 0 {
		o.PollTimeout = 200 * time.Millisecond
	}
	if o.RingSize < liveBlockSize {
		return o, fmt.Errorf("capture: ring size %d is below one %d-byte block", o.RingSize, liveBlockSize)
	}
	if o.PollTimeout < time.Millisecond {
		return o, errors.New("capture: poll timeout must be at least 1ms")
	}
	return o, nil
}

// KernelCounted is a live Source whose kernel counts what it delivered and
// dropped (a *Live on Linux).
type KernelCounted interface {
	KernelStats() (KernelStats, error)
}

// KernelStats are the kernel's counters of a live capture.
type KernelStats struct {
	Packets uint64 // delivered to the ring
	Drops   uint64 // dropped because the ring was full
}
