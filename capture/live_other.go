//go:build !linux || !cgo

package capture

import (
	"errors"
	"fmt"
)

// Live is a live capture; it needs Linux and cgo (AF_PACKET).
type Live struct{}

// OpenLive fails: live capture needs AF_PACKET, on Linux, built with cgo.
func OpenLive(iface string, _ LiveOptions) (Source, error) {
	return nil, fmt.Errorf("open live capture on %q: needs Linux and a cgo build (AF_PACKET)", iface)
}

// KernelStats fails like OpenLive.
func (*Live) KernelStats() (KernelStats, error) {
	return KernelStats{}, errors.New("live capture needs Linux and a cgo build")
}
