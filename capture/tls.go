package capture

import (
	"encoding/binary"
	"errors"
)

// clientHello is what a TLS ClientHello says in the clear.
type clientHello struct {
	sni  string
	alpn []string
}

// maxClientHello bounds the bytes buffered to find a ClientHello. Hellos
// with post-quantum key shares are about 2 KB; 64 KiB is TLS's own limit on
// one handshake message spread over records, more than any real one.
const maxClientHello = 64 << 10

var errNotClientHello = errors.New("not a TLS ClientHello")

// isTLSHandshake reports whether p starts like a TLS handshake record (or
// could, when shorter than three bytes).
func isTLSHandshake(p []byte) bool {
	return len(p) > 0 && p[0] == 0x16 && (len(p) < 2 || p[1] == 0x03) && (len(p) < 3 || p[2] <= 0x04)
}

// startTLS marks the connection as TLS and starts collecting the
// ClientHello from the client's first bytes p.
func (s *stream) startTLS(dir int, p []byte) {
	s.app = AppTLS
	s.e.stats.TLSConns++
	s.halves[0].state, s.halves[1].state = stateDead, stateDead
	s.tlsBuf = make([]byte, 0, 2048)
	s.feedTLS(p)
}

// feedTLS buffers client bytes until the ClientHello parses or cannot.
func (s *stream) feedTLS(p []byte) {
	s.tlsBuf = append(s.tlsBuf, p[:min(len(p), maxClientHello-len(s.tlsBuf))]...)
	hs, complete := handshakeMessage(s.tlsBuf)
	if !complete {
		if len(s.tlsBuf) >= maxClientHello {
			s.e.stats.TLSHelloErrors++
			s.tlsBuf = nil
		}
		return
	}
	s.tlsBuf = nil
	ch, err := parseClientHello(hs)
	if err != nil {
		s.e.stats.TLSHelloErrors++
		return
	}
	s.tls = ch
}

// handshakeMessage joins the payloads of the leading handshake records of
// b and returns the first handshake message once it is complete.
func handshakeMessage(b []byte) (msg []byte, complete bool) {
	var hs []byte
	for len(b) >= 5 && b[0] == 0x16 {
		n := int(binary.BigEndian.Uint16(b[3:5]))
		if len(b) < 5+n {
			break
		}
		hs = append(hs, b[5:5+n]...)
		b = b[5+n:]
		if len(hs) >= 4 {
			if need := 4 + (int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])); len(hs) >= need {
				return hs[:need], true
			}
		}
	}
	// A non-handshake record before the hello is complete ends the search.
	return nil, len(b) >= 5 && b[0] != 0x16
}

// parseClientHello reads SNI and ALPN from a handshake message
// (RFC 8446 §4.1.2, RFC 6066 §3, RFC 7301).
func parseClientHello(m []byte) (clientHello, error) {
	var ch clientHello
	if len(m) < 4 || m[0] != 1 {
		return ch, errNotClientHello
	}
	r := byteReader(m[4:])
	r.skip(2 + 32) // legacy_version, random
	r.skip(int(r.u8()))
	r.skip(int(r.u16()))
	r.skip(int(r.u8()))
	if len(r) == 0 {
		return ch, nil // no extensions
	}
	exts := byteReader(r.bytes(int(r.u16())))
	for len(exts) >= 4 {
		typ, body := exts.u16(), byteReader(exts.bytes(int(exts.u16())))
		switch typ {
		case 0: // server_name
			list := byteReader(body.bytes(int(body.u16())))
			for len(list) >= 3 {
				kind, name := list.u8(), list.bytes(int(list.u16()))
				if kind == 0 && ch.sni == "" {
					ch.sni = string(name)
				}
			}
		case 16: // application_layer_protocol_negotiation
			list := byteReader(body.bytes(int(body.u16())))
			for len(list) > 0 {
				if p := list.bytes(int(list.u8())); len(p) > 0 {
					ch.alpn = append(ch.alpn, string(p))
				}
			}
		}
	}
	if r == nil || exts == nil {
		return ch, errNotClientHello
	}
	return ch, nil
}

// byteReader reads big-endian fields; reading past the end empties it and
// sets it to nil, which callers check once at the end.
type byteReader []byte

func (r *byteReader) bytes(n int) []byte {
	if n > len(*r) {
		*r = nil
		return nil
	}
	b := (*r)[:n]
	*r = (*r)[n:]
	return b
}

func (r *byteReader) skip(n int) { r.bytes(n) }

func (r *byteReader) u8() byte {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *byteReader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}
