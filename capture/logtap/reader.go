package logtap

import (
	"container/list"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
)

// exchange is one logged HTTP exchange, parsed but not yet handed on.
type exchange struct {
	line int
	off  int64
	// name is the input the record came from, for reports; seq numbers
	// exchanges in the order they were read, which orders exchanges that
	// started at the same time.
	name string
	seq  int64
	// scheme is the request's scheme when the log says it (Envoy's
	// :scheme, a HAR URL), for the port of an authority without one.
	scheme string
	// conn names the connection the log says the exchange was on; "" when
	// it names none.
	conn           string
	client, server netip.AddrPort
	req            capture.Request // Conn, Seq and body fields are set on delivery
	reqBody        body
	resp           *capture.Response // nil when the log holds no response
	respBody       body
}

// parser turns raw records of one format into exchanges.
type parser interface {
	// parse returns the exchanges the record completes (Envoy streamed
	// segments complete one only now and then).
	parse(rec rawRecord) ([]*exchange, error)
	// flush returns the exchanges still being assembled, at end of input.
	flush() []*exchange
	// pending is where the first record of the oldest exchange still
	// being assembled starts: a checkpoint must not pass it.
	pending() (position, bool)
}

// Stats counts what a Reader (or Follow) read, handed on and skipped.
type Stats struct {
	Records    int64 // JSON records read (tap traces or segments, HAR entries, log lines)
	Exchanges  int64 // exchanges handed to the Handler
	BadRecords int64 // records skipped, each reported through OnBadRecord
	// Oversize counts records skipped for MaxRecordBytes (also in
	// BadRecords).
	Oversize int64
	// Panics counts records whose reading, or the handing on of whose
	// exchange, panicked: recovered, reported and counted in BadRecords
	// too (a panic in the Handler is the exchange's loss).
	Panics int64
	// Ignored counts well-formed records that are not HTTP exchanges
	// (Envoy socket traces).
	Ignored int64
	// BodiesTruncated counts bodies handed on flagged Truncated: cut by
	// MaxBodyBytes, by the proxy's own buffer limit, or header-only.
	BodiesTruncated int64
	// Fallbacks counts exchanges whose record lacked a time or an address,
	// by what stood in for it (fallback.go).
	Fallbacks     Fallbacks
	SSEEvents     int64
	SSEIncomplete int64 // event-stream bodies that ended inside an event
	Conns         int64 // synthetic connections opened
	ConnsEvicted  int64 // ended early for MaxConns
	// TracesEvicted counts Envoy streamed traces handed on unfinished for
	// MaxOpenTraces.
	TracesEvicted int64
	// Rotations and Truncations count file switches seen by Follow.
	Rotations, Truncations int64
}

// counters are Stats updated by the reading goroutine and read by Stats()
// from any other.
type counters struct {
	records, exchanges, bad, oversize, panics, ignored, bodiesTruncated    atomic.Int64
	sseEvents, sseIncomplete, conns, connsEvicted, tracesEvicted           atomic.Int64
	rotations, truncations                                                 atomic.Int64
	timePrevious, timeFile, timeClock, clientForwardedFor, serverAuthority atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Records: c.records.Load(), Exchanges: c.exchanges.Load(), BadRecords: c.bad.Load(),
		Oversize: c.oversize.Load(), Panics: c.panics.Load(), Ignored: c.ignored.Load(), BodiesTruncated: c.bodiesTruncated.Load(),
		Fallbacks: Fallbacks{
			TimePrevious: c.timePrevious.Load(), TimeFile: c.timeFile.Load(), TimeClock: c.timeClock.Load(),
			ClientForwardedFor: c.clientForwardedFor.Load(), ServerAuthority: c.serverAuthority.Load(),
		},
		SSEEvents: c.sseEvents.Load(), SSEIncomplete: c.sseIncomplete.Load(),
		Conns: c.conns.Load(), ConnsEvicted: c.connsEvicted.Load(), TracesEvicted: c.tracesEvicted.Load(),
		Rotations: c.rotations.Load(), Truncations: c.truncations.Load(),
	}
}

