package capture

// Stats is a snapshot of the Engine's counters; every cap and every drop
// has one.
type Stats struct {
	Packets uint64 // frames read
	Bytes   uint64 // their wire length
	// Frames skipped before reassembly.
	NonTCP       uint64 // not IPv4/IPv6 TCP
	Fragments    uint64 // IP fragments (not reassembled)
	DecodeErrors uint64 // malformed or unsupported headers
	Filtered     uint64 // TCP segments outside Config.Ports/Nets
	// Faults counts frames whose header decoding panicked: contained,
	// reported to Config.Fault, and counted in DecodeErrors too.
	Faults uint64

	FlowsCreated uint64
	FlowsActive  uint64
	FlowsEnded   EndCounts
	// MidStreamStarts counts directions that started without a SYN.
	MidStreamStarts uint64
	// Parked counts connections that idled out with an event stream open
	// and were kept; Resumed those that came back.
	Parked, Resumed uint64
	// GhostPackets are empty non-SYN segments of connections not (or no
	// longer) tracked, such as the last ACK after a FIN exchange.
	GhostPackets uint64

	// Gaps counts holes in reassembled streams and GapBytes their size.
	Gaps, GapBytes uint64
	// PageCapGaps are the gaps forced by MaxPages/MaxPagesPerConn.
	PageCapGaps uint64
	// ReorderHeld counts segments held back because they acknowledged
	// bytes of the other direction not yet seen (cross-direction
	// reordering); ReorderExpired those that went on after ReorderWindow
	// without them, ReorderCapReleases the times a cap (per connection,
	// or MaxHeldBytes) let held segments go early, ReorderDropped those
	// still held when their connection ended.
	ReorderHeld, ReorderExpired, ReorderCapReleases, ReorderDropped uint64
	// ConnNameTurnovers counts the generations of MaxFlows connection
	// names retired from the table that tells repeated names apart (see
	// connID): a name repeated across more than one is not.
	ConnNameTurnovers uint64
	// AckedHoles counts holes declared gaps at once because the peer
	// acknowledged the missing bytes (the capture lost them, not the path).
	AckedHoles        uint64
	OutOfOrderPackets uint64 // segments buffered until the hole before them filled
	OverlapBytes      uint64 // retransmitted or overlapping bytes dropped
	// PagesInUse is the reassembly pages buffering out-of-order data now.
	PagesInUse int

	// HTTP parsing.
	Requests, Responses uint64
	InterimResponses    uint64 // 1xx before a final response
	UnmatchedResponses  uint64 // responses with no request seen
	UnansweredDropped   uint64 // requests forgotten past the per-connection queue cap
	Upgrades            uint64 // 101 Switching Protocols or CONNECT tunnels
	GapsInHeaders       uint64 // gaps that dropped a header block
	GapsInBody          uint64 // gaps that truncated a body
	HeaderCapDrops      uint64 // start lines over MaxHeaderBytes: the message is dropped
	HeaderCapCuts       uint64 // header blocks over MaxHeaderBytes: parsed from their first MaxHeaderBytes and framing fields
	IncompleteHeaders   uint64 // header blocks cut off by the connection's end
	ParseErrors         uint64 // malformed start lines, headers, framing
	Truncations         TruncCounts

	SSEEvents     uint64
	SSEIncomplete uint64 // streams that ended inside an event

	TLSConns       uint64 // connections whose client sent a TLS handshake
	TLSHelloErrors uint64 // ClientHellos that did not parse
}

// EndCounts counts connection ends per ConnEnd reason.
type EndCounts struct {
	FIN, RST, Idle, InputEnd, Evicted uint64
}

func (c *EndCounts) count(reason string) {
	switch reason {
	case ConnEndFIN:
		c.FIN++
	case ConnEndRST:
		c.RST++
	case ConnEndIdle:
		c.Idle++
	case ConnEndInputEnd:
		c.InputEnd++
	case ConnEndEvicted:
		c.Evicted++
	}
}

// TruncCounts counts truncated messages per TruncatedBy reason.
type TruncCounts struct {
	BodyCap, DecompressCap, DecodeError, Gap, ConnEnd, EarlyResponse uint64
}

func (c *TruncCounts) count(reason string) {
	switch reason {
	case TruncBodyCap:
		c.BodyCap++
	case TruncDecompressCap:
		c.DecompressCap++
	case TruncDecodeError:
		c.DecodeError++
	case TruncGap:
		c.Gap++
	case TruncConnEnd:
		c.ConnEnd++
	case TruncEarlyResponse:
		c.EarlyResponse++
	}
}
