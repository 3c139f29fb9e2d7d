// Command gen writes a large, realistic MCP capture for benchmarks,
// deterministically from a seed.
//
//	go run ./bench/gen -out bench/out/mcp-1g.pcap -size 1GB -seed 1
//	go run ./bench/gen -record   # re-record bench/templates.json.gz from the real SDK
//
// The capture replicates templates — conversations recorded once from real
// official Go SDK servers and clients (SSE and JSON responses, stateful and
// stateless sessions, tools/call results from 1 KB to 200 KB), plain REST
// JSON and real TLS sessions — across many concurrent clients, each with
// its own address and Mcp-Session-Id, segmented at MSS 1460 like a span port.
// The templates are checked in, so the same seed gives the same bytes.
package main

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

func main() {
	out := flag.String("out", "bench/out/mcp-1g.pcap", "capture file to write")
	size := flag.String("size", "1GB", "stop starting new conversations once this much is written (KB, MB, GB)")
	seed := flag.Uint64("seed", 1, "random seed: the same seed gives the same capture")
	mss := flag.Int("mss", tcprec.DefaultMSS, "TCP payload per segment")
	gap := flag.Duration("gap", 300*time.Microsecond, "mean time between conversation starts (sets concurrency)")
	templates := flag.String("templates", "bench/templates.json.gz", "recorded conversation templates")
	record := flag.Bool("record", false, "re-record the templates from real SDK servers and clients, then exit")
	flag.Parse()
	if err := run(*record, *templates, *out, *size, *seed, *mss, *gap); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(record bool, templatesPath, out, sizeText string, seed uint64, mss int, gap time.Duration) error {
	if record {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		ts, err := recordTemplates(ctx)
		if err != nil {
			return err
		}
		return saveTemplates(templatesPath, ts)
	}
	size, err := parseSize(sizeText)
	if err != nil {
		return err
	}
	ts, err := loadTemplates(templatesPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := tcprec.NewWriter(bw, tcprec.Pcap)
	if err != nil {
		f.Close()
		return err
	}
	g := newGenerator(ts, seed, mss, gap)
	if err := g.write(w, size); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %d bytes of frames, %d packets, %d conversations\n", out, w.Bytes, g.packets, g.replicas)
	return f.Close()
}

func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(strings.ToUpper(s), u.suffix); ok {
			n, err := strconv.ParseFloat(num, 64)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("-size %q: want a positive number with KB, MB or GB", s)
			}
			return int64(n * float64(u.mult)), nil
		}
	}
	return 0, fmt.Errorf("-size %q: want a number with KB, MB or GB", s)
}

type generator struct {
	templates []Template
	total     int
	rng       *rand.Rand
	mss       int
	gap       time.Duration
	next      time.Time
	replicas  int
	packets   int64
	sessionRE *regexp.Regexp
}

func newGenerator(ts []Template, seed uint64, mss int, gap time.Duration) *generator {
	total := 0
	for _, t := range ts {
		total += t.Weight
	}
	return &generator{
		templates: ts, total: total, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		mss: mss, gap: gap, next: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC),
		sessionRE: regexp.MustCompile(`(?i)mcp-session-id: ([^\r\n]+)`),
	}
}

// write merges replicas by packet time until limit bytes are written, then
// lets the conversations already started finish.
func (g *generator) write(w *tcprec.Writer, limit int64) error {
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
		g.packets++
		c.i++
		if c.i == len(c.pkts) {
			heap.Pop(&active)
		} else {
			heap.Fix(&active, 0)
		}
		if w.Bytes-lastReport >= 100<<20 {
			lastReport = w.Bytes
			fmt.Fprintf(os.Stderr, "  %d MB, %d conversations\n", w.Bytes>>20, g.replicas)
		}
	}
}

// replica copies a weighted random template to start at start, from its own
// client address, with fresh session ids.
func (g *generator) replica(start time.Time) []tcprec.Packet {
	t := g.pick()
	k := g.replicas
	g.replicas++
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

func (g *generator) pick() *Template {
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
func (g *generator) sessionIDs(t *Template, k int) map[string][]byte {
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