// Add sums two Stats: the counters of several inputs.
func (s Stats) Add(o Stats) Stats {
	return Stats{
		Records: s.Records + o.Records, Exchanges: s.Exchanges + o.Exchanges, BadRecords: s.BadRecords + o.BadRecords,
		Oversize: s.Oversize + o.Oversize, Panics: s.Panics + o.Panics, Ignored: s.Ignored + o.Ignored,
		BodiesTruncated: s.BodiesTruncated + o.BodiesTruncated, Fallbacks: s.Fallbacks.Add(o.Fallbacks),
		SSEEvents: s.SSEEvents + o.SSEEvents, SSEIncomplete: s.SSEIncomplete + o.SSEIncomplete,
		Conns: s.Conns + o.Conns, ConnsEvicted: s.ConnsEvicted + o.ConnsEvicted, TracesEvicted: s.TracesEvicted + o.TracesEvicted,
		Rotations: s.Rotations + o.Rotations, Truncations: s.Truncations + o.Truncations,
	}
}

// Reader reads one log input from start to end.
type Reader struct {
	name string
	src  io.Reader
	st   *state
}

// NewReader returns a Reader of r; name is used in error reports and
// should be the file name. cfg is checked by Run.
func NewReader(cfg Config, name string, r io.Reader) *Reader {
	return &Reader{name: name, src: r, st: newState(cfg.withDefaults(), cfg)}
}

// Run feeds every record of the input, in order, to h and ends every
// connection (capture.ConnEndInputEnd) when the input ends or ctx is
// cancelled. Bad records are counted and reported, never returned; the
// error is a bad Config, a read error or ctx's.
func (r *Reader) Run(ctx context.Context, h capture.Handler) error {
	if err := r.st.orig.Validate(); err != nil {
		return err
	}
	r.st.h = h
	r.st.clock.newFile(statTime(r.src))
	err := r.st.read(ctx, r.name, r.src, position{line: 1}, nil)
	r.st.finish()
	return err
}

// ReadFiles reads the files, in the order given, as one log: connections
// and the reorder buffer carry across files, as they must across the
// one-trace files of Envoy's file_per_tap sink (order those by
// modification time). Otherwise it is Reader.Run for each file.
func ReadFiles(ctx context.Context, cfg Config, paths []string, h capture.Handler) (Stats, error) {
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	st := newState(cfg.withDefaults(), cfg)
	st.h = h
	err := st.readFiles(ctx, paths)
	st.finish()
	return st.stats.snapshot(), err
}

func (st *state) readFiles(ctx context.Context, paths []string) error {
	for i, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("open log %q: %w", p, err)
		}
		st.gen = uint64(i) // Conn IDs stay unique across files
		st.clock.newFile(statTime(f))
		err = st.read(ctx, p, f, position{line: 1}, nil)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// finish hands on what is held and ends every connection: the input is
// over.
func (st *state) finish() {
	st.drain()
	st.endAll(capture.ConnEndInputEnd)
}

// Stats returns a snapshot of the counters; it may be called while Run is
// going.
func (r *Reader) Stats() Stats { return r.st.stats.snapshot() }

// position is where a record starts or ends in an input.
type position struct {
	line int
	off  int64
}

// state is what reading keeps across records, and across files for
// Follow: connections, the log clock, the counters.
type state struct {
	cfg  Config // with defaults
	orig Config // as given, for Validate
	h    capture.Handler
	// gen numbers the files Follow reads (rotations, truncations) so that
	// Conn IDs from equal offsets of different files differ.
	gen    uint64
	parser parser
	conns  map[string]*conn
	lru    *list.List // of *conn, least recently used first
	now    time.Time  // latest log time seen
	swept  time.Time
	stats  counters
	clock  logClock
	name   string // of the input being read
	seq    int64  // exchanges submitted

	reorder reorder
	// skip holds the records (by offset) that were handed on before a
	// restart although the checkpoint lies before them; delivered keeps
	// those handed on since the last checkpoint, to write the next skip.
	skip      map[int64]bool
	delivered []int64
}

// conn is a synthetic connection.
type conn struct {
	key                string
	c                  capture.Conn
	seq                int
	last               time.Time
	bytesC2S, bytesS2C int64
	elem               *list.Element
}

func newState(cfg, orig Config) *state {
	st := &state{cfg: cfg, orig: orig, conns: map[string]*conn{}, lru: list.New()}
	st.clock.started = time.Now().UTC()
	st.clock.fileTime = noFileTime
	switch cfg.Format {
	case FormatEnvoyTap:
		st.parser = newEnvoyParser(st)
	case FormatHAR:
		st.parser = harParser{}
	default:
		st.parser = &accessLogParser{fields: cfg.AccessLogFields}
	}
	return st
}

