package tcprec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// recordExchanges records n keep-alive GETs against a real net/http server.
func recordExchanges(t *testing.T, n int) *Recorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Repeat("x", 4000)) // more than one MSS
	})}
	go srv.Serve(l)
	defer srv.Close()
	rec := &Recorder{}
	client := &http.Client{Transport: &http.Transport{DialContext: rec.DialContext(l.Addr().String(),
		netip.MustParseAddr("10.1.0.1"), netip.MustParseAddrPort("10.0.0.5:80"))}}
	for i := range n {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", fmt.Sprintf("http://svc.example/%d", i), nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	client.CloseIdleConnections()
	return rec
}

type frame struct {
	c2s     bool
	flags   string
	seq     uint32
	payload []byte
}

func readFrames(t *testing.T, r io.Reader, format Format) []frame {
	t.Helper()
	var src gopacket.PacketDataSource
	switch format {
	case Pcap:
		pr, err := pcapgo.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		src = pr
	case PcapNG:
		nr, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		src = nr
	}
	var out []frame
	for {
		data, _, err := src.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil {
			t.Fatalf("frame without TCP: %v", p)
		}
		var flags string
		for _, f := range []struct {
			set  bool
			name string
		}{{tcp.SYN, "S"}, {tcp.ACK, "A"}, {tcp.FIN, "F"}} {
			if f.set {
				flags += f.name
			}
		}
		out = append(out, frame{c2s: tcp.DstPort == 80, flags: flags, seq: tcp.Seq, payload: tcp.Payload})
	}
}

func TestCaptureIsAValidTCPConversation(t *testing.T) {
	for _, format := range []Format{Pcap, PcapNG} {
		rec := recordExchanges(t, 3)
		var buf bytes.Buffer
		if err := rec.WriteTo(&buf, format); err != nil {
			t.Fatal(err)
		}
		frames := readFrames(t, &buf, format)
		if len(frames) < 6 || frames[0].flags != "S" || frames[1].flags != "SA" || frames[2].flags != "A" {
			t.Fatalf("format %d: no three-way handshake at the start: %+v", format, frames[:min(3, len(frames))])
		}
		if last := frames[len(frames)-3:]; last[0].flags != "AF" || last[1].flags != "AF" {
			t.Errorf("format %d: no FIN exchange at the end: %+v", format, last)
		}
		// Reassemble each direction by sequence number: the streams must be
		// contiguous and each response must follow its request.
		var c2s, s2c bytes.Buffer
		next := map[bool]uint32{true: frames[0].seq + 1, false: frames[1].seq + 1}
		var order []string
		for _, f := range frames {
			if len(f.payload) == 0 {
				continue
			}
			if f.seq != next[f.c2s] {
				t.Fatalf("format %d: c2s=%v segment at seq %d, want %d", format, f.c2s, f.seq, next[f.c2s])
			}
			if len(f.payload) > DefaultMSS {
				t.Fatalf("segment of %d bytes exceeds the MSS", len(f.payload))
			}
			next[f.c2s] += uint32(len(f.payload))
			if f.c2s {
				c2s.Write(f.payload)
				if bytes.HasPrefix(f.payload, []byte("GET ")) {
					order = append(order, "request")
				}
			} else {
				s2c.Write(f.payload)
				if bytes.HasPrefix(f.payload, []byte("HTTP/1.1 200")) {
					order = append(order, "response")
				}
			}
		}
		if got := strings.Join(order, ","); got != "request,response,request,response,request,response" {
			t.Errorf("format %d: exchange order %s", format, got)
		}
		if strings.Count(s2c.String(), strings.Repeat("x", 4000)) != 3 || strings.Count(c2s.String(), "Host: svc.example") != 3 {
			t.Errorf("format %d: reassembled streams lack the payloads", format)
		}
	}
}
