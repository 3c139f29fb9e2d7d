package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/decode"
	"github.com/mcpwatch/mcpwatch/event"
)

// panicOn is a shard's decoder that panics on the nth callback for the
// connection of client target, before the decoder sees it.
type panicOn struct {
	*decode.Decoder
	target   netip.AddrPort
	n, calls int
}

func (p *panicOn) hit(c *capture.Conn) {
	if c.Client == p.target {
		if p.calls++; p.calls == p.n {
			panic(fmt.Sprintf("injected fault %d", p.n))
		}
	}
}

func (p *panicOn) Request(req *capture.Request) { p.hit(req.Conn); p.Decoder.Request(req) }
func (p *panicOn) Response(req *capture.Request, resp *capture.Response) {
	p.hit(resp.Conn)
	p.Decoder.Response(req, resp)
}
func (p *panicOn) SSEEvent(req *capture.Request, resp *capture.Response, ev *capture.SSEEvent) {
	p.hit(resp.Conn)
	p.Decoder.SSEEvent(req, resp, ev)
}
func (p *panicOn) ResponseEnd(req *capture.Request, resp *capture.Response) {
	p.hit(resp.Conn)
	p.Decoder.ResponseEnd(req, resp)
}

func eventClient(e *event.Event) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(e.ClientAddress + ":" + strconv.Itoa(e.ClientPort))
	return ap
}

// eventLines are the events of client target's connection (of) and of
// the others, one JSON line each, sorted.
func eventLines(t *testing.T, evs []*event.Event, target netip.AddrPort) (of, others []string) {
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if eventClient(e) == target {
			of = append(of, e.EventID)
		} else {
			others = append(others, string(b))
		}
	}
	slices.Sort(of)
	slices.Sort(others)
	return of, others
}

// tcpEndpoints are the address pairs of a capture's frames, in order.
func tcpEndpoints(t *testing.T, path string) [][2]netip.AddrPort {
	src, err := capture.OpenPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out [][2]netip.AddrPort
	for {
		p, err := src.ReadPacket()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		pkt := gopacket.NewPacket(p.Data, p.LinkType, gopacket.Default)
		ip, _ := pkt.NetworkLayer().(*layers.IPv4)
		tcp, _ := pkt.TransportLayer().(*layers.TCP)
		if ip == nil || tcp == nil {
			t.Fatalf("%s: frame %d is not TCP over IPv4", path, len(out))
		}
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.SrcIP.To4())), uint16(tcp.SrcPort))
		b := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.DstIP.To4())), uint16(tcp.DstPort))
		out = append(out, [2]netip.AddrPort{a, b})
	}
}

// TestRunContainsDecoderFault: with one and two capture shards, a panic in
// the decoder on the third callback for one connection of the demo capture
// does not end the run. The fault is logged once with the connection and
// counted in the summary, the other connections' events are exactly a
// clean run's, and --dump-failures writes a pcap with that connection's
// packets that reproduces the fault when it is run.
func TestRunContainsDecoderFault(t *testing.T) {
	const pcap = "../testdata/demo.pcap"
	for _, shards := range []int{1, 2} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			cfg := testConfig(t, pcap)
			cfg.CaptureShards = shards
			clean, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			cleanEvents := readEvents(t, cfg.EventsOut)
			if len(clean.Faults) != 0 {
				t.Fatalf("clean run contained faults: %v", clean.Faults)
			}
			target := eventClient(cleanEvents[0])

			run := func(pcap string) (*Summary, []*event.Event, string) {
				cfg := testConfig(t, pcap)
				cfg.CaptureShards = shards
				cfg.FailureDumps.Dir = t.TempDir()
				var logs bytes.Buffer
				cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
				cfg.wrapHandler = func(_ int, d *decode.Decoder) capture.Handler { return &panicOn{Decoder: d, target: target, n: 3} }
				summary, err := Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				return summary, readEvents(t, cfg.EventsOut), logs.String()
			}
			summary, evs, logs := run(pcap)
			f := summary.Faults[faultStageDecode]
			if len(summary.Faults) != 1 || f.Count != 1 || len(f.Frames) != 1 {
				t.Fatalf("faults %+v, want one in decode", summary.Faults)
			}
			var printed bytes.Buffer
			summary.Print(&printed)
			if want := "faults contained: decode 1 (pipeline.(*panicOn).hit faults_test.go:"; !strings.Contains(printed.String(), want) {
				t.Errorf("summary does not say %q:\n%s", want, printed.String())
			}
			var faultLines []string
			for _, l := range strings.Split(logs, "\n") {
				if strings.Contains(l, "fault contained") {
					faultLines = append(faultLines, l)
				}
			}
			if len(faultLines) != 1 || !strings.Contains(faultLines[0], "client="+target.String()) || !strings.Contains(faultLines[0], `panic="injected fault 3"`) ||
				!strings.Contains(faultLines[0], "at=\"pipeline.(*panicOn).hit faults_test.go:") || !strings.Contains(faultLines[0], "proto=tcp") {
				t.Errorf("fault log lines %q", faultLines)
			}

			cleanOf, cleanOthers := eventLines(t, cleanEvents, target)
			gotOf, gotOthers := eventLines(t, evs, target)
			if len(cleanOthers) == 0 || !slices.Equal(gotOthers, cleanOthers) {
				t.Errorf("the other connections' events differ from a clean run's (%d and %d events)", len(gotOthers), len(cleanOthers))
			}
			if len(gotOf) >= len(cleanOf) {
				t.Errorf("faulted connection: %d events, clean run %d", len(gotOf), len(cleanOf))
			}
			for _, id := range gotOf {
				if !slices.Contains(cleanOf, id) {
					t.Errorf("faulted connection has event %s a clean run does not", id)
				}
			}

			if len(summary.FailureDumps) != 1 || !strings.Contains(printed.String(), summary.FailureDumps[0]) {
				t.Fatalf("dumps %v", summary.FailureDumps)
			}
			dump := summary.FailureDumps[0]
			var want [][2]netip.AddrPort
			for _, ep := range tcpEndpoints(t, pcap) {
				if ep[0] == target || ep[1] == target {
					want = append(want, ep)
				}
			}
			if got := tcpEndpoints(t, dump); !slices.Equal(got, want) {
				t.Errorf("dump holds %d frames, want the connection's %d", len(got), len(want))
			}
			again, _, _ := run(dump)
			if f := again.Faults[faultStageDecode]; f.Count != 1 || !maps.Equal(f.Frames, summary.Faults[faultStageDecode].Frames) {
				t.Errorf("replaying the dump: faults %+v, want the same fault", again.Faults)
			}
		})
	}
}
