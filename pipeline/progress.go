package pipeline

import (
	"log/slog"
	"os"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
)

// progressEvery is how often a long capture reports how far it got.
const progressEvery = 5 * time.Second

// pcapRecordHeader is the per-packet overhead of a pcap file, used to
// estimate how much of the file the engine has read from its frame bytes.
const pcapRecordHeader = 16

// progress logs how far the reading of one packet input got, at most every
// progressEvery of wall time; short captures log nothing.
type progress struct {
	log   *slog.Logger
	name  string // the input's name: pcap:FILE, iface:NAME
	path  string // the capture file; empty for an interface
	size  int64
	start time.Time
	last  time.Time
}

// newProgress reports on reading the input in; the percentage read is left
// out for an interface and a compressed file.
func newProgress(log *slog.Logger, in input) *progress {
	p := &progress{log: log, name: in.name, path: in.path, start: time.Now()}
	p.last = p.start
	if c, ok := in.src.(interface{ Compressed() bool }); in.path == "" || ok && c.Compressed() {
		return p
	}
	if fi, err := os.Stat(in.path); err == nil {
		p.size = fi.Size()
	}
	return p
}

func (p *progress) report(st capture.Stats) {
	now := time.Now()
	if now.Sub(p.last) < progressEvery {
		return
	}
	p.last = now
	read := int64(st.Bytes + pcapRecordHeader*st.Packets)
	elapsed := now.Sub(p.start).Seconds()
	args := []any{"input", p.name, "packets", st.Packets, "MB", read >> 20, "MB_per_s", int(float64(read) / elapsed / 1e6), "flows", st.FlowsCreated}
	if p.size > 0 {
		args = append(args, "percent", min(100, 100*read/p.size))
	}
	p.log.Info("reading", args...)
}

// meteredSource calls hook about every interval of wall time from the
// goroutine reading the source, however sparse or dense the packet
// timestamps are.
type meteredSource struct {
	capture.Source
	every time.Duration
	hook  func()
	n     int
	last  time.Time
}

// checkEvery is how many packets pass between two looks at the clock.
const checkEvery = 1024

func (m *meteredSource) ReadPacket() (capture.Packet, error) {
	m.n++
	if m.n%checkEvery == 0 {
		if now := time.Now(); now.Sub(m.last) >= m.every {
			m.last = now
			m.hook()
		}
	}
	return m.Source.ReadPacket()
}
