package scenario

import "net/netip"

// ListenPort is the loopback port the server really listens on, for tests
// that watch the traffic on lo rather than record it.
func (s *Server) ListenPort() uint16 {
	return netip.MustParseAddrPort(s.realAddr).Port()
}
