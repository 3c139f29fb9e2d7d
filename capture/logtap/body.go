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

	"github.com/mcpwatch/mcpwatch/capture"
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

// Truncation reasons a log adds to capture's (Request/Response.TruncatedBy).
const (
	// TruncProxyCap: the proxy kept only part of the body (Envoy's
	// max_buffered_rx/tx_bytes, a HAR exporter that dropped content).
	TruncProxyCap = "proxy-cap"
	// TruncNotLogged: the log counts the body's bytes but holds none of
	// them (access logs).
	TruncNotLogged = "not-logged"
)

// decoded removes the content-coding named in h and cuts the result at max:
// what capture.Request/Response carry as Body, BodyLen and TruncatedBy
// (empty when the body is whole).
func (b body) decoded(h http.Header, max int64) (out []byte, n int64, truncatedBy string) {
	out = b.raw
	if b.cut {
		truncatedBy = TruncProxyCap
		if len(b.raw) == 0 {
			truncatedBy = TruncNotLogged
		}
	}
	coding := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding")))
	if b.decodedAlready {
		coding = ""
	}
	switch coding {
	case "gzip", "x-gzip", "deflate":
		var err error
		out, err = inflate(coding, b.raw, max)
		if err != nil && truncatedBy == "" {
			truncatedBy = capture.TruncDecodeError
		}
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
		out = out[:max]
		if truncatedBy == "" {
			truncatedBy = capture.TruncBodyCap
			if coding != "" {
				truncatedBy = capture.TruncDecompressCap
			}
		}
	}
	if n > int64(len(out)) && truncatedBy == "" {
		truncatedBy = TruncProxyCap // the log says there was more than it kept
	}
	return out, n, truncatedBy
}

// inflate removes a gzip or deflate coding, reading at most max+1 bytes of
// output so a compression bomb costs no more than the cap. The error says
// the data ended early or was corrupt; what was inflated until then is
// kept.
func inflate(coding string, raw []byte, max int64) ([]byte, error) {
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
		return nil, err
	}
	return io.ReadAll(io.LimitReader(r, max+1))
}
