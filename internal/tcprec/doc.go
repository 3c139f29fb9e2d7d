// Package tcprec records real TCP conversations and writes them as pcap or
// pcapng files, for tests and testdata generators.
//
// A Recorder wraps a client's dialer: every byte the client writes is
// recorded as client→server payload and every byte it reads as server→client
// payload, with the time it happened. WritePcap then synthesises the packets a span
// port would have seen — three-way handshake, data cut into MSS-sized
// segments with consistent sequence/ack numbers, FIN exchange — as
// Ethernet/IPv4/TCP frames. Addresses may be remapped so a loopback test
// server appears as, say, 10.0.0.5:8080 in the capture.
//
// It needs no privileges and is deterministic apart from timestamps and
// whatever the application itself randomises (session ids).
package tcprec
