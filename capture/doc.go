// Package capture turns packets (pcap/pcapng files, AF_PACKET on Linux) into
// HTTP/1.1 exchanges and Server-Sent Events, and every TCP connection into a
// summary at its end. It knows nothing of MCP: package decode reads what
// capture hands it through the Handler interface.
//
// Interface:
//
//	Source   — yields packets: PcapFile (pcap/pcapng, pure Go) and, on
//	           Linux with cgo, OpenLive (AF_PACKET, TPACKET_V3 ring,
//	           PACKET_FANOUT hash). With -tags libpcap (cgo, libpcap-dev),
//	           OpenLibpcapFile / OpenLibpcapLive read files and interfaces
//	           through libpcap with a BPF filter expression; the default
//	           build needs no C library. One Engine reads a Source.
//	Engine   — flow table + TCP reassembly (gopacket/reassembly) + the HTTP
//	           and SSE parsers; calls a Handler for every Request, Response,
//	           SSEEvent and ConnEnd, in wire order per connection and in
//	           packet-time order overall (one goroutine calls the Handler).
//	Shards   — several Engines on one Source, one goroutine each.
//	Handler  — implemented by decode.
//
// A caller runs NewEngine(cfg, h), then Run(ctx, src) until the input ends,
// then Finish to end the connections still open (ConnEnd reason
// input-end). Run returns an error wrapping ErrTruncated for a capture
// file cut inside a packet, after processing every packet before the cut.
// Damage inside a file does not end it: PcapFile reads pcap and pcapng
// itself and, at a record header that cannot be right (classic pcap:
// lengths over the snap length or the original length, a fraction over a
// second), scans forward for the next plausible one — timestamps near the
// last good record's, and the header after it plausible too — and, at a
// pcapng block whose length does not fit or whose trailer disagrees,
// moves in steps of four bytes to the next block of a known type whose
// header and trailer agree. Frames of a link type the Engine does not
// decode are skipped there too. PcapFile.ReadStats counts both: damaged
// stretches, bytes skipped, where the first one was, frames per link type.
// To use several cores, Shards runs one Engine per goroutine on one Source,
// dealing packets by IP address pair (so all connections between a client
// and a server share an Engine and its Handler). On a live link the kernel
// can deal instead: open the interface once per worker with one
// LiveOptions.FanoutID (PACKET_FANOUT hash, per connection) and run an
// Engine on each.
//
// Filters: Config.Ports and Config.Nets skip segments before reassembly
// (any Source); a BPF expression needs the libpcap build; LiveOptions.Ports filters in the kernel with classic BPF
// (a few frames queued before the filter is attached may still arrive, so
// set both for a strict port filter).
//
// Time is packet time: idle timeouts, gap timeouts and Config.Tick follow
// the packets' timestamps, so replaying a file is deterministic — the
// Engine also delivers what its periodic flushes release in Conn.ID order,
// not in the random order of reassembly's connection map.
//
// Connections: the client is the SYN sender; without a SYN (a capture that
// starts mid-stream) the first request or status line decides, and both
// directions resync at the next start line. A first packet with neither
// SYN nor payload (the last ACK of a closed connection) creates no
// connection until one follows. Link layers: Ethernet with 802.1Q/QinQ,
// Linux SLL and SLL2, raw IP, BSD loopback; IPv4 and IPv6 (no IP
// fragment reassembly: fragments are counted and skipped).
//
// Loss is part of the interface (as Packetbeat's GapInStream): a capture
// gap inside a body marks that Request/Response Truncated (TruncatedBy
// "gap"); a gap inside headers drops the message and resyncs at the next
// request/status line — also when that line follows a body on the same
// line, as bodies need not end in a newline — and a response whose status
// line was seen still consumes its request, so later ones stay matched; in
// an event stream a gap truncates the event it falls in, and when it also
// loses the chunked framing the parser finds the next chunk-size line and
// goes on with the next event. All of these are counted in Stats. A hole
// that the other side acknowledges (the capture lost what the peer
// received) is declared a gap at once rather than after Config.GapTimeout,
// so a response is not seen before its own request.
//
// Quiet event streams: a connection that idles out (IdleTimeout) while an
// event stream is open is parked with its parser state for
// StreamIdleTimeout; when its packets return it resumes as the same Conn
// and the stream's next event parses (an MCP GET stream may be silent for
// hours before the server sends a request on it).
//
// Caps: bodies larger than Config.MaxBodyBytes are cut and flagged
// (TruncatedBy "body-cap") with BodyLen still counting every byte;
// gzip/deflate bodies inflate up to the same cap ("decompress-cap", a gzip
// bomb costs no more); a header block over MaxHeaderBytes (1 MiB) is parsed
// from its first MaxHeaderBytes and the framing fields after it and flagged
// HeaderCut (only a start line over the cap drops its message). The
// flow table (MaxFlows: least recently active connections are evicted),
// reassembly pages (MaxPages, MaxPagesPerConn: the oldest data is flushed
// as a gap) and per-connection request queues have caps, and each drop is
// counted per reason. Memory never grows without bound.
//
// Faults: no traffic content may end the process. Contain wraps a Handler
// and recovers a panic in any of its calls: the call's connection ends for
// the Handler there (no further call for it, ConnEnd included; a Handler
// that is a Forgetter is told to drop its state for it), the Fault is
// reported — stage, call, connection, panic value, the function and line
// it came from, the stack — and every other connection goes on untouched.
// A panic in Tick or Finish is reported the same way and the next Tick
// runs. The Engine itself contains a panic in decoding a frame's link, IP
// and TCP headers: the frame is skipped (Stats.Faults, Stats.DecodeErrors)
// and reported to Config.Fault. To reproduce a fault, FaultDumper is a
// Source that keeps each connection's first and latest packets (bounded
// per connection and in all, every drop counted) and writes a faulting
// connection's to a pcap that replays it. A panic in the Engine's own
// reassembly or HTTP/SSE parsing (FaultParser) is contained to the
// connection whose bytes were being handled: gopacket's reassembly unlocks
// that connection as the panic unwinds and holds no other state across
// packets, so the Engine stops parsing it (its bytes still count, it still
// ends with ConnEnd), counts the fault in Stats.Faults and reports it to
// Config.Fault; those parsers are fuzzed besides.
//
// Reordering: a span port delivers the two directions of a connection from
// different queues. A segment that acknowledges bytes of the other
// direction the Engine has not seen, or that starts a direction without a
// SYN, is held back (with the segments of its direction after it) until
// those bytes arrive, or for Config.ReorderWindow of packet time, within
// MaxHeldBytes in all and 64 segments per connection (reorder.go, every
// release counted in Stats.Reorder*). Connection ids are names, not
// arrival numbers: a hash of the address pair and the client's initial
// sequence number, so a reordered or resharded capture gives the same ids.
//
// TLS and other protocols: a connection whose client starts with a TLS
// handshake is not parsed further, but its ClientHello gives SNI and ALPN
// (ConnEnd.AppProtocol "tls"); one that starts with neither HTTP nor TLS
// is "other". Both still get bytes per direction in ConnEnd. A 101
// Switching Protocols (WebSocket) or CONNECT tunnel stops parsing and sets
// ConnEnd.Upgrade.
package capture
