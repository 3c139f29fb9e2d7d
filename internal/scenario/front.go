package scenario

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"sort"
	"sync"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// Front is a reverse proxy (httputil.ReverseProxy) in front of a scenario
// Server, standing where a TLS-terminating ingress proxy stands: clients
// that Connect after Front reach the proxy, which forwards to the real
// go-sdk server. The wrap handler given to Front sees every exchange as
// the proxy does — where a test writes proxy logs (tap traces, HAR, access
// logs) of the very conversation the Recorder captures between client and
// proxy.
type Front struct {
	hs *http.Server
	l  net.Listener
	as netip.AddrPort // the server's address in the capture

	mu sync.Mutex
	// first holds, per accepted connection (by its loopback peer address),
	// the first bytes the client sent, to find it among the recorded
	// conversations.
	first map[string][]byte
}

// Front starts the proxy on a loopback port and points the Server's
// clients at it. Close it after the conversation.
func (s *Server) Front(wrap func(upstream http.Handler) http.Handler) (*Front, error) {
	target := &url.URL{Scheme: "http", Host: s.realAddr}
	rp := httputil.NewSingleHostReverseProxy(target)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the front of %s: %w", s.Spec.Name, err)
	}
	f := &Front{as: s.Spec.As, first: map[string][]byte{}}
	f.l = &sniffListener{Listener: l, f: f}
	f.hs = &http.Server{Handler: wrap(rp)}
	go f.hs.Serve(f.l)
	s.realAddr = l.Addr().String()
	return f, nil
}

// Close stops the proxy.
func (f *Front) Close() error { return f.hs.Close() }

// Peers maps each connection the proxy accepted — by the loopback address
// its handler saw in http.Request.RemoteAddr — to the client address rec
// gave it in the capture, matching connections by the bytes they began
// with (and, among equal beginnings, by order).
func (f *Front) Peers(rec *tcprec.Recorder) (map[string]netip.AddrPort, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	used := map[int]bool{}
	convs := rec.Recorded()
	out := map[string]netip.AddrPort{}
	for _, peer := range peersInOrder(f.first) {
		first := f.first[peer]
		found := false
		for i, c := range convs {
			if used[i] || c.Server != f.as || !bytes.HasPrefix(clientPrefix(c, len(first)), first) {
				continue
			}
			used[i], found = true, true
			out[peer] = c.Client
			break
		}
		if !found {
			return nil, fmt.Errorf("front connection from %s matches no recorded conversation", peer)
		}
	}
	return out, nil
}

// clientPrefix is the first n bytes the client of c sent, across writes.
func clientPrefix(c tcprec.Conversation, n int) []byte {
	var b []byte
	for _, s := range c.Segments {
		if len(b) >= n {
			break
		}
		if s.C2S {
			b = append(b, s.Data...)
		}
	}
	return b
}

// peersInOrder sorts loopback peers by port, which the kernel hands out
// mostly in increasing order; it only decides among connections that
// began with the same bytes.
func peersInOrder(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, ea := netip.ParseAddrPort(keys[i])
		b, eb := netip.ParseAddrPort(keys[j])
		if ea != nil || eb != nil {
			return keys[i] < keys[j]
		}
		return a.Compare(b) < 0
	})
	return keys
}

type sniffListener struct {
	net.Listener
	f *Front
}

func (l *sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, f: l.f}, nil
}

// sniffConn keeps the first bytes a client sends (up to 256, from its
// first read).
type sniffConn struct {
	net.Conn
	f    *Front
	seen bool
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.seen && n > 0 {
		c.seen = true
		c.f.mu.Lock()
		c.f.first[c.RemoteAddr().String()] = append([]byte(nil), p[:min(n, 256)]...)
		c.f.mu.Unlock()
	}
	return n, err
}

// FrontedResult is what RunFronted produced: the Result and, per
// conversation, the loopback peer → capture client address map of its
// Front.
type FrontedResult struct {
	*Result
	Peers []map[string]netip.AddrPort
}

// RunFronted plays the conversations like Run, each server behind a Front
// whose handler is wrap(i, proxy) for conversation i.
func RunFronted(ctx context.Context, convs []Conversation, wrap func(conv int, proxy http.Handler) http.Handler) (*FrontedResult, error) {
	res := &FrontedResult{Result: &Result{Recorder: &tcprec.Recorder{}}}
	for i, c := range convs {
		log := &Log{}
		peers, err := runFronted(ctx, res.Recorder, c, log, func(h http.Handler) http.Handler { return wrap(i, h) })
		if err != nil {
			return nil, err
		}
		res.Logs = append(res.Logs, log)
		res.Peers = append(res.Peers, peers)
	}
	return res, nil
}

func runFronted(ctx context.Context, rec *tcprec.Recorder, c Conversation, log *Log, wrap func(http.Handler) http.Handler) (map[string]netip.AddrPort, error) {
	srv, err := StartServer(c.Server)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	front, err := srv.Front(wrap)
	if err != nil {
		return nil, err
	}
	defer front.Close()
	cs, err := srv.Connect(ctx, rec, c.Client, log)
	if err != nil {
		return nil, err
	}
	if err := DemoConversation(ctx, cs); err != nil {
		cs.Close()
		return nil, fmt.Errorf("%s → %s: %w", c.Client.Name, c.Server.Name, err)
	}
	if err := cs.Close(); err != nil {
		return nil, err
	}
	return front.Peers(rec)
}
