package decode

import (
	"encoding/json"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/event"
)

// faultyDecoder is a Decoder whose nth callback for the connection of
// client target fails as the decoder did in issue 12: a nil session's
// observe. Its Forget, Tick and Finish are the Decoder's.
type faultyDecoder struct {
	*Decoder
	target   netip.AddrPort
	n, calls int
}

func (f *faultyDecoder) hit(c *capture.Conn) {
	if c.Client != f.target {
		return
	}
	if f.calls++; f.calls == f.n {
		var s *session
		s.observe(&message{}, event.DirClientToServer, time.Time{}, 1)
	}
}

func (f *faultyDecoder) Request(req *capture.Request) { f.hit(req.Conn); f.Decoder.Request(req) }
func (f *faultyDecoder) Response(req *capture.Request, resp *capture.Response) {
	f.hit(resp.Conn)
	f.Decoder.Response(req, resp)
}
func (f *faultyDecoder) SSEEvent(req *capture.Request, resp *capture.Response, ev *capture.SSEEvent) {
	f.hit(resp.Conn)
	f.Decoder.SSEEvent(req, resp, ev)
}
func (f *faultyDecoder) ResponseEnd(req *capture.Request, resp *capture.Response) {
	f.hit(resp.Conn)
	f.Decoder.ResponseEnd(req, resp)
}
func (f *faultyDecoder) ConnEnd(c *capture.Conn, end *capture.ConnEnd) {
	f.hit(c)
	f.Decoder.ConnEnd(c, end)
}

// clientOf is the client of an event's connection.
func clientOf(e *event.Event) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(e.ClientAddress + ":" + strconv.Itoa(e.ClientPort))
	return ap
}

// sessionOf names the session an event belongs to: its id, or for
// stateless traffic its client address and server.
func sessionOf(e *event.Event) string {
	if e.SessionID != "" {
		return e.SessionID
	}
	return "L|" + e.ClientAddress + "|" + e.ServerKey
}

// checkFaultContained compares the events of a run in which the
// connection of client target faulted with a clean run's:
//   - the connections that share no session with it give exactly the
//     same events;
//   - those that do keep every message event (same ids), though what the
//     faulted connection would have added to them may be missing
//     (a method learnt from a request it carried, a manifest, or the
//     session's event, which belongs to the connection that opened it);
//   - the faulted connection's events are some of the clean run's, fewer.
func checkFaultContained(t *testing.T, name string, clean, got []*event.Event, target netip.AddrPort) {
	t.Helper()
	shared := map[string]bool{}
	for _, e := range clean {
		if clientOf(e) == target {
			shared[sessionOf(e)] = true
		}
	}
	split := func(evs []*event.Event) (of, peers, apart map[string]*event.Event) {
		of, peers, apart = map[string]*event.Event{}, map[string]*event.Event{}, map[string]*event.Event{}
		for _, e := range evs {
			switch {
			case clientOf(e) == target:
				of[e.EventID] = e
			case shared[sessionOf(e)]:
				peers[e.EventID] = e
			default:
				apart[e.EventID] = e
			}
		}
		return of, peers, apart
	}
	cleanOf, cleanPeers, cleanApart := split(clean)
	gotOf, gotPeers, gotApart := split(got)
	if len(gotApart) != len(cleanApart) {
		t.Errorf("%s: %d events of unrelated connections, clean run %d", name, len(gotApart), len(cleanApart))
	}
	for id, want := range cleanApart {
		if g, w := marshal(t, gotApart[id]), marshal(t, want); g != w {
			t.Errorf("%s: unrelated event changed:\n got %s\nwant %s", name, g, w)
		}
	}
	for id, e := range cleanPeers {
		if e.Kind == event.KindMessage && gotPeers[id] == nil {
			t.Errorf("%s: message event %s of a connection in the same session lost", name, marshal(t, e))
		}
	}
	for id := range gotOf {
		if cleanOf[id] == nil {
			t.Errorf("%s: faulted connection has event %s a clean run does not", name, marshal(t, gotOf[id]))
		}
	}
	if len(gotOf) >= len(cleanOf) {
		t.Errorf("%s: faulted connection kept %d of its %d events", name, len(gotOf), len(cleanOf))
	}
}

func marshal(t *testing.T, e *event.Event) string {
	if e == nil {
		return "<none>"
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// busiestClients are the clients of the capture's connections with the
// most events, most first.
func busiestClients(evs []*event.Event) []netip.AddrPort {
	n := map[netip.AddrPort]int{}
	for _, e := range evs {
		if e.Kind == event.KindMessage {
			n[clientOf(e)]++
		}
	}
	return slices.SortedFunc(maps.Keys(n), func(a, b netip.AddrPort) int {
		if n[a] != n[b] {
			return n[b] - n[a]
		}
		return a.Compare(b)
	})
}

// TestFaultDropsOnlyItsConnection: in every checked-in capture, a panic in
// the third callback of the connection with the most messages (and of the
// second most, which in HTTP+SSE captures is the other side of the
// session) drops that connection: no event of it after the fault, the
// fault counted, the connection forgotten, and the other connections'
// events as checkFaultContained says.
func TestFaultDropsOnlyItsConnection(t *testing.T) {
	pcaps, err := filepath.Glob(filepath.Join(captureDir, "*.pcap"))
	if err != nil || len(pcaps) == 0 {
		t.Fatalf("no captures in %s (%v)", captureDir, err)
	}
	for _, path := range append(pcaps, "../testdata/demo.pcap") {
		clean, _ := decodePcap(t, path, Config{})
		clients := busiestClients(clean)
		for _, target := range clients[:min(2, len(clients))] {
			d, evs := collect(t, Config{})
			fd := &faultyDecoder{Decoder: d, target: target, n: 3}
			var faults []capture.Fault
			c := capture.Contain(fd, func(f capture.Fault) { faults = append(faults, f) })
			runPcap(t, path, d, c)
			name := filepath.Base(path) + " " + target.String()
			if len(faults) != 1 || d.Stats().Faults != 1 {
				t.Errorf("%s: %d faults reported, %d counted; want 1", name, len(faults), d.Stats().Faults)
				continue
			}
			if !strings.HasPrefix(faults[0].Frame, "decode.(*session).observe session.go:") {
				t.Errorf("%s: fault at %q", name, faults[0].Frame)
			}
			if _, open := d.conns[faults[0].Conn.ID]; open {
				t.Errorf("%s: faulted connection still held", name)
			}
			checkFaultContained(t, name, clean, *evs, target)
		}
	}
}
