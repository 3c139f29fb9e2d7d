package pcapsynth

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Recorder records the connections a client dials as Conns. It records a
// write before making it, so the peer's answer, read on another goroutine,
// can never be recorded ahead of the bytes it answers.
type Recorder struct {
	mu    sync.Mutex
	conns []*Conn
}

// DialContext returns a dialer for http.Transport that connects to
// realAddr whatever it is asked for, and records the connection as client
// (ports numbered from 40000 in dial order) talking to server.
func (r *Recorder) DialContext(realAddr string, client netip.Addr, server netip.AddrPort) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, realAddr)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		rc := &Conn{Client: netip.AddrPortFrom(client, uint16(40000+len(r.conns))), Server: server, Opened: time.Now()}
		r.conns = append(r.conns, rc)
		r.mu.Unlock()
		return &recordingConn{Conn: c, r: r, c: rc}, nil
	}
}

// Conns returns what was recorded so far.
func (r *Recorder) Conns() []Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Conn, len(r.conns))
	for i, c := range r.conns {
		out[i] = *c
		out[i].Writes = append([]Write(nil), c.Writes...)
	}
	return out
}

type recordingConn struct {
	net.Conn
	r *Recorder
	c *Conn
}

func (rc *recordingConn) add(c2s bool, p []byte) int {
	rc.r.mu.Lock()
	defer rc.r.mu.Unlock()
	rc.c.Writes = append(rc.c.Writes, Write{At: time.Now(), C2S: c2s, Data: append([]byte(nil), p...)})
	return len(rc.c.Writes) - 1
}

func (rc *recordingConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return rc.Conn.Write(p)
	}
	i := rc.add(true, p)
	n, err := rc.Conn.Write(p)
	if n < len(p) {
		rc.r.mu.Lock()
		rc.c.Writes[i].Data = rc.c.Writes[i].Data[:n]
		rc.r.mu.Unlock()
	}
	return n, err
}

func (rc *recordingConn) Read(p []byte) (int, error) {
	n, err := rc.Conn.Read(p)
	if n > 0 {
		rc.add(false, p[:n])
	}
	return n, err
}

func (rc *recordingConn) Close() error {
	rc.r.mu.Lock()
	if rc.c.Closed.IsZero() {
		rc.c.Closed = time.Now()
	}
	rc.r.mu.Unlock()
	return rc.Conn.Close()
}
