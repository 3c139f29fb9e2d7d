package capture

import (
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Stages a Fault can be contained at.
const (
	// FaultPacket: decoding one frame's link, IP and TCP headers panicked.
	// The Engine skips the frame (counted in Stats.Faults and
	// Stats.DecodeErrors) and goes on with the next.
	FaultPacket = "packet"
	// FaultHandler: one Handler call panicked (see Contain).
	FaultHandler = "handler"
	// FaultParser: reassembly or the HTTP/SSE parsers panicked on one
	// connection's bytes. The Engine stops parsing that connection (its
	// bytes still count, it still ends with ConnEnd) and goes on with the
	// others.
	FaultParser = "parser"
)

// Fault is a panic contained at a stage boundary: what panicked, where, and
// on which connection, so that it can be counted, logged and reproduced.
type Fault struct {
	Stage string // FaultPacket or FaultHandler
	// Call is the Handler method that panicked ("Request", "SSEEvent",
	// "Tick", …), or "decode" for a frame.
	Call string
	// Conn is the connection whose call panicked; nil for a frame and for
	// Tick and Finish, which belong to no connection.
	Conn *Conn
	// Client and Server are the TCP endpoints: Conn's, or for a frame the
	// addresses its headers give, when they could be read (zero otherwise).
	Client, Server netip.AddrPort
	// Packet is the frame that panicked (FaultPacket only), copied.
	Packet *Packet
	// Request, Response and Event are the arguments of the Handler call
	// that panicked, where it had them (FaultHandler only), for a
	// reproducer; they are valid only during the report.
	Request  *Request
	Response *Response
	Event    *SSEEvent
	// Time is the packet time of the call or frame.
	Time time.Time
	// Value is what was passed to panic; Frame the function and file:line
	// the panic came from ("decode.(*session).observe session.go:104");
	// Stack the goroutine's stack at the panic.
	Value any
	Frame string
	Stack []byte
}

// String describes the fault in one line, without the stack.
func (f Fault) String() string {
	conn := "-"
	if f.Client.IsValid() {
		conn = f.Client.String() + " → " + f.Server.String()
	}
	return fmt.Sprintf("%s %s panicked on %s: %v at %s", f.Stage, f.Call, conn, f.Value, f.Frame)
}

// newFault builds a Fault from a recovered panic value; call it from the
// deferred function that recovered, so the panicking frames are still on
// the stack.
func newFault(stage, call string, v any, t time.Time) Fault {
	return Fault{Stage: stage, Call: call, Value: v, Time: t, Frame: panicFrame(), Stack: debug.Stack()}
}

// panicFrame names the function that panicked: the first frame below the
// runtime's panic machinery (runtime.gopanic, and for a nil dereference
// runtime.sigpanic) that is not the runtime's own.
func panicFrame() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	inPanic := false
	for {
		fr, more := frames.Next()
		switch {
		case fr.Function == "runtime.gopanic":
			inPanic = true
		case inPanic && !strings.HasPrefix(fr.Function, "runtime."):
			return path.Base(fr.Function) + " " + filepath.Base(fr.File) + ":" + fmt.Sprint(fr.Line)
		}
		if !more {
			return "?"
		}
	}
}

// decodeFrame is the Engine's frame decoding with a panic contained: a frame
// that makes the header decoders panic is reported and skipped like any
// malformed frame, it cannot end the run.
func (e *Engine) decodeFrame(p Packet) (gopacket.Flow, *layers.TCP, error) {
	return e.containFrame(p, e.dec.decode)
}

func (e *Engine) containFrame(p Packet, decode func(layers.LinkType, []byte) (gopacket.Flow, *layers.TCP, error)) (flow gopacket.Flow, tcp *layers.TCP, err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		e.stats.Faults++
		f := newFault(FaultPacket, "decode", v, p.Info.Timestamp)
		cp := p
		cp.Data = append([]byte(nil), p.Data...)
		f.Packet = &cp
		f.Client, f.Server, _ = frameEndpoints(p.LinkType, p.Data)
		if e.cfg.Fault != nil {
			e.cfg.Fault(f)
		}
		flow, tcp, err = gopacket.Flow{}, nil, fmt.Errorf("frame decoding panicked: %v", v)
	}()
	return decode(p.LinkType, p.Data)
}

// parserFault handles a panic v of reassembly or the parsers while they
// handled connection s (nil if not known): s is parsed no further, and the
// fault is counted and reported. Call it from the deferred function that
// recovered, so the panicking frames are still on the stack.
func (e *Engine) parserFault(s *stream, call string, v any) {
	e.stats.Faults++
	e.inAssemble = false
	f := newFault(FaultParser, call, v, e.now)
	if s != nil && !s.ghost {
		f.Conn, f.Client, f.Server = &s.conn, s.conn.Client, s.conn.Server
		s.notHTTP()
		s.tlsBuf = nil
	}
	if e.cfg.Fault != nil {
		e.cfg.Fault(f)
	}
}

