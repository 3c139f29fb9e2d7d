// Command gencorpus regenerates the capture robustness corpus under
// testdata/capture/ from the real go-sdk traffic of testdata/demo.pcap
// (itself made by internal/gentestdata), altered one way per file:
//
//	go run ./capture/internal/gencorpus
//	go test ./capture -run TestCorpus -update   # then refresh the goldens
//
// The demo has three connections: 0 is a stateful session with SSE
// responses (files), 1 its DELETE, 2 a session with JSON responses
// (shadow-db).
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/capture/internal/pcapsynth"
)

func main() {
	in := flag.String("in", "testdata/demo.pcap", "clean capture of real SDK traffic")
	dir := flag.String("dir", "testdata/capture", "directory to write the corpus to")
	flag.Parse()
	if err := generate(*in, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(1)
	}
}

// Connections of the demo capture.
const (
	sseConn    = 0
	jsonConn   = 2
	smallMSS   = 300 // so bodies span several segments
	headerMSS  = 60  // so header blocks span several segments
	defaultMSS = 1460
)

// variant is one corpus file: conversations (possibly rewritten), how to
// cut them into packets, what to do to the packets, and the framing.
type variant struct {
	name    string
	conns   func([]pcapsynth.Conn) []pcapsynth.Conn
	mss     int
	packets func([]pcapsynth.Conn, []pcapsynth.Packet) []pcapsynth.Packet
	link    pcapsynth.Link
	// cut truncates the written file to this fraction of its size.
	cut float64
}

var variants = []variant{
	{name: "retransmission", mss: smallMSS, packets: retransmitEvery(4)},
	{name: "out-of-order", mss: smallMSS, packets: swapPairs},
	{name: "overlap", mss: smallMSS, packets: overlapSegments},
	{name: "gap-in-body", mss: smallMSS, packets: dropPart(`"tools":[`, false, 1)},
	{name: "gap-in-headers", mss: headerMSS, packets: dropPart(`"name":"search_docs"`, true, 1)},
	{name: "gap-whole-request", packets: dropPart(`"name":"read_file"`, true, 0)},
	{name: "mid-stream", mss: smallMSS, packets: startInside(sseConn, `"tools":[`, 1)},
	{name: "one-sided-client", packets: onlyDirection(true)},
	{name: "one-sided-server", packets: onlyDirection(false)},
	{name: "truncated", cut: 0.6},
	{name: "vlan", link: pcapsynth.VLAN},
	{name: "qinq", link: pcapsynth.QinQ},
	{name: "ipv6", conns: toIPv6},
	{name: "sll", link: pcapsynth.SLL},
	{name: "sll2", link: pcapsynth.SLL2, conns: toIPv6},
	{name: "raw-ip", link: pcapsynth.RawIP},
	{name: "null-loopback", link: pcapsynth.Null},
	{name: "chunked-gzip", conns: rewriteJSONResponses(chunkedGzip)},
	{name: "pipelined", conns: pipeline(jsonConn)},
	{name: "gzip-bomb", conns: rewriteJSONResponses(bombFirst)},
	{name: "sse-30min", conns: longStream(30, time.Minute)},
	{name: "sse-quiet", conns: longStream(4, 20*time.Minute)},
	{name: "sse-gap", mss: smallMSS, conns: longStream(30, time.Minute), packets: dropPart("id: 15\n", false, 0)},
}