// harPath is where HAR entries are: {"log": {"entries": [...]}}.
var harPath = []string{"log", "entries"}

// read hands on every record of src, which starts at pos. done, when set,
// is called after each record with the position just past it (resumeAt
// says where a restart must resume, given what is still held).
func (st *state) read(ctx context.Context, name string, src io.Reader, pos position, done func(position) error) error {
	var path []string
	if st.cfg.Format == FormatHAR {
		path = harPath
	}
	sp := newSplitter(src, st.cfg.MaxRecordBytes, path...)
	sp.line, sp.off = pos.line, pos.off
	st.name = name
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := sp.next()
		if err == io.EOF {
			for _, ex := range st.flush() {
				st.submit(ex)
			}
			if st.cfg.Format == FormatHAR && !sp.found {
				return fmt.Errorf("read %s: no log.entries array: not a HAR file", name)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s:%d: %w", name, sp.line, err)
		}
		st.stats.records.Add(1)
		if rec.err != nil {
			st.bad(name, rec, rec.err)
		} else if exs, err := st.parse(rec); err != nil {
			st.bad(name, rec, err)
		} else {
			for _, ex := range exs {
				st.submit(ex)
			}
		}
		if done != nil {
			if err := done(position{line: sp.line, off: rec.end}); err != nil {
				return err
			}
		}
	}
}

// parse reads one record. A panic in the parser is that record's fault:
// it is recovered and the record is bad, and reading goes on.
func (st *state) parse(rec rawRecord) (exs []*exchange, err error) {
	defer func() {
		if p := recover(); p != nil {
			st.stats.panics.Add(1)
			exs, err = nil, recordPanic{fmt.Sprintf("reading the record: %v", p)}
		}
	}()
	return st.parser.parse(rec)
}

// flush hands out what the parser holds at the end of an input; a panic
// loses what it held, which is counted as one bad record.
func (st *state) flush() (exs []*exchange) {
	defer func() {
		if p := recover(); p != nil {
			st.stats.panics.Add(1)
			at, _ := st.parser.pending()
			st.bad(st.name, rawRecord{line: at.line, off: at.off}, recordPanic{fmt.Sprintf("completing the traces still open at the end: %v", p)})
			exs = nil
		}
	}()
	return st.parser.flush()
}

func (st *state) bad(name string, rec rawRecord, err error) {
	st.stats.bad.Add(1)
	if err == errTooLarge {
		st.stats.oversize.Add(1)
		err = fmt.Errorf("%w (%d bytes, cap %d)", errTooLarge, rec.size, st.cfg.MaxRecordBytes)
	}
	if st.cfg.OnBadRecord != nil {
		_, panicked := err.(recordPanic)
		st.cfg.OnBadRecord(BadRecord{Name: name, Line: rec.line, Offset: rec.off, Err: err, Panicked: panicked, Record: rec.data})
	}
}

// recordPanic is the error of a record whose reading or handing on
// panicked.
type recordPanic struct{ value any }

func (p recordPanic) Error() string { return fmt.Sprintf("panic %v", p.value) }

// resumeAt is where a restart must resume reading so that nothing not yet
// handed on is lost: after the last record read, unless an exchange still
// being assembled or held for reordering began earlier.
func (st *state) resumeAt(after position) position {
	resume := after
	if p, ok := st.parser.pending(); ok && p.off < resume.off {
		resume = p
	}
	if p, ok := st.oldestHeld(); ok && p.off < resume.off {
		resume = p
	}
	return resume
}

