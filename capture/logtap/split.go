package logtap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// rawRecord is one JSON value cut from the input, not yet decoded.
type rawRecord struct {
	data []byte
	line int   // line of the first byte, from 1
	off  int64 // offset of the first byte
	end  int64 // offset just past the last byte
	// size counts every byte of the value, kept or not.
	size int64
	// err is set when the value is not usable as it stands: longer than
	// the cap (data is then empty), cut off by the end of input, or broken
	// off by the start of the next record.
	err error
}

// splitter cuts a byte stream into JSON values without decoding them: it
// only tracks strings and nesting, so a value longer than max is skipped
// without being buffered, and it counts lines for error reports.
//
// With an empty path it yields top-level values (tap traces, access-log
// lines). A top-level value that does not start with '{' or '[' is junk up
// to the end of its line, and a '{' at the start of a line inside an
// unfinished value starts a new record: Envoy and nginx write each record
// from column 0 and indent what is nested, so one torn record costs one
// record, not the rest of the file.
//
// With a path ("log", "entries") it yields the elements of the array found
// under those keys (HAR entries) and skips everything else.
type splitter struct {
	br   *bufio.Reader
	max  int64
	path []string

	line int
	off  int64
	col0 bool // the next byte starts a line

	// stack holds the open containers and keys the key each one was
	// opened under ("" for array elements and the top level).
	stack []byte
	keys  []string
	// str collects the current string while it may still be a key on the
	// path (short strings only); key is the last string completed at
	// object depth, colon whether a ':' followed it.
	inStr, esc bool
	str        []byte
	strLong    bool
	key        string
	colon      bool

	// found is set once the array under path has been opened.
	found bool

	rec      *rawRecord // value being recorded
	recDepth int        // len(stack) when the value started
	scalar   bool       // the value being recorded is a scalar
	junk     bool       // recording a junk line at the top level
}

var (
	errTooLarge = errors.New("record exceeds MaxRecordBytes")
	errTorn     = errors.New("line break inside a string: the record is torn")
)

func newSplitter(r io.Reader, max int64, path ...string) *splitter {
	return &splitter{br: bufio.NewReaderSize(r, 64<<10), max: max, path: path, line: 1, col0: true}
}

// next returns the next value; io.EOF when the input ends between values,
// and any read error as it comes (the value in progress is then lost).
func (s *splitter) next() (rawRecord, error) {
	for {
		if s.inStr && !s.esc && !s.junk {
			s.skimString()
		}
		c, err := s.br.ReadByte()
		if err != nil {
			if err == io.EOF && s.rec != nil {
				rec := s.finish()
				if rec.err == nil && !s.scalar && !s.junk {
					rec.err = fmt.Errorf("record cut off at end of input after %d bytes", rec.size)
				} else if s.junk {
					rec.err = errNotJSON
				}
				s.scalar, s.junk = false, false
				return rec, nil
			}
			return rawRecord{}, err
		}
		col0 := s.col0
		s.col0 = c == '\n'
		if done, rec := s.byte(c, col0); done {
			s.off++
			if c == '\n' {
				s.line++
			}
			return rec, nil
		}
		s.off++
		if c == '\n' {
			s.line++
		}
	}
}

var errNotJSON = errors.New("not a JSON object")

