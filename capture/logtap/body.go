package logtap

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// body is a message body as a log kept it.
type body struct {
	raw []byte // bytes as logged, content-coding still on
	// cut is set when the log itself kept only part of the body (Envoy's
	// truncated flag, a HAR content.size beyond the text).
	cut bool
	// size is the body's full decoded length when the log states it
	// (HAR content.size, access-log byte counts); 0 when it does not.
	size int64
	// decodedAlready is set when raw has no content-coding on it whatever
	// the headers say (HAR content.text).
	decodedAlready bool
}

// decoded removes the content-coding named in h and cuts the result at max:
// what capture.Request/Response carry as Body, BodyLen and Truncated.
func (b body) decoded(h http.Header, max int64) (out []byte, n int64, truncated bool) {
	out, truncated = b.raw, b.cut
	coding := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding")))
	if b.decodedAlready {
		coding = ""
	}
	switch coding {
	case "gzip", "x-gzip", "deflate":
		var ok bool
		out, ok = inflate(coding, b.raw, max)
		truncated = truncated || !ok
	case "", "identity":
	default:
		// br, zstd: not decoded here any more than on the wire; decode
		// sees bytes that do not look like JSON and skips them.
	}
	n = int64(len(out))
	if b.size > n {
		n = b.size
	}
	if cl, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && b.cut && cl > n && coding == "" {
		n = cl // a truncated trace still knows the length the message declared
	}
	if int64(len(out)) > max {
		out, truncated = out[:max], true
	}
	if n > int64(len(out)) {
		truncated = true
	}
	return out, n, truncated
}

// inflate removes a gzip or deflate coding, reading at most max+1 bytes of
// output so a compression bomb costs no more than the cap. ok is false when
// the data ended early or was corrupt; what was inflated until then is kept.
func inflate(coding string, raw []byte, max int64) (out []byte, ok bool) {
	var r io.Reader
	var err error
	src := bytes.NewReader(raw)
	switch {
	case coding != "deflate":
		r, err = gzip.NewReader(src)
	case len(raw) >= 2 && (uint16(raw[0])<<8|uint16(raw[1]))%31 == 0 && raw[0]&0x0f == 8:
		// "deflate" means zlib-wrapped (RFC 9110), but some servers send
		// raw deflate; the zlib header tells them apart.
		r, err = zlib.NewReader(src)
	default:
		r = flate.NewReader(src)
	}
	if err != nil {
		return nil, false
	}
	out, err = io.ReadAll(io.LimitReader(r, max+1))
	return out, err == nil
}