// deliver hands one exchange to the Handler the way the packet engine
// would: Request, Response, its SSE events, ResponseEnd.
//
// A panic while handing it on (in the Handler, or here) loses what was
// left of the exchange: it is recovered, and counted and reported as a bad
// record at the record's line, so that one exchange never stops a run.
func (st *state) deliver(ex *exchange) {
	defer func() {
		if p := recover(); p != nil {
			st.stats.panics.Add(1)
			st.bad(ex.name, rawRecord{line: ex.line, off: ex.off}, recordPanic{fmt.Sprintf("handing on the exchange: %v", p)})
		}
	}()
	if st.skip[ex.off] {
		delete(st.skip, ex.off) // handed on before the restart
		return
	}
	if st.delivered != nil {
		st.delivered = append(st.delivered, ex.off)
	}
	st.advance(ex.req.Time)
	c := st.connFor(ex)
	req := ex.req
	req.Conn, req.Seq = &c.c, c.seq
	c.seq++
	req.Body, req.BodyLen, req.TruncatedBy = ex.reqBody.decoded(req.Header, st.cfg.MaxBodyBytes)
	req.Truncated = req.TruncatedBy != ""
	st.countTruncated(req.Truncated)
	c.bytesC2S += req.BodyLen
	c.last = req.End
	st.stats.exchanges.Add(1)
	st.h.Request(&req)
	if ex.resp == nil {
		return
	}
	resp := *ex.resp
	resp.Conn, resp.Seq = &c.c, req.Seq
	b, n, by := ex.respBody.decoded(resp.Header, st.cfg.MaxBodyBytes)
	resp.BodyLen, resp.Truncated, resp.TruncatedBy = n, by != "", by
	st.countTruncated(resp.Truncated)
	c.bytesS2C += n
	c.last = resp.End
	if !resp.EventStream {
		resp.Body = b
		st.h.Response(&req, &resp)
	} else {
		st.h.Response(&req, &resp)
		incomplete := parseSSE(b, int(st.cfg.MaxBodyBytes), resp.End, func(ev *capture.SSEEvent) {
			st.stats.sseEvents.Add(1)
			st.h.SSEEvent(&req, &resp, ev)
		})
		if incomplete {
			st.stats.sseIncomplete.Add(1)
		}
	}
	st.h.ResponseEnd(&req, &resp)
}

func (st *state) countTruncated(t bool) {
	if t {
		st.stats.bodiesTruncated.Add(1)
	}
}

// advance moves the log clock and ends connections idle for longer than
// ConnIdleTimeout; it sweeps at most every eighth of the timeout.
func (st *state) advance(t time.Time) {
	if t.After(st.now) {
		st.now = t
	}
	idle := st.cfg.ConnIdleTimeout
	if st.now.Sub(st.swept) < idle/8 {
		return
	}
	st.swept = st.now
	for e := st.lru.Front(); e != nil; {
		c := e.Value.(*conn)
		e = e.Next()
		if st.now.Sub(c.last) > idle {
			st.end(c, capture.ConnEndIdle, c.last.Add(idle))
		}
	}
}

// connFor finds or opens the synthetic connection of an exchange: the one
// the record names, else one per client address and server.
func (st *state) connFor(ex *exchange) *conn {
	key := ex.conn
	server := ex.req.Host
	if ex.server.IsValid() {
		server = ex.server.String()
	}
	switch {
	case key != "":
	case ex.client.IsValid() && ex.client.Port() != 0:
		key = "tcp|" + ex.client.String() + "|" + server
	default:
		key = "peer|" + ex.client.Addr().String() + "|" + server
	}
	if c := st.conns[key]; c != nil {
		st.lru.MoveToBack(c.elem)
		return c
	}
	if len(st.conns) >= st.cfg.MaxConns {
		st.stats.connsEvicted.Add(1)
		st.end(st.lru.Front().Value.(*conn), capture.ConnEndEvicted, ex.req.Time)
	}
	// The ID is the position of the record that opened the connection:
	// deterministic for a given input and unique across the files of a
	// Follow (gen), so decode's event ids never repeat after a restart.
	c := &conn{key: key, c: capture.Conn{
		ID:     st.gen<<40 | uint64(ex.off+1)&(1<<40-1),
		Client: ex.client,
		Server: ex.server,
		Start:  ex.req.Time,
	}}
	c.elem = st.lru.PushBack(c)
	st.conns[key] = c
	st.stats.conns.Add(1)
	return c
}

func (st *state) end(c *conn, reason string, at time.Time) {
	st.lru.Remove(c.elem)
	delete(st.conns, c.key)
	st.h.ConnEnd(&c.c, &capture.ConnEnd{
		Time:        at,
		Reason:      reason,
		AppProtocol: capture.AppHTTP,
		BytesC2S:    c.bytesC2S,
		BytesS2C:    c.bytesS2C,
		Exchanges:   c.seq,
	})
}

// endAll ends every open connection, least recently used first.
func (st *state) endAll(reason string) {
	for e := st.lru.Front(); e != nil; e = st.lru.Front() {
		c := e.Value.(*conn)
		st.end(c, reason, c.last)
	}
}
