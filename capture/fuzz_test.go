package capture

import (
	"bytes"
	"crypto/tls"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture/internal/pcapsynth"
)

// demoStreams returns the byte streams of the demo's connections: for each
// connection, what the client sent and what the server sent.
func demoStreams(t testing.TB) (c2s, s2c [][]byte) {
	for _, c := range demoConns(t) {
		a, b := byteStreams(c)
		c2s, s2c = append(c2s, a), append(s2c, b)
	}
	return c2s, s2c
}

// byteStreams joins the writes of each side of a connection.
func byteStreams(c pcapsynth.Conn) (c2s, s2c []byte) {
	for _, w := range c.Writes {
		if w.C2S {
			c2s = append(c2s, w.Data...)
		} else {
			s2c = append(s2c, w.Data...)
		}
	}
	return c2s, s2c
}

// testStream is a connection fed by hand, its client sending in
// direction 0. Its Engine has no assembler: allocating one's page cache
// (2 MB) would dominate every fuzz run.
func testStream(h Handler, cfg Config) *stream {
	s := &stream{e: &Engine{cfg: cfg.withDefaults(), h: h}}
	for i := range s.halves {
		s.halves[i] = halfParser{c: s, dir: i, state: stateStart}
	}
	s.setRole(0, roleRequest)
	return s
}

var fuzzConfig = Config{MaxBodyBytes: 4096, MaxHeaderBytes: 1024}

// parseHTTP feeds a request stream and a response stream to a fresh
// connection, piece bytes at a time (all at once when piece is 0), and
// returns the recorder's log.
func parseHTTP(t *testing.T, reqs, resps []byte, piece int) string {
	rec := newRecorder(t)
	s := testStream(rec, fuzzConfig)
	at := time.Unix(0, 0)
	feed := func(dir int, b []byte) {
		if piece == 0 {
			s.halves[dir].feed(b, at)
			return
		}
		for len(b) > 0 {
			k := min(piece, len(b))
			s.halves[dir].feed(b[:k], at)
			b = b[k:]
		}
	}
	feed(0, reqs)
	feed(1, resps)
	s.finish(ConnEndInputEnd)
	for _, r := range rec.reqs {
		checkBody(t, r.Body, r.BodyLen, r.Truncated)
	}
	for _, r := range rec.resps {
		checkBody(t, r.Body, r.BodyLen, r.Truncated)
	}
	for _, ev := range rec.events {
		if len(ev.Data) > fuzzConfig.MaxBodyBytes {
			t.Fatalf("event data %d bytes over the cap", len(ev.Data))
		}
	}
	return rec.log.String()
}

func checkBody(t *testing.T, body []byte, n int64, truncated bool) {
	if len(body) > fuzzConfig.MaxBodyBytes || (int64(len(body)) > n && !truncated) {
		t.Fatalf("body %d bytes, BodyLen %d, truncated %v", len(body), n, truncated)
	}
}

// FuzzHTTPParser checks that any request and response bytes parse without
// panics, within the caps, and the same whatever the segmentation.
func FuzzHTTPParser(f *testing.F) {
	c2s, s2c := demoStreams(f)
	for i := range c2s {
		f.Add(c2s[i], s2c[i], uint8(7))
	}
	for _, name := range []string{"chunked-gzip", "pipelined", "sse-30min"} {
		for _, c := range corpusConns(f, name) {
			a, b := byteStreams(c)
			f.Add(a, b, uint8(13))
		}
	}
	f.Fuzz(func(t *testing.T, reqs, resps []byte, piece uint8) {
		whole := parseHTTP(t, reqs, resps, 0)
		if cut := parseHTTP(t, reqs, resps, int(piece)%64+1); cut != whole {
			t.Fatalf("segmentation changed the result:\nwhole:\n%s\npieces of %d:\n%s", whole, int(piece)%64+1, cut)
		}
	})
}

// FuzzChunked checks the chunked decoder: no panics, and the same body and
// length whatever the segmentation.
func FuzzChunked(f *testing.F) {
	for _, c := range corpusConns(f, "chunked-gzip") {
		for _, w := range c.Writes {
			if _, body, ok := bytes.Cut(w.Data, []byte("\r\n\r\n")); ok && !w.C2S {
				f.Add(body, uint8(5))
			}
		}
	}
	f.Add([]byte("4;ext=1\r\nWiki\r\n0\r\nTrailer: x\r\n\r\nNEXT"), uint8(1))
	decode := func(t *testing.T, p []byte, piece int) ([]byte, int, bool, bool) {
		var d chunkedDecoder
		var out []byte
		n := 0
		for n < len(p) {
			k := min(piece, len(p)-n)
			m, done, err := d.decode(p[n:n+k], func(b []byte) { out = append(out, b...) })
			n += m
			if err != nil || done {
				return out, n, done, err != nil
			}
			if m < k {
				t.Fatalf("decoder stopped at %d of %d bytes without error or end", m, k)
			}
		}
		return out, n, false, false
	}
	f.Fuzz(func(t *testing.T, p []byte, piece uint8) {
		body, n, done, bad := decode(t, p, len(p)+1)
		body2, n2, done2, bad2 := decode(t, p, int(piece)%16+1)
		if !bytes.Equal(body, body2) || n != n2 || done != done2 || bad != bad2 {
			t.Fatalf("segmentation changed the result: %q/%d/%v/%v vs %q/%d/%v/%v", body, n, done, bad, body2, n2, done2, bad2)
		}
	})
}

