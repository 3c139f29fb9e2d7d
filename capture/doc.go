// Package capture turns packets (pcap/pcapng files, AF_PACKET on Linux) into
// HTTP/1.1 exchanges and Server-Sent Events, and every TCP connection into a
// summary at its end. It knows nothing of MCP: package decode reads what
// capture hands it through the Handler interface.
//
// Interface:
//
//	Source   — yields packets: PcapFile (pcap/pcapng, pure Go) and, on
//	           Linux, OpenLive (AF_PACKET). One Engine reads a Source.
//	Engine   — flow table + TCP reassembly (gopacket/reassembly) + the HTTP
//	           and SSE parsers; calls a Handler for every Request, Response,
//	           SSEEvent and ConnEnd, in wire order per connection and in
//	           packet-time order overall (one goroutine calls the Handler).
//	Handler  — implemented by decode.
//
// A caller runs NewEngine(cfg, h), then Run(ctx, src) until the input ends,
// then Finish to end the connections still open (ConnEnd reason
// input-end). Run returns an error wrapping ErrTruncated for a capture
// file cut inside a packet, after processing every packet before the cut.
//
// Time is packet time: idle timeouts, gap timeouts and Config.Tick follow
// the packets' timestamps, so replaying a file is deterministic.
//
// Loss is part of the interface (as Packetbeat's GapInStream): a capture gap
// inside a body marks that Request/Response Truncated; a gap inside headers
// drops the message and resyncs at the next request/status line; both are
// counted in Stats. Bodies larger than Config.MaxBodyBytes are cut to the cap
// and flagged Truncated, with BodyLen still counting every byte seen.
//
// Overload: the flow table, reassembly pages and per-connection buffers have
// caps (Config); when one is hit the oldest data is flushed as a gap and the
// drop is counted per reason. Memory never grows without bound.
package capture
