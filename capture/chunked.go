package capture

import (
	"errors"
	"fmt"
)

// chunkedDecoder removes HTTP/1.1 chunked transfer coding incrementally:
// bytes arrive in whatever pieces TCP reassembly hands over, and the body
// must flow out as it arrives so event streams are not held back.
type chunkedDecoder struct {
	state   chunkState
	size    int64 // remaining data bytes of the current chunk
	digits  int   // hex digits seen in the size line
	lineLen int   // bytes of the current extension or trailer line
}

type chunkState uint8

const (
	chunkSize    chunkState = iota // hex digits of the size line
	chunkExt                       // rest of the size line (extensions, CR)
	chunkData                      // chunk payload
	chunkDataCR                    // CRLF after the payload
	chunkDataLF                    // LF after the payload's CR
	chunkTrailer                   // trailer lines until an empty one
	chunkDone
)

// maxChunkLine bounds a size line with extensions and each trailer line, so
// garbage cannot make the decoder scan forever for a newline.
const maxChunkLine = 4096

var errChunked = errors.New("bad chunked encoding")

// decode consumes p, calling out with every run of body bytes, and returns
// how many bytes of p belong to the body (what follows is the next message).
// done is set when the last chunk and trailer have been read.
func (d *chunkedDecoder) decode(p []byte, out func([]byte)) (n int, done bool, err error) {
	for n < len(p) {
		c := p[n]
		switch d.state {
		case chunkSize:
			v, ok := hexValue(c)
			switch {
			case ok:
				if d.size > (1<<40)>>4 {
					return n, false, fmt.Errorf("%w: chunk size too large", errChunked)
				}
				d.size = d.size<<4 | int64(v)
				d.digits++
			case d.digits > 0 && (c == ';' || c == ' ' || c == '\t' || c == '\r'):
				d.state, d.lineLen = chunkExt, 0
			case d.digits > 0 && c == '\n':
				d.endSizeLine()
			default:
				return n, false, fmt.Errorf("%w: byte %q in chunk size", errChunked, c)
			}
			n++
		case chunkExt:
			if c == '\n' {
				d.endSizeLine()
			} else if d.lineLen++; d.lineLen > maxChunkLine {
				return n, false, fmt.Errorf("%w: chunk extension longer than %d bytes", errChunked, maxChunkLine)
			}
			n++
		case chunkData:
			k := int(min(d.size, int64(len(p)-n)))
			out(p[n : n+k])
			n += k
			d.size -= int64(k)
			if d.size == 0 {
				d.state = chunkDataCR
			}
		case chunkDataCR, chunkDataLF:
			switch {
			case c == '\r' && d.state == chunkDataCR:
				d.state = chunkDataLF
			case c == '\n':
				d.state, d.size, d.digits = chunkSize, 0, 0
			default:
				return n, false, fmt.Errorf("%w: %q after chunk data", errChunked, c)
			}
			n++
		case chunkTrailer:
			n++
			switch {
			case c == '\n' && d.lineLen == 0:
				d.state = chunkDone
				return n, true, nil
			case c == '\n':
				d.lineLen = 0
			case c == '\r' && d.lineLen == 0:
				// The CR of the final CRLF; the LF decides.
			default:
				if d.lineLen++; d.lineLen > maxChunkLine {
					return n, false, fmt.Errorf("%w: trailer line longer than %d bytes", errChunked, maxChunkLine)
				}
			}
		case chunkDone:
			return n, true, nil
		}
	}
	return n, d.state == chunkDone, nil
}

func (d *chunkedDecoder) endSizeLine() {
	if d.size == 0 {
		d.state, d.lineLen = chunkTrailer, 0
		return
	}
	d.state = chunkData
}

// skip accounts for n bytes lost to a capture gap. It reports false when
// the gap does not fall inside chunk data: then the framing is lost.
func (d *chunkedDecoder) skip(n int) bool {
	if d.state != chunkData || int64(n) > d.size {
		return false
	}
	d.size -= int64(n)
	if d.size == 0 {
		d.state = chunkDataCR
	}
	return true
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
