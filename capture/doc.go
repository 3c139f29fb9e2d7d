// Package capture turns packets (pcap/pcapng files, AF_PACKET on Linux) into
// HTTP/1.1 exchanges and Server-Sent Events, and every TCP connection into a
// summary at its end. It knows nothing of MCP: package decode reads what
// capture hands it through the Handler interface.
//
// Interface:
//
//	Source   — yields packets (PcapFile, Live); Source.Packets is read by one
//	           Engine.
//	Engine   — flow table + TCP reassembly (gopacket/reassembly) + the HTTP
//	           and SSE parsers; calls a Handler for every Request, Response,
//	           SSEEvent and ConnEnd, in wire order per connection and in
//	           packet-time order overall (one goroutine calls the Handler).
//	Handler  — implemented by decode.
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