// frameEndpoints reads the TCP endpoints of a frame without gopacket:
// addresses from the IP header, ports from the first four bytes after it.
// Which side is the client is not known; the lower port is taken as the
// server's. It never panics, whatever the frame.
func frameEndpoints(lt layers.LinkType, data []byte) (a, b netip.AddrPort, ok bool) {
	ip, err := networkPayload(lt, data)
	if err != nil || len(ip) == 0 {
		return a, b, false
	}
	var src, dst netip.Addr
	var tcp []byte
	switch ip[0] >> 4 {
	case 4:
		ihl := int(ip[0]&0x0f) * 4
		if len(ip) < 20 || ihl < 20 || len(ip) < ihl+4 || ip[9] != byte(layers.IPProtocolTCP) {
			return a, b, false
		}
		if ip[6]&0x20 != 0 || (ip[6]&0x1f != 0 || ip[7] != 0) { // fragment
			return a, b, false
		}
		src, dst, tcp = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20])), ip[ihl:]
	case 6:
		if len(ip) < 44 || ip[6] != byte(layers.IPProtocolTCP) {
			return a, b, false
		}
		src, dst, tcp = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40])), ip[40:]
	default:
		return a, b, false
	}
	sp, dp := uint16(tcp[0])<<8|uint16(tcp[1]), uint16(tcp[2])<<8|uint16(tcp[3])
	a, b = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	if sp < dp {
		a, b = b, a
	}
	return a, b, true
}

// Forgetter is a Handler that can drop what it keeps for one connection.
// Contain calls Forget once after a call for conn panicked, in place of
// every later call for conn, ConnEnd included: what the Handler kept for
// conn may be half updated, and the connection ends there for it. After a
// panic in Tick or Finish, which belong to no connection, conn is nil:
// nothing to drop, but the Handler learns of the fault (to count it).
type Forgetter interface {
	Forget(conn *Conn)
}

// Contained is a Handler that passes every call on to another and contains
// its panics (see Contain). Like the Handler it wraps, it is called from
// one goroutine; Faults may be read from any.
type Contained struct {
	h      Handler
	report func(Fault)
	// faulted holds the connections whose calls panicked, until their
	// ConnEnd: the Engine keeps at most MaxFlows connections, and so does
	// this set.
	faulted map[*Conn]bool
	faults  atomic.Uint64
}

var _ Handler = (*Contained)(nil)

// Contain returns a Handler that calls h and recovers a panic in any call,
// so that no traffic content can end the process through a bug of h.
//
// A panic in a call for a connection (Request, Response, SSEEvent,
// ResponseEnd, ConnEnd) ends that connection for h: Contain reports a
// Fault, calls h's Forget (if h is a Forgetter) and passes no further call
// for the connection on to h; the other connections go on as if it had not
// been there. A panic in Tick or Finish (passed on when h has
// Tick(time.Time) or Finish(time.Time) methods) is reported and the call
// returns; the next Tick runs as usual. report, if not nil, is called on
// the calling goroutine, after the panic was recovered.
func Contain(h Handler, report func(Fault)) *Contained {
	return &Contained{h: h, report: report, faulted: map[*Conn]bool{}}
}

// Faults is how many panics were contained.
func (c *Contained) Faults() uint64 { return c.faults.Load() }

// fault is deferred by every call for a connection.
func (c *Contained) fault(call string, conn *Conn, t time.Time, req *Request, resp *Response, ev *SSEEvent) {
	v := recover()
	if v == nil {
		return
	}
	f := newFault(FaultHandler, call, v, t)
	f.Request, f.Response, f.Event = req, resp, ev
	if conn != nil {
		f.Conn, f.Client, f.Server = conn, conn.Client, conn.Server
		c.faulted[conn] = true
	}
	c.faults.Add(1)
	if fg, ok := c.h.(Forgetter); ok {
		// Forget is the Handler's code too: should it panic as well,
		// that is the same fault, reported below.
		func() {
			defer func() { recover() }()
			fg.Forget(conn)
		}()
	}
	if c.report != nil {
		c.report(f)
	}
}

// Request implements Handler.
func (c *Contained) Request(req *Request) {
	if c.faulted[req.Conn] {
		return
	}
	defer c.fault("Request", req.Conn, req.Time, req, nil, nil)
	c.h.Request(req)
}

// Response implements Handler.
func (c *Contained) Response(req *Request, resp *Response) {
	if c.faulted[resp.Conn] {
		return
	}
	defer c.fault("Response", resp.Conn, resp.Time, req, resp, nil)
	c.h.Response(req, resp)
}

// SSEEvent implements Handler.
func (c *Contained) SSEEvent(req *Request, resp *Response, ev *SSEEvent) {
	if c.faulted[resp.Conn] {
		return
	}
	defer c.fault("SSEEvent", resp.Conn, ev.Time, req, resp, ev)
	c.h.SSEEvent(req, resp, ev)
}

// ResponseEnd implements Handler.
func (c *Contained) ResponseEnd(req *Request, resp *Response) {
	if c.faulted[resp.Conn] {
		return
	}
	defer c.fault("ResponseEnd", resp.Conn, resp.End, req, resp, nil)
	c.h.ResponseEnd(req, resp)
}

// ConnEnd implements Handler. A connection that faulted ends here for the
// Contained Handler too: h forgot it already.
func (c *Contained) ConnEnd(conn *Conn, end *ConnEnd) {
	if c.faulted[conn] {
		delete(c.faulted, conn)
		return
	}
	defer delete(c.faulted, conn) // runs after fault: no call comes after ConnEnd
	defer c.fault("ConnEnd", conn, end.Time, nil, nil, nil)
	c.h.ConnEnd(conn, end)
}

// Tick calls h's Tick(time.Time), if it has one.
func (c *Contained) Tick(now time.Time) {
	if t, ok := c.h.(interface{ Tick(time.Time) }); ok {
		defer c.fault("Tick", nil, now, nil, nil, nil)
		t.Tick(now)
	}
}

// Finish calls h's Finish(time.Time), if it has one.
func (c *Contained) Finish(now time.Time) {
	if f, ok := c.h.(interface{ Finish(time.Time) }); ok {
		defer c.fault("Finish", nil, now, nil, nil, nil)
		f.Finish(now)
	}
}