// FuzzSSE checks the event-stream parser: no panics, caps held, the same
// events whatever the segmentation.
func FuzzSSE(f *testing.F) {
	for _, c := range corpusConns(f, "sse-30min") {
		for _, w := range c.Writes {
			if !w.C2S && bytes.Contains(w.Data, []byte("data:")) {
				var d chunkedDecoder
				var body []byte
				_, rest, _ := bytes.Cut(w.Data, []byte("\r\n\r\n"))
				if len(rest) == 0 {
					rest = w.Data
				}
				d.decode(rest, func(b []byte) { body = append(body, b...) })
				f.Add(body, uint8(3))
			}
		}
	}
	f.Add([]byte(": comment\r\nevent: endpoint\rdata: /messages?sessionid=1\r\n\r\nid: 7\nretry: 1500\ndata\ndata: x\n\n"), uint8(1))
	parse := func(t *testing.T, p []byte, piece int) []SSEEvent {
		s := newSSEParser(256)
		var evs []SSEEvent
		for len(p) > 0 {
			k := min(piece, len(p))
			s.feed(p[:k], time.Time{}, func(ev *SSEEvent) {
				if len(ev.Data) > 256 {
					t.Fatalf("event data %d bytes over the cap", len(ev.Data))
				}
				evs = append(evs, *ev)
			})
			p = p[k:]
		}
		return evs
	}
	f.Fuzz(func(t *testing.T, p []byte, piece uint8) {
		whole, cut := parse(t, p, len(p)+1), parse(t, p, int(piece)%16+1)
		if !slices.Equal(whole, cut) {
			t.Fatalf("segmentation changed the events:\n%+v\n%+v", whole, cut)
		}
	})
}

// realClientHello returns the first flight of a crypto/tls client.
func realClientHello(t testing.TB, serverName string, alpn []string) []byte {
	client, server := net.Pipe()
	go func() {
		tls.Client(client, &tls.Config{ServerName: serverName, NextProtos: alpn, InsecureSkipVerify: true}).Handshake()
		client.Close()
	}()
	buf := make([]byte, 1<<16)
	var hello []byte
	for {
		n, err := server.Read(buf)
		hello = append(hello, buf[:n]...)
		if msg, ok := handshakeMessage(hello); ok || err != nil {
			server.Close()
			if msg == nil {
				t.Fatalf("no ClientHello from crypto/tls: %v", err)
			}
			return hello
		}
	}
}

func TestClientHelloFromCryptoTLS(t *testing.T) {
	hello := realClientHello(t, "mcp.corp.example", []string{"h2", "http/1.1"})
	msg, ok := handshakeMessage(hello)
	if !ok {
		t.Fatal("incomplete")
	}
	ch, err := parseClientHello(msg)
	if err != nil || ch.sni != "mcp.corp.example" || !slices.Equal(ch.alpn, []string{"h2", "http/1.1"}) {
		t.Fatalf("ClientHello %+v, %v", ch, err)
	}
}

// FuzzClientHello checks the ClientHello reader never panics and never
// reports more than the bytes hold.
func FuzzClientHello(f *testing.F) {
	f.Add(realClientHello(f, "mcp.corp.example", []string{"h2", "http/1.1"}))
	f.Add(realClientHello(f, "", nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, ok := handshakeMessage(b)
		if !ok {
			return
		}
		ch, err := parseClientHello(msg)
		if err == nil && len(ch.sni) > len(msg) {
			t.Fatalf("SNI longer than the message")
		}
	})
}

// TestSSEEventOverCap: an event whose data line is over the cap keeps its
// first bytes and its full length, flagged, and the next event is whole.
func TestSSEEventOverCap(t *testing.T) {
	const limit = 1000
	big := bytes.Repeat([]byte("x"), 50_000)
	stream := append(append([]byte("id: 1\ndata: "), big...), "\ndata: tail\n\nid: 2\ndata: {}\n\n"...)
	for _, piece := range []int{len(stream), 7, 4096} {
		s := newSSEParser(limit)
		var evs []SSEEvent
		for p := stream; len(p) > 0; {
			k := min(piece, len(p))
			s.feed(p[:k], time.Time{}, func(ev *SSEEvent) { evs = append(evs, *ev) })
			p = p[k:]
		}
		if len(evs) != 2 {
			t.Fatalf("piece %d: %d events", piece, len(evs))
		}
		first, second := evs[0], evs[1]
		if first.ID != "1" || !first.Truncated || len(first.Data) != limit || first.Data != string(big[:limit]) || first.DataLen != int64(len(big)+len("\ntail")) {
			t.Errorf("piece %d: big event id %q truncated %v, %d bytes kept of %d", piece, first.ID, first.Truncated, len(first.Data), first.DataLen)
		}
		if second.ID != "2" || second.Truncated || second.Data != "{}" || second.DataLen != 2 {
			t.Errorf("piece %d: next event %+v", piece, second)
		}
	}
}

// TestSSEGapInsideDataLine: a data line cut by a gap is dropped whole, even
// when the reads before the gap already carried part of its value.
func TestSSEGapInsideDataLine(t *testing.T) {
	s := newSSEParser(1000)
	var evs []SSEEvent
	emit := func(ev *SSEEvent) { evs = append(evs, *ev) }
	for _, p := range []string{"data: first\ndata: lo", "st before", " the gap"} {
		s.feed([]byte(p), time.Time{}, emit)
	}
	s.gap()
	s.feed([]byte("rest of the lost line\ndata: after\n\ndata: next\n\n"), time.Time{}, emit)
	want := []SSEEvent{
		{Event: "message", Data: "first\nafter", DataLen: int64(len("first\nafter")), Truncated: true},
		{Event: "message", Data: "next", DataLen: 4, Index: 1},
	}
	if !slices.Equal(evs, want) {
		t.Fatalf("events\n%+v\nwant\n%+v", evs, want)
	}
}
