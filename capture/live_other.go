//go:build !linux

package capture

import "fmt"

// OpenLive fails: live capture needs AF_PACKET, which is Linux's.
func OpenLive(iface string, _ LiveOptions) (Source, error) {
	return nil, fmt.Errorf("open live capture on %q: needs Linux (AF_PACKET); read pcap files with --pcap", iface)
}
