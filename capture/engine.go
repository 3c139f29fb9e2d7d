package capture

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/reassembly"
)

// Engine reassembles the TCP connections of one packet stream and parses
// HTTP/1.1 and SSE from them. One goroutine runs it (Run, then Finish), and
// that goroutine calls the Handler; only Stats may be called from others.
type Engine struct {
	cfg Config
	h   Handler
	asm *reassembly.Assembler
	dec packetDecoder
	ac  captureContext

	stats Stats
	// published is the snapshot Stats hands to other goroutines.
	publishedMu sync.Mutex
	published   Stats
	// names counts connections by name, for their ids (see connID).
	names connNames
	// pooled are the streams reassembly holds, by address pair: a bare ACK
	// of none of them (the last ACK of a closed connection) opens none.
	pooled map[connKey]*stream
	// now is the packet clock: the latest packet timestamp seen.
	now      time.Time
	lastTick time.Time
	// lru orders streams by last activity, least recent first, for
	// eviction at MaxFlows.
	lru list.List
	// tracked counts streams in the reassembly pool, ended or not (an RST
	// ends a stream before reassembly lets go of it).
	tracked int
	parking parking
	// cur is the stream of the packet being assembled.
	cur *stream
	// flushing is set during the Engine's own flushes, which reassembly
	// runs over its connection map in random order: what streams receive
	// then is queued in flushed and handed on in connection order, so
	// output stays deterministic. closeReason is the ConnEnd reason of the
	// streams such a flush completes.
	flushing    bool
	closeReason string
	flushed     []flushOp
	inAssemble  bool
	// ackedHole is set by a stream that rejected a packet acknowledging
	// data behind a hole: the time that data began waiting.
	ackedHole time.Time
	spares    spareBuffers

	// curPacket is the packet being assembled, for a stream that holds it
	// back (see reorder.go); replaying is set while a held one is fed
	// again. holding lists the streams that hold packets, heldBytes
	// counts their data.
	curPacket Packet
	heldDec   packetDecoder
	replaying bool
	holding   list.List
	heldBytes int
}

// captureContext hands packet metadata to reassembly without allocating.
type captureContext struct{ ci gopacket.CaptureInfo }

func (c *captureContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

// streamFactory keeps reassembly's New out of Engine's method set.
type streamFactory struct{ e *Engine }

func (f streamFactory) New(netFlow, _ gopacket.Flow, tcp *layers.TCP, _ reassembly.AssemblerContext) reassembly.Stream {
	return f.e.newStream(netFlow, tcp)
}

// NewEngine returns an Engine that reports to h.
func NewEngine(cfg Config, h Handler) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("capture: NewEngine needs a Handler")
	}
	e := &Engine{cfg: cfg.withDefaults(), h: h, pooled: map[connKey]*stream{}}
	e.asm = reassembly.NewAssembler(reassembly.NewStreamPool(streamFactory{e}))
	e.asm.MaxBufferedPagesTotal = e.cfg.MaxPages
	e.asm.MaxBufferedPagesPerConnection = e.cfg.MaxPagesPerConn
	return e, nil
}

// Run feeds every packet of src to the Engine until src is exhausted
// (nil), ctx is done (ctx.Err()) or src fails (its error; errors.Is(err,
// ErrTruncated) for a cut file, whose packets before the cut were all
// processed). Run does not end the connections still open: call Finish at
// the end of the input.
func (e *Engine) Run(ctx context.Context, src Source) error {
	defer e.publish()
	return readPackets(ctx, src, e.packet, e.advance)
}

