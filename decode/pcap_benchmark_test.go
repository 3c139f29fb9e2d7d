package decode

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/benchgen"
	"github.com/mcpwatch/mcpwatch/internal/impair"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// benchCaptureBytes is how much capture BenchmarkPcapToEvents starts
// conversations for; those started finish, so the capture is larger.
const benchCaptureBytes = 8 << 20

// benchFrames generates a capture the way bench/gen does (seed 1, MSS 1460,
// the checked-in real-SDK templates) and returns its frames.
func benchFrames(b *testing.B) ([]capture.Packet, int64) {
	ts, err := benchgen.LoadTemplates("../bench/templates.json.gz")
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := tcprec.NewWriter(&buf, tcprec.Pcap)
	if err != nil {
		b.Fatal(err)
	}
	if err := benchgen.New(ts, 1, tcprec.DefaultMSS, 300*time.Microsecond).Write(w, benchCaptureBytes); err != nil {
		b.Fatal(err)
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		b.Fatal(err)
	}
	var frames []capture.Packet
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return frames, w.Bytes
		}
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, capture.Packet{Data: data, Info: ci, LinkType: r.LinkType()})
	}
}

// BenchmarkPcapToEvents is the sensing path as `mcpwatch run` wires it:
// frames through a fresh capture.Engine and Decoder to events, which are
// dropped. Bytes are frame bytes.
func BenchmarkPcapToEvents(b *testing.B) {
	frames, total := benchFrames(b)
	b.SetBytes(total)
	b.ReportAllocs()
	var events int
	for b.Loop() {
		events = 0
		d, err := New(Config{TokenKey: []byte("k"), Sensor: "bench", Source: "bench"}, func(*event.Event) { events++ })
		if err != nil {
			b.Fatal(err)
		}
		e, err := capture.NewEngine(capture.Config{Tick: d.Tick}, d)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Run(context.Background(), impair.NewSource(frames)); err != nil {
			b.Fatal(err)
		}
		e.Finish()
		d.Finish(time.Time{})
	}
	b.ReportMetric(float64(events), "events/op")
}
