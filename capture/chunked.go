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
	// lostAtStart is set in chunkLost when a size line may begin right at
	// the next bytes: just after the gap, or after a read ending in CRLF.
	lostAtStart bool
	// resynced is set when chunkLost found a size line; the caller clears it.
	resynced bool
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
	chunkLost // after a gap outside chunk data: looking for a size line
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
		case chunkLost:
			i := findChunkHeader(p[n:], d.lostAtStart)
			if i < 0 {
				// A size line may start the next read if this one ended
				// the previous chunk's data.
				d.lostAtStart = len(p) >= 2 && p[len(p)-2] == '\r' && p[len(p)-1] == '\n'
				return len(p), false, nil
			}
			d.state, d.size, d.digits, d.resynced = chunkSize, 0, 0, true
			// Return so the caller sees resynced before the chunk's data.
			return n + i, false, nil
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

// lose records a gap that fell outside chunk data: the bytes up to the next
// chunk-size line are dropped.
func (d *chunkedDecoder) lose() {
	d.state, d.lostAtStart = chunkLost, true
}

// findChunkHeader finds a chunk-size line ("1f4\r\n", after the CRLF that
// ends the previous chunk's data, or at the start of p when atStart) and
// returns the index of its first hex digit, or -1. A size line split
// across reads is missed and the next one found instead.
func findChunkHeader(p []byte, atStart bool) int {
	isHeader := func(b []byte) bool {
		k := 0
		for k < len(b) && k < 10 {
			if _, ok := hexValue(b[k]); !ok {
				break
			}
			k++
		}
		return k > 0 && len(b) >= k+2 && b[k] == '\r' && b[k+1] == '\n'
	}
	if atStart && isHeader(p) {
		return 0
	}
	for i := 0; i+2 < len(p); i++ {
		if p[i] == '\r' && p[i+1] == '\n' && isHeader(p[i+2:]) {
			return i + 2
		}
	}
	return -1
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