// readPackets reads src until it ends, calling packet for each packet and
// idle with the wall clock when a live source had none for a while; it
// returns nil at the end of the input, ctx.Err() or src's error.
func readPackets(ctx context.Context, src Source, packet func(Packet), idle func(time.Time)) error {
	done := ctx.Done()
	for {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		p, err := src.ReadPacket()
		switch {
		case err == nil:
			packet(p)
		case errors.Is(err, ErrNoPacket):
			idle(time.Now())
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}

// packet processes one frame.
func (e *Engine) packet(p Packet) {
	e.stats.Packets++
	e.stats.Bytes += uint64(p.Info.Length)
	if e.stats.Packets%publishEvery == 0 {
		e.publish()
	}
	flow, tcp, err := e.decodeFrame(p) // e.dec.decode, a panic contained
	if err != nil {
		switch {
		case errors.Is(err, errNotTCP), errors.Is(err, errNotIP):
			e.stats.NonTCP++
		case errors.Is(err, errFragment):
			e.stats.Fragments++
		default:
			e.stats.DecodeErrors++
		}
		return
	}
	e.advance(p.Info.Timestamp)
	if !e.cfg.keep(flow, tcp) {
		e.stats.Filtered++
		return
	}
	if e.ghost(flow, tcp) {
		e.stats.GhostPackets++
		return
	}
	e.curPacket = p
	e.feed(flow, tcp)
	if s := e.cur; s != nil && s.heldCount() > 0 {
		e.releaseAfter(s)
	}
	if e.holding.Len() > 0 && e.heldBytes > e.cfg.MaxHeldBytes {
		e.expireHeld(e.now)
	}
	if e.tracked > e.cfg.MaxFlows {
		e.evict()
	}
}

// ghost reports whether a segment carries nothing (no data, SYN, FIN or
// RST) for a connection neither reassembly nor parking holds: the last ACK
// of a closed connection, which would otherwise hold a reassembly
// connection for IdleTimeout — on a busy link, one per connection closed.
func (e *Engine) ghost(flow gopacket.Flow, tcp *layers.TCP) bool {
	if len(tcp.Payload) > 0 || tcp.SYN || tcp.FIN || tcp.RST {
		return false
	}
	src, _ := netip.AddrFromSlice(flow.Src().Raw())
	dst, _ := netip.AddrFromSlice(flow.Dst().Raw())
	k := keyOf(netip.AddrPortFrom(src.Unmap(), uint16(tcp.SrcPort)), netip.AddrPortFrom(dst.Unmap(), uint16(tcp.DstPort)))
	return e.pooled[k] == nil && e.parking.byKey[k] == nil
}

// feed assembles one segment (again, after a hole it acknowledges was
// declared lost).
func (e *Engine) feed(flow gopacket.Flow, tcp *layers.TCP) {
	e.ac.ci = e.curPacket.Info
	e.assemble(flow, tcp)
	if !e.ackedHole.IsZero() {
		// Reassembly can only flush by age: holes at least as old as the
		// acknowledged one go too, their data is as surely lost.
		e.stats.AckedHoles++
		e.flush(ConnEndIdle, func() { e.asm.FlushWithOptions(reassembly.FlushOptions{T: e.ackedHole.Add(time.Nanosecond)}) })
		e.assemble(flow, tcp)
	}
	if s := e.cur; s != nil && s.rst && !s.ended {
		// A RST closes only its own direction in reassembly; the
		// connection is over all the same.
		e.flushOp(flushOp{s: s, complete: true}, ConnEndRST)
	}
}

func (e *Engine) assemble(flow gopacket.Flow, tcp *layers.TCP) {
	e.cur, e.ackedHole = nil, time.Time{}
	e.inAssemble = true
	// Reassembly unlocks its connection as a panic unwinds: contained
	// here, it costs the packet's connection only.
	defer func() {
		if v := recover(); v != nil {
			e.parserFault(e.cur, "assemble", v)
		}
	}()
	e.asm.AssembleWithContext(flow, tcp, &e.ac)
	e.inAssemble = false
}

// advance moves the packet clock and runs the once-a-second work: flush
// out-of-order data stuck behind a hole, close idle connections, Tick.
func (e *Engine) advance(t time.Time) {
	if e.holding.Len() > 0 {
		e.expireHeld(t)
	}
	if t.After(e.now) {
		e.now = t
	}
	if e.lastTick.IsZero() {
		e.lastTick = e.now
	}
	if e.now.Sub(e.lastTick) < time.Second {
		return
	}
	e.lastTick = e.now
	e.flush(ConnEndIdle, func() {
		e.asm.FlushWithOptions(reassembly.FlushOptions{T: e.now.Add(-e.cfg.GapTimeout), TC: e.now.Add(-e.cfg.IdleTimeout)})
	})
	e.expireParked()
	if e.cfg.Tick != nil {
		e.cfg.Tick(e.now)
	}
	e.publish()
}

// evict ends the least recently active connections, down to 90% of
// MaxFlows so a flood pays for a flush every tenth of the table, not on
// every new flow.
func (e *Engine) evict() {
	target := e.cfg.MaxFlows - e.cfg.MaxFlows/10
	el := e.lru.Front()
	for i := e.tracked - target; i > 1 && el != nil; i-- {
		el = el.Next()
	}
	if el == nil {
		return
	}
	// Reassembly can only close by age: everything as old as the last
	// stream to go goes too.
	cutoff := el.Value.(*stream).lastSeen.Add(time.Nanosecond)
	e.flush(ConnEndEvicted, func() { e.asm.FlushWithOptions(reassembly.FlushOptions{T: cutoff, TC: cutoff}) })
}

// Finish ends every connection still open, with ConnEndInputEnd: bodies
// delimited by the connection's close complete, others are cut.
func (e *Engine) Finish() {
	e.releaseAllHeld()
	e.flush(ConnEndInputEnd, func() { e.asm.FlushAll() })
	e.finishParked()
	e.publish()
}

// flushOp is what a stream received during a flush: bytes of direction
// dir after skip lost ones (end: the direction closed), or, when complete
// is set, the end of the connection.
type flushOp struct {
	s        *stream
	dir      int
	skip     int
	data     []byte
	end      bool
	complete bool
}

// flush runs a reassembly flush and then delivers what it released, one
// connection after the other in Conn.ID order.
func (e *Engine) flush(reason string, run func()) {
	e.flushing, e.closeReason = true, reason
	run()
	e.flushing, e.closeReason = false, ""
	ops := e.flushed
	e.flushed = nil
	slices.SortStableFunc(ops, func(a, b flushOp) int { return cmp.Compare(a.s.conn.ID, b.s.conn.ID) })
	for _, op := range ops {
		e.flushOp(op, reason)
	}
}

// flushOp hands one stream what a flush released, a panic contained to
// that stream.
func (e *Engine) flushOp(op flushOp, reason string) {
	defer func() {
		if v := recover(); v != nil {
			e.parserFault(op.s, "flush", v)
		}
	}()
	if op.complete {
		op.s.complete(reason)
	} else {
		op.s.deliver(op.dir, op.skip, op.data, op.end)
	}
}

// publishEvery is how many packets may pass between two Stats snapshots
// besides the once-a-second tick: a fast replay of a short capture would
// otherwise show nothing until it ends.
const publishEvery = 4096

// Stats returns a snapshot of the counters. It is safe to call from any
// goroutine: while Run runs, the snapshot is at most a second of packet
// time (or 4096 packets) old; after Run or Finish returns, it is exact.
func (e *Engine) Stats() Stats {
	e.publishedMu.Lock()
	defer e.publishedMu.Unlock()
	return e.published
}

// publish takes the snapshot Stats returns, on the Engine's goroutine.
func (e *Engine) publish() {
	s := e.stats
	s.PagesInUse = e.pagesInUse()
	e.publishedMu.Lock()
	e.published = s
	e.publishedMu.Unlock()
}

// pagesInUse reads the page count from Assembler.Dump, the only place
// gopacket v1.1.19 exposes it.
func (e *Engine) pagesInUse() int {
	var used, size, free int
	d := e.asm.Dump()
	if i := strings.Index(d, "used:"); i >= 0 {
		fmt.Sscanf(d[i:], "used: %d, size: %d, free: %d", &used, &size, &free)
	}
	return used
}
