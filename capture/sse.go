package capture

import (
	"bytes"
	"strconv"
	"time"
)

// sseParser parses a text/event-stream body as it arrives (the WHATWG
// event-stream grammar): lines end in CRLF, LF or CR; "data" lines join with
// "\n"; ":" starts a comment; an empty line dispatches the event.
//
// Unlike a browser it dispatches a block that carried any field, even
// without data (an "id"-only priming event is worth seeing on the wire), and
// ID is the id field of this event, not the stream's last event id.
type sseParser struct {
	max  int    // cap on one event's data (and, plus a field name, on a line)
	line []byte // the line in progress, cut at the cap
	// overflow counts the bytes of the line in progress beyond the cap.
	overflow int64
	// skipLF drops the LF of a CRLF split across two reads.
	skipLF bool
	// discard drops the rest of the current line: it began before a gap.
	discard bool
	// inData is set while the line in progress is a data line that spans
	// reads: its value goes straight to data (a long event is copied
	// once), which dropLine cuts back to dataMark and dataLenMark.
	inData      bool
	dataMark    int
	dataLenMark int64

	ev        SSEEvent
	data      []byte
	dataLen   int64
	hasData   bool
	hasFields bool
	index     int
}

// sseFieldRoom is what a line may hold beyond max so that a data line's
// value can fill the cap: "data: " and then some.
const sseFieldRoom = 16

func newSSEParser(max int) *sseParser { return &sseParser{max: max} }

// feed parses p, calling emit for each completed event.
func (s *sseParser) feed(p []byte, t time.Time, emit func(*SSEEvent)) {
	for len(p) > 0 {
		if s.skipLF {
			s.skipLF = false
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		i := lineEnd(p)
		if i < 0 {
			s.partialLine(p)
			return
		}
		s.skipLF = p[i] == '\r'
		switch {
		case s.discard:
		case s.inData:
			s.addData(p[:i])
			s.hasData, s.hasFields = true, true
		case len(s.line) == 0 && i <= s.max+sseFieldRoom:
			// The whole line is in p, as is usual: no copy.
			s.processLine(p[:i], t, emit)
		default:
			s.appendLine(p[:i])
			s.processLine(s.line, t, emit)
		}
		p = p[i+1:]
		s.discard, s.inData, s.line, s.overflow = false, false, s.line[:0], 0
	}
}

// partialLine takes the start of a line that ends in a later read. Once it
// is known to be a data line, and whether a space follows "data:", the
// value so far moves to data and the rest of the line follows it there.
func (s *sseParser) partialLine(p []byte) {
	if s.inData {
		s.addData(p)
		return
	}
	s.appendLine(p)
	const prefix = "data:"
	if s.discard || len(s.line) <= len(prefix) || string(s.line[:len(prefix)]) != prefix {
		return
	}
	s.inData, s.dataMark, s.dataLenMark = true, len(s.data), s.dataLen
	value := s.line[len(prefix):]
	if value[0] == ' ' {
		value = value[1:]
	}
	if s.hasData {
		s.addData([]byte{'\n'})
	}
	s.addData(value)
	s.dataLen += s.overflow
	s.line, s.overflow = s.line[:0], 0
}

func (s *sseParser) addData(p []byte) {
	s.appendData(p)
	s.dataLen += int64(len(p))
}

// dropLine forgets the line in progress, and what of it went to data.
func (s *sseParser) dropLine() {
	if s.inData {
		s.data, s.dataLen = s.data[:s.dataMark], s.dataLenMark
	}
	s.line, s.overflow, s.inData = s.line[:0], 0, false
}

// lineEnd returns the index of the first CR or LF in p, or -1. Two
// IndexByte calls beat one IndexAny: SDKs end lines in LF alone, so the
// search for CR is over the line only, and both run vectorised.
func lineEnd(p []byte) int {
	lf := bytes.IndexByte(p, '\n')
	if lf < 0 {
		return bytes.IndexByte(p, '\r')
	}
	if cr := bytes.IndexByte(p[:lf], '\r'); cr >= 0 {
		return cr
	}
	return lf
}

// appendLine adds to the line in progress up to the cap, counting the rest:
// an event whose data is over the cap keeps its first bytes and its length,
// as a body does.
func (s *sseParser) appendLine(p []byte) {
	if s.discard {
		return
	}
	if room := s.max + sseFieldRoom - len(s.line); len(p) > room {
		s.ev.Truncated = true
		s.overflow += int64(len(p) - room)
		p = p[:room]
	}
	s.line = append(s.line, p...)
}

func (s *sseParser) processLine(line []byte, t time.Time, emit func(*SSEEvent)) {
	if len(line) == 0 {
		s.dispatch(t, emit)
		return
	}
	if line[0] == ':' {
		return
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if s.hasData {
			s.addData([]byte{'\n'})
		}
		s.addData(value)
		s.dataLen += s.overflow
		s.hasData = true
	case "event":
		s.ev.Event = string(value)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			s.ev.ID = string(value)
		}
	case "retry":
		if v, err := strconv.Atoi(string(value)); err == nil && v >= 0 {
			s.ev.Retry = v
		}
	default:
		return // unknown fields are ignored, as by browsers
	}
	s.hasFields = true
}

func (s *sseParser) appendData(p []byte) {
	if len(s.data)+len(p) > s.max {
		p = p[:max(0, s.max-len(s.data))]
		s.ev.Truncated = true
	}
	s.data = append(s.data, p...)
}

func (s *sseParser) dispatch(t time.Time, emit func(*SSEEvent)) {
	if s.hasFields {
		ev := s.ev
		ev.Data, ev.DataLen = string(s.data), s.dataLen
		if ev.Event == "" {
			ev.Event = "message"
		}
		ev.Time = t
		ev.Index = s.index
		s.index++
		emit(&ev)
	}
	s.ev = SSEEvent{}
	s.data, s.dataLen = s.data[:0], 0
	s.hasData, s.hasFields = false, false
}

// gap records lost bytes: the event in progress is marked Truncated and the
// partial line is dropped up to the next line end.
func (s *sseParser) gap() {
	s.ev.Truncated = true
	s.hasFields = true
	s.discard = true
	s.dropLine()
	s.skipLF = false
}

// boundary is called when the transfer framing shows a new write starts
// here after lost bytes: SDKs write one event per chunk, so the event cut by
// the gap is dispatched (flagged Truncated) and parsing starts afresh.
func (s *sseParser) boundary(t time.Time, emit func(*SSEEvent)) {
	s.dropLine()
	s.discard, s.skipLF = false, false
	s.dispatch(t, emit)
}

// pending reports whether an undispatched event is in progress; the stream
// ending now cuts it off.
func (s *sseParser) pending() bool { return s.hasFields || len(s.line) > 0 || s.inData }
