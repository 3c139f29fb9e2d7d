package capture

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Config bounds what the Engine keeps. The zero value of a field means its
// default; DefaultConfig spells the defaults out.
type Config struct {
	// MaxBodyBytes caps the decoded body kept per message and the data of
	// one SSE event; longer ones are cut and flagged Truncated. It is also
	// the decompression cap: a gzip bomb stops inflating there.
	MaxBodyBytes int
	// MaxHeaderBytes caps a message's start line plus headers; longer
	// headers are dropped, counted, and parsing resyncs at the next message.
	MaxHeaderBytes int
	// MaxFlows caps the connections tracked at once; beyond it the least
	// recently active ones are ended with ConnEndEvicted.
	MaxFlows int
	// MaxPages caps the 1900-byte reassembly pages buffered for
	// out-of-order data across all connections; MaxPagesPerConn per
	// connection. At a cap the oldest buffered data is delivered and the
	// missing bytes before it become a gap (Stats.PageCapGaps).
	MaxPages        int
	MaxPagesPerConn int
	// GapTimeout is how long (packet time) out-of-order data waits for a
	// missing segment before the hole is declared a gap.
	GapTimeout time.Duration
	// ReorderWindow is how long (packet time) a segment that acknowledges
	// bytes of the other direction not yet seen waits for them, as span
	// ports deliver the two directions from different queues; MaxHeldBytes
	// caps the data so held across all connections (see reorder.go).
	ReorderWindow time.Duration
	MaxHeldBytes  int
	// IdleTimeout ends a connection with no packet for that long (packet
	// time) with ConnEndIdle.
	IdleTimeout time.Duration
	// StreamIdleTimeout is how long a connection that idled out with an
	// event stream open keeps its parser state, so that a late event on
	// a quiet MCP GET stream still parses (see park.go).
	StreamIdleTimeout time.Duration
	// Ports, when not empty, keeps only TCP segments from or to one of
	// these ports; Nets, when not empty, only those from or to an address
	// in one of these prefixes (a host is a /32 or /128). Both must match
	// when both are set. Skipped segments count in Stats.Filtered.
	Ports []uint16
	Nets  []netip.Prefix
	// Tick, when set, is called from the Handler goroutine at least once per
	// second of packet time, with the packet clock. Decode uses it to expire
	// sessions.
	Tick func(now time.Time)
	// Fault, when set, is called from the Engine's goroutine with every
	// frame whose header decoding panicked (Stats.Faults); the frame is
	// skipped. Contain does the same for the Handler's calls.
	Fault func(Fault)
}

// DefaultConfig returns the defaults every zero field of a Config gets.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:    16 << 20,
		MaxHeaderBytes:  64 << 10,
		MaxFlows:        100_000,
		MaxPages:        64 << 10, // ≈ 120 MiB of out-of-order data
		MaxPagesPerConn: 1 << 10,  // ≈ 1.9 MiB
		GapTimeout:      2 * time.Second,
		ReorderWindow:   100 * time.Millisecond,
		MaxHeldBytes:    16 << 20,
		IdleTimeout:     5 * time.Minute,
		// MCP clients keep standalone GET streams for a whole session.
		StreamIdleTimeout: 24 * time.Hour,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	orDefault(&c.MaxBodyBytes, d.MaxBodyBytes)
	orDefault(&c.MaxHeaderBytes, d.MaxHeaderBytes)
	orDefault(&c.MaxFlows, d.MaxFlows)
	orDefault(&c.MaxPages, d.MaxPages)
	orDefault(&c.MaxPagesPerConn, d.MaxPagesPerConn)
	orDefault(&c.GapTimeout, d.GapTimeout)
	orDefault(&c.ReorderWindow, d.ReorderWindow)
	orDefault(&c.MaxHeldBytes, d.MaxHeldBytes)
	orDefault(&c.IdleTimeout, d.IdleTimeout)
	orDefault(&c.StreamIdleTimeout, d.StreamIdleTimeout)
	return c
}

func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Validate reports the first field that is out of range, after defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	positive := func(name string, v int) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("capture config: %s must be positive, got %d", name, v))
		}
	}
	positive("MaxBodyBytes", c.MaxBodyBytes)
	positive("MaxHeaderBytes", c.MaxHeaderBytes)
	positive("MaxFlows", c.MaxFlows)
	positive("MaxPages", c.MaxPages)
	positive("MaxPagesPerConn", c.MaxPagesPerConn)
	positive("MaxHeldBytes", c.MaxHeldBytes)
	if c.MaxPagesPerConn > c.MaxPages {
		errs = append(errs, fmt.Errorf("capture config: MaxPagesPerConn (%d) exceeds MaxPages (%d)", c.MaxPagesPerConn, c.MaxPages))
	}
	if c.MaxHeaderBytes < 256 {
		errs = append(errs, fmt.Errorf("capture config: MaxHeaderBytes must be at least 256, got %d", c.MaxHeaderBytes))
	}
	for _, p := range c.Ports {
		if p == 0 {
			errs = append(errs, errors.New("capture config: port 0 in Ports"))
		}
	}
	for _, n := range c.Nets {
		if !n.IsValid() {
			errs = append(errs, fmt.Errorf("capture config: invalid prefix %v in Nets", n))
		}
	}
	if c.GapTimeout < 0 || c.IdleTimeout < 0 || c.StreamIdleTimeout < 0 || c.ReorderWindow < 0 {
		errs = append(errs, fmt.Errorf("capture config: timeouts must be positive, got GapTimeout %s, IdleTimeout %s, StreamIdleTimeout %s, ReorderWindow %s", c.GapTimeout, c.IdleTimeout, c.StreamIdleTimeout, c.ReorderWindow))
	}
	if c.IdleTimeout < c.GapTimeout {
		errs = append(errs, fmt.Errorf("capture config: IdleTimeout (%s) shorter than GapTimeout (%s)", c.IdleTimeout, c.GapTimeout))
	}
	return errors.Join(errs...)
}

// keep applies Ports and Nets to a segment.
func (c *Config) keep(flow gopacket.Flow, tcp *layers.TCP) bool {
	if len(c.Ports) > 0 && !slices.Contains(c.Ports, uint16(tcp.SrcPort)) && !slices.Contains(c.Ports, uint16(tcp.DstPort)) {
		return false
	}
	if len(c.Nets) == 0 {
		return true
	}
	src, _ := netip.AddrFromSlice(flow.Src().Raw())
	dst, _ := netip.AddrFromSlice(flow.Dst().Raw())
	return inNets(c.Nets, src.Unmap(), dst.Unmap())
}

// Keeps reports whether Ports and Nets keep the TCP connection between a
// and b.
func (c *Config) Keeps(a, b netip.AddrPort) bool {
	if len(c.Ports) > 0 && !slices.Contains(c.Ports, a.Port()) && !slices.Contains(c.Ports, b.Port()) {
		return false
	}
	return len(c.Nets) == 0 || inNets(c.Nets, a.Addr(), b.Addr())
}

func inNets(nets []netip.Prefix, a, b netip.Addr) bool {
	for _, n := range nets {
		if n.Contains(a) || n.Contains(b) {
			return true
		}
	}
	return false
}