// byte consumes c; it reports a finished value. Offsets and lines are
// advanced by the caller after the byte.
func (s *splitter) byte(c byte, col0 bool) (bool, rawRecord) {
	if s.junk {
		if c == '\n' {
			rec := s.finish()
			rec.err = errNotJSON
			s.junk = false
			return true, rec
		}
		s.keep(c)
		return false, rawRecord{}
	}
	if s.inStr {
		if c == '\n' && len(s.path) == 0 && s.rec != nil && !s.scalar {
			// JSON has no raw line break inside a string: the record was
			// torn inside one (its writer died, or a copy was cut). Leave
			// the string, so that the next record, at column 0, is found.
			s.keep(c)
			s.inStr, s.esc = false, false
			if s.rec.err == nil {
				s.rec.err, s.rec.data = errTorn, nil
			}
			return false, rawRecord{}
		}
		s.keep(c)
		switch {
		case s.esc:
			s.esc = false
		case c == '\\':
			s.esc = true
		case c == '"':
			s.inStr = false
			s.key, s.colon = "", false
			if !s.strLong {
				s.key = string(s.str)
			}
			if s.rec != nil && s.scalar && len(s.stack) == s.recDepth {
				return true, s.finish()
			}
		default:
			if len(s.str) < 64 {
				s.str = append(s.str, c)
			} else {
				s.strLong = true
			}
		}
		return false, rawRecord{}
	}
	if s.rec != nil && s.scalar {
		switch c {
		case ' ', '\t', '\r', '\n', ',', ']', '}':
			rec := s.finish()
			s.scalar = false
			return true, s.afterScalar(c, rec)
		}
		s.keep(c)
		return false, rawRecord{}
	}
	// Outside strings.
	if len(s.path) == 0 && col0 && c == '{' && s.rec != nil && len(s.stack) > 0 {
		// A record starting at column 0 inside an unfinished one: the
		// earlier record was torn. Hand it out broken and start over.
		rec := s.finish()
		rec.end = s.off
		rec.err = fmt.Errorf("record broken off by the next record after %d bytes", rec.size)
		s.stack, s.keys = s.stack[:0], s.keys[:0]
		s.unread()
		return true, rec
	}
	switch c {
	case ' ', '\t', '\r', '\n':
		s.keep(c)
		return false, rawRecord{}
	}
	if s.rec == nil && s.wanted() && (len(s.path) == 0 || valueStart(c)) {
		s.start()
		if len(s.path) == 0 && c != '{' && c != '[' {
			s.junk = true
			s.keep(c)
			return false, rawRecord{}
		}
		if c != '{' && c != '[' {
			s.scalar = true
			if c == '"' {
				s.inStr, s.str, s.strLong = true, s.str[:0], false
			}
			s.keep(c)
			return false, rawRecord{}
		}
	}
	s.keep(c)
	switch c {
	case '"':
		s.inStr, s.esc, s.str, s.strLong = true, false, s.str[:0], false
	case ':':
		s.colon = true
	case '{', '[':
		k := ""
		if s.colon {
			k = s.key
		}
		s.stack = append(s.stack, c)
		s.keys = append(s.keys, k)
		s.key, s.colon = "", false
		if len(s.path) > 0 && s.rec == nil && s.wanted() {
			s.found = true
		}
	case '}', ']':
		if len(s.stack) > 0 {
			s.stack = s.stack[:len(s.stack)-1]
			s.keys = s.keys[:len(s.keys)-1]
		}
		s.key, s.colon = "", false
		if s.rec != nil && len(s.stack) == s.recDepth {
			return true, s.finish()
		}
	case ',':
		s.key, s.colon = "", false
	}
	return false, rawRecord{}
}

// unread backs the splitter up one byte so that it is read again as the
// start of a record; the caller's offset/line step is undone too.
func (s *splitter) unread() {
	s.br.UnreadByte()
	s.off--
	s.col0 = true
}

// afterScalar lets the byte that ended a scalar value act on the nesting.
func (s *splitter) afterScalar(c byte, rec rawRecord) rawRecord {
	if c == ']' || c == '}' {
		if len(s.stack) > 0 {
			s.stack = s.stack[:len(s.stack)-1]
			s.keys = s.keys[:len(s.keys)-1]
		}
	}
	rec.end = s.off // the terminator is not part of the value
	return rec
}

// wanted reports whether a value starting now is one to yield.
func (s *splitter) wanted() bool {
	if len(s.path) == 0 {
		return len(s.stack) == 0
	}
	// Elements of the array under path: stack is one object per path
	// key, then the array.
	if len(s.stack) != len(s.path)+1 || s.stack[len(s.stack)-1] != '[' {
		return false
	}
	for i, k := range s.path {
		if s.stack[i] != '{' || s.keys[i+1] != k {
			return false
		}
	}
	return true
}

func (s *splitter) start() {
	s.rec = &rawRecord{line: s.line, off: s.off}
	s.recDepth = len(s.stack)
}

func (s *splitter) keep(c byte) {
	r := s.rec
	if r == nil {
		return
	}
	r.size++
	if r.err != nil {
		return
	}
	if r.size > s.max {
		r.err, r.data = errTooLarge, nil
		return
	}
	r.data = append(r.data, c)
}

func (s *splitter) finish() rawRecord {
	r := *s.rec
	r.end = s.off + 1
	s.rec = nil
	return r
}

// valueStart reports whether c can begin a JSON value (not a ',' or ']'
// between array elements).
func valueStart(c byte) bool {
	switch c {
	case '{', '[', '"', '-', 't', 'f', 'n':
		return true
	}
	return '0' <= c && c <= '9'
}

// skimString takes the buffered bytes of a string up to its next quote,
// backslash or line end in one step: most of a record is long strings
// (base64 bodies), and byte-at-a-time is what costs.
func (s *splitter) skimString() {
	buf, _ := s.br.Peek(s.br.Buffered())
	k := bytes.IndexAny(buf, "\"\\\n")
	if k < 0 {
		k = len(buf)
	}
	if k == 0 {
		return
	}
	run := buf[:k]
	if !s.strLong { // as byte: strings past 64 bytes are no key on the path
		if len(run) > 64-len(s.str) {
			s.strLong = true
		} else {
			s.str = append(s.str, run...)
		}
	}
	if r := s.rec; r != nil {
		r.size += int64(k)
		switch {
		case r.err != nil:
		case r.size > s.max:
			r.err, r.data = errTooLarge, nil
		default:
			r.data = append(r.data, run...)
		}
	}
	s.off += int64(k)
	s.col0 = false
	s.br.Discard(k)
}