func generate(in, dir string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	conns, err := pcapsynth.FromPcap(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if len(conns) != 3 {
		return fmt.Errorf("%s has %d connections, want the demo's 3", in, len(conns))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, v := range variants {
		cs := conns
		if v.conns != nil {
			cs = v.conns(clone(conns))
		}
		mss := v.mss
		if mss == 0 {
			mss = defaultMSS
		}
		pkts := pcapsynth.Segment(cs, mss)
		if v.packets != nil {
			pkts = v.packets(cs, pkts)
		}
		var buf bytes.Buffer
		if err := pcapsynth.WritePcap(&buf, pkts, v.link); err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		b := buf.Bytes()
		if v.cut > 0 {
			b = b[:int(float64(len(b))*v.cut)]
		}
		path := filepath.Join(dir, v.name+".pcap")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		fmt.Printf("wrote %s (%d packets, %d bytes)\n", path, len(pkts), len(b))
	}
	return nil
}

func clone(conns []pcapsynth.Conn) []pcapsynth.Conn {
	out := make([]pcapsynth.Conn, len(conns))
	for i, c := range conns {
		out[i] = c
		out[i].Writes = append([]pcapsynth.Write(nil), c.Writes...)
	}
	return out
}

// retransmitEvery sends every n-th data segment twice, the copy 1 ms later.
func retransmitEvery(n int) func([]pcapsynth.Conn, []pcapsynth.Packet) []pcapsynth.Packet {
	return func(_ []pcapsynth.Conn, pkts []pcapsynth.Packet) []pcapsynth.Packet {
		var out []pcapsynth.Packet
		k := 0
		for _, p := range pkts {
			out = append(out, p)
			if len(p.Data) > 0 {
				if k++; k%n == 0 {
					dup := p
					dup.At = p.At.Add(time.Millisecond)
					out = append(out, dup)
				}
			}
		}
		return out
	}
}

// swapPairs exchanges consecutive data segments of one write, so the
// second piece of every write arrives before the first.
func swapPairs(_ []pcapsynth.Conn, pkts []pcapsynth.Packet) []pcapsynth.Packet {
	out := append([]pcapsynth.Packet(nil), pkts...)
	for i := 0; i+1 < len(out); i++ {
		a, b := out[i], out[i+1]
		if len(a.Data) > 0 && a.Conn == b.Conn && a.C2S == b.C2S && a.Write == b.Write && b.Part == a.Part+1 {
			out[i], out[i+1] = b, a
			i++
		}
	}
	return out
}

// overlapSegments re-sends, with each data segment after the first of a
// write, the last 40 bytes of the segment before it.
func overlapSegments(_ []pcapsynth.Conn, pkts []pcapsynth.Packet) []pcapsynth.Packet {
	out := append([]pcapsynth.Packet(nil), pkts...)
	for i := 1; i < len(out); i++ {
		prev, p := out[i-1], out[i]
		if len(p.Data) > 0 && p.Part > 0 && prev.Conn == p.Conn && prev.Write == p.Write && len(prev.Data) >= 40 {
			over := prev.Data[len(prev.Data)-40:]
			p.Data = append(append([]byte(nil), over...), p.Data...)
			p.Seq -= 40
			out[i] = p
		}
	}
	return out
}

// dropPart drops the part-th segment of the first write (of the given
// direction) containing marker.
func dropPart(marker string, c2s bool, part int) func([]pcapsynth.Conn, []pcapsynth.Packet) []pcapsynth.Packet {
	return func(conns []pcapsynth.Conn, pkts []pcapsynth.Packet) []pcapsynth.Packet {
		ci, wi := findWrite(conns, marker, c2s)
		var out []pcapsynth.Packet
		for _, p := range pkts {
			if p.Conn == ci && p.Write == wi && p.Part == part {
				continue
			}
			out = append(out, p)
		}
		return out
	}
}

// startInside drops every packet of connection ci before the part-th
// segment of its server write containing marker: a capture started there.
func startInside(ci int, marker string, part int) func([]pcapsynth.Conn, []pcapsynth.Packet) []pcapsynth.Packet {
	return func(conns []pcapsynth.Conn, pkts []pcapsynth.Packet) []pcapsynth.Packet {
		_, wi := findWrite(conns[ci:ci+1], marker, false)
		var out []pcapsynth.Packet
		started := false
		for _, p := range pkts {
			if p.Conn == ci && !started {
				if started = p.Write == wi && p.Part == part; !started {
					continue
				}
			}
			out = append(out, p)
		}
		return out
	}
}

func findWrite(conns []pcapsynth.Conn, marker string, c2s bool) (int, int) {
	for ci, c := range conns {
		for wi, w := range c.Writes {
			if w.C2S == c2s && bytes.Contains(w.Data, []byte(marker)) {
				return ci, wi
			}
		}
	}
	panic(fmt.Sprintf("no write with %q", marker)) // the demo is fixed input
}

// onlyDirection keeps the packets one side sent, as a span port that sees
// one direction of an asymmetric route.
func onlyDirection(c2s bool) func([]pcapsynth.Conn, []pcapsynth.Packet) []pcapsynth.Packet {
	return func(_ []pcapsynth.Conn, pkts []pcapsynth.Packet) []pcapsynth.Packet {
		var out []pcapsynth.Packet
		for _, p := range pkts {
			if p.C2S == c2s {
				out = append(out, p)
			}
		}
		return out
	}
}

// toIPv6 moves every address into fd00::/64, keeping the IPv4 bits.
func toIPv6(conns []pcapsynth.Conn) []pcapsynth.Conn {
	v6 := func(ap netip.AddrPort) netip.AddrPort {
		b := netip.MustParseAddr("fd00::").As16()
		a4 := ap.Addr().As4()
		copy(b[12:], a4[:])
		return netip.AddrPortFrom(netip.AddrFrom16(b), ap.Port())
	}
	for i := range conns {
		conns[i].Client, conns[i].Server = v6(conns[i].Client), v6(conns[i].Server)
	}
	return conns
}

// pipeline makes the client of connection ci send all its requests at
// once, at the time of its first one; the server answers as recorded.
func pipeline(ci int) func([]pcapsynth.Conn) []pcapsynth.Conn {
	return func(conns []pcapsynth.Conn) []pcapsynth.Conn {
		c := &conns[ci]
		var reqs, resps []pcapsynth.Write
		for _, w := range c.Writes {
			if w.C2S {
				reqs = append(reqs, w)
			} else {
				resps = append(resps, w)
			}
		}
		var all []byte
		for _, w := range reqs {
			all = append(all, w.Data...)
		}
		c.Writes = append([]pcapsynth.Write{{At: reqs[0].At, C2S: true, Data: all}}, resps...)
		return conns
	}
}

// rewriteJSONResponses applies f to the head and body of every
// Content-Length response of the JSON connection.
func rewriteJSONResponses(f func(n int, head string, body []byte) []byte) func([]pcapsynth.Conn) []pcapsynth.Conn {
	return func(conns []pcapsynth.Conn) []pcapsynth.Conn {
		c := &conns[jsonConn]
		n := 0
		for i, w := range c.Writes {
			head, body, ok := bytes.Cut(w.Data, []byte("\r\n\r\n"))
			if w.C2S || !ok || len(body) == 0 || !bytes.Contains(head, []byte("Content-Length:")) {
				continue
			}
			c.Writes[i].Data = f(n, string(head), body)
			n++
		}
		return conns
	}
}

// chunkedGzip re-encodes a body as gzip sent in 100-byte chunks.
func chunkedGzip(_ int, head string, body []byte) []byte {
	return encodeResponse(head, gzipBytes(body), 100)
}

// bombFirst replaces the first response body with 8 MiB of zeros, gzipped
// to about 8 KB.
func bombFirst(n int, head string, body []byte) []byte {
	if n > 0 {
		return []byte(head + "\r\n\r\n" + string(body))
	}
	return encodeResponse(head, gzipBytes(make([]byte, 8<<20)), 4096)
}

// encodeResponse replaces Content-Length with gzip content-coding and
// chunked transfer-coding.
func encodeResponse(head string, gz []byte, chunk int) []byte {
	var out bytes.Buffer
	for _, line := range strings.Split(head, "\r\n") {
		if !strings.HasPrefix(line, "Content-Length:") {
			out.WriteString(line + "\r\n")
		}
	}
	out.WriteString("Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")
	writeChunks(&out, gz, chunk)
	out.WriteString("0\r\n\r\n")
	return out.Bytes()
}

func writeChunks(out *bytes.Buffer, b []byte, size int) {
	for len(b) > 0 {
		k := min(size, len(b))
		fmt.Fprintf(out, "%x\r\n%s\r\n", k, b[:k])
		b = b[k:]
	}
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// longStream turns the SSE response to the first tools/call on the SSE
// connection into a stream that stays open for n events, one every
// interval, each the real event with an id; the rest of the conversation
// is shifted after it.
func longStream(n int, interval time.Duration) func([]pcapsynth.Conn) []pcapsynth.Conn {
	return func(conns []pcapsynth.Conn) []pcapsynth.Conn {
		c := &conns[sseConn]
		_, wi := findWrite(conns[sseConn:sseConn+1], `doc-0: quarterly revenue`, false)
		// The handler writes the head, then each event as one chunk, then
		// the last chunk: the event is the first chunk of the write.
		w := c.Writes[wi]
		head, rest, _ := bytes.Cut(w.Data, []byte("\r\n\r\n"))
		sizeLine, rest, _ := bytes.Cut(rest, []byte("\r\n"))
		size, err := strconv.ParseInt(string(sizeLine), 16, 64)
		if err != nil {
			panic(fmt.Sprintf("SSE response is not chunked as expected: %q", sizeLine)) // fixed input
		}
		event := rest[:size]
		writes := append([]pcapsynth.Write(nil), c.Writes[:wi]...)
		writes = append(writes, pcapsynth.Write{At: w.At, Data: append(head, "\r\n\r\n"...)})
		for i := range n {
			var b bytes.Buffer
			writeChunks(&b, append([]byte(fmt.Sprintf("id: %d\n", i)), event...), len(event)+16)
			writes = append(writes, pcapsynth.Write{At: w.At.Add(time.Duration(i+1) * interval), Data: b.Bytes()})
		}
		shift := time.Duration(n+1) * interval
		writes = append(writes, pcapsynth.Write{At: w.At.Add(shift), Data: []byte("0\r\n\r\n")})
		for _, later := range c.Writes[wi+1:] {
			later.At = later.At.Add(shift)
			writes = append(writes, later)
		}
		c.Writes = writes
		if !c.Closed.IsZero() {
			c.Closed = c.Closed.Add(shift)
		}
		// Other connections keep their times: they overlap the stream, as
		// other clients would.
		return conns
	}
}
