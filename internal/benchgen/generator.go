package benchgen

import (
	"bytes"
	"container/heap"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// Generator replicates templates into one capture.
type Generator struct {
	templates []Template
	total     int
	rng       *rand.Rand
	mss       int
	gap       time.Duration
	next      time.Time
	// Replicas counts the conversations started, Packets the packets written.
	Replicas  int
	Packets   int64
	sessionRE *regexp.Regexp
	// Progress, when set, receives a line every 100 MB written.
	Progress io.Writer
}

// New returns a Generator over ts seeded with seed: segments carry at most
// mss bytes of payload and conversations start gap apart on average (which
// sets how many overlap). Captures start at 2026-11-27 09:00 UTC.
func New(ts []Template, seed uint64, mss int, gap time.Duration) *Generator {
	total := 0
	for _, t := range ts {
		total += t.Weight
	}
	return &Generator{
		templates: ts, total: total, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		mss: mss, gap: gap, next: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC),
		sessionRE: regexp.MustCompile(`(?i)mcp-session-id: ([^\r\n]+)`),
	}
}

// Write merges replicas by packet time until limit bytes are written, then
// lets the conversations already started finish.
func (g *Generator) Write(w *tcprec.Writer, limit int64) error {
	var active cursorHeap
	nextStart := g.next
	var lastReport int64
	for {
		if w.Bytes < limit && (active.Len() == 0 || !nextStart.After(active[0].at())) {
			heap.Push(&active, &cursor{pkts: g.replica(nextStart)})
			nextStart = nextStart.Add(time.Duration(g.rng.ExpFloat64() * float64(g.gap)))
			continue
		}
		if active.Len() == 0 {
			return nil
		}
		c := active[0]
		if err := w.Write(c.pkts[c.i]); err != nil {
			return err
		}
		g.Packets++
		c.i++
		if c.i == len(c.pkts) {
			heap.Pop(&active)
		} else {
			heap.Fix(&active, 0)
		}
		if g.Progress != nil && w.Bytes-lastReport >= 100<<20 {
			lastReport = w.Bytes
			fmt.Fprintf(g.Progress, "  %d MB, %d conversations\n", w.Bytes>>20, g.Replicas)
		}
	}
}

// replica copies a weighted random template to start at start, from its own
// client address, with fresh session ids.
func (g *Generator) replica(start time.Time) []tcprec.Packet {
	t := g.pick()
	k := g.Replicas
	g.Replicas++
	client := netip.AddrFrom4([4]byte{10, byte(1 + k/64000%200), byte(k / 250 % 256), byte(k%250 + 1)})
	origin := t.Convs[0].Opened
	ids := g.sessionIDs(t, k)
	var pkts []tcprec.Packet
	for j, tc := range t.Convs {
		conv := &tcprec.Conversation{
			Client: netip.AddrPortFrom(client, uint16(20000+(k/64000+j)%40000)),
			Server: tc.Server,
			Opened: start.Add(tc.Opened.Sub(origin)),
		}
		if !tc.Closed.IsZero() {
			conv.Closed = start.Add(tc.Closed.Sub(origin))
		}
		for _, s := range tc.Segments {
			data := s.Data
			for old, repl := range ids {
				if bytes.Contains(data, []byte(old)) {
					data = bytes.ReplaceAll(data, []byte(old), repl)
				}
			}
			conv.Segments = append(conv.Segments, tcprec.Segment{At: start.Add(s.At.Sub(origin)), C2S: s.C2S, Data: data})
		}
		pkts = append(pkts, tcprec.Synthesize(conv, g.mss)...)
	}
	sort.SliceStable(pkts, func(a, b int) bool { return pkts[a].At.Before(pkts[b].At) })
	return pkts
}

func (g *Generator) pick() *Template {
	n := g.rng.IntN(g.total)
	for i := range g.templates {
		if n < g.templates[i].Weight {
			return &g.templates[i]
		}
		n -= g.templates[i].Weight
	}
	return &g.templates[len(g.templates)-1]
}

// sessionIDs maps each Mcp-Session-Id of the template to a same-length id
// unique to replica k, so replicas are distinct sessions.
func (g *Generator) sessionIDs(t *Template, k int) map[string][]byte {
	ids := map[string][]byte{}
	for _, c := range t.Convs {
		for _, s := range c.Segments {
			for _, m := range g.sessionRE.FindAllSubmatch(s.Data, -1) {
				old := string(m[1])
				if _, done := ids[old]; done {
					continue
				}
				sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", old, k)))
				repl := []byte(strings.Repeat(hex.EncodeToString(sum[:]), len(old)/64+1)[:len(old)])
				ids[old] = repl
			}
		}
	}
	return ids
}

type cursor struct {
	pkts []tcprec.Packet
	i    int
}

func (c *cursor) at() time.Time { return c.pkts[c.i].At }

type cursorHeap []*cursor

func (h cursorHeap) Len() int           { return len(h) }
func (h cursorHeap) Less(i, j int) bool { return h[i].at().Before(h[j].at()) }
func (h cursorHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)        { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
