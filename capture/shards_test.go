package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestShardsMatchOneEngine runs corpus captures through three shards and
// through one Engine: the same messages, exchanges and connections come
// out, and Conn IDs stay unique.
func TestShardsMatchOneEngine(t *testing.T) {
	spread := 0
	for _, name := range []string{"retransmission", "pipelined", "sse-30min", "gap-in-headers", "ipv6"} {
		path := filepath.Join("..", "testdata", "capture", name+".pcap")
		one, st1, err := runFile(t, path, Config{})
		if err != nil {
			t.Fatal(err)
		}
		sh, recs := runShards(t, &memSource{frames: readFrames(t, path)}, 3)
		merged := newRecorder(t)
		ids := map[uint64]bool{}
		used := 0
		for _, r := range recs {
			merged.reqs = append(merged.reqs, r.reqs...)
			merged.resps = append(merged.resps, r.resps...)
			merged.events = append(merged.events, r.events...)
			for _, c := range r.conns {
				if ids[c.ID] {
					t.Errorf("%s: Conn ID %d used twice", name, c.ID)
				}
				ids[c.ID] = true
			}
			if len(r.conns) > 0 {
				used++
			}
		}
		if got, want := wireMessages(t, merged), wireMessages(t, one); !slices.Equal(got, want) {
			t.Errorf("%s: shards gave other messages:\n%q\nwant\n%q", name, got, want)
		}
		st := sh.Stats()
		if st.Requests != st1.Requests || st.Responses != st1.Responses || st.SSEEvents != st1.SSEEvents || st.FlowsCreated != st1.FlowsCreated || st.Packets != st1.Packets {
			t.Errorf("%s: shard stats %+v\none engine %+v", name, st, st1)
		}
		spread = max(spread, used)
	}
	// The demo has two address pairs; with three shards some captures put
	// them on one shard, but not all of them.
	if spread < 2 {
		t.Error("every capture ran on a single shard")
	}
}

// runShards runs src through n shards.
func runShards(t *testing.T, src Source, n int) (*Shards, []*recorder) {
	t.Helper()
	recs := make([]*recorder, n)
	sh, err := NewShards(n, Config{}, func(k int, _ *Config) Handler { recs[k] = newRecorder(t); return recs[k] })
	if err != nil {
		t.Fatal(err)
	}
	// A cut file still gives what was before the cut.
	if err := sh.Run(context.Background(), src); err != nil && !errors.Is(err, ErrTruncated) {
		t.Fatal(err)
	}
	sh.Finish()
	return sh, recs
}

// readFrames reads every frame of the capture at path, up to a cut.
func readFrames(t *testing.T, path string) []Packet {
	t.Helper()
	src, err := OpenPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var frames []Packet
	for {
		p, err := src.ReadPacket()
		if err != nil {
			return frames
		}
		p.Data = slices.Clone(p.Data)
		frames = append(frames, p)
	}
}

// TestShardsIgnoreShardCount: one and two shards report every connection
// alike — its ID (so event ids do not depend on the cores), what it
// carried, in order, and how and when it ended — on the corpus, and on the
// demo with one of its two address pairs replayed ten minutes later, so
// that the other pair's open connection idles out on a shard that sees no
// packet then.
func TestShardsIgnoreShardCount(t *testing.T) {
	paths, err := filepath.Glob("../testdata/capture/*.pcap")
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string][]Packet{}
	for _, p := range append(paths, "../testdata/demo.pcap") {
		inputs[p] = readFrames(t, p)
	}
	demo := inputs["../testdata/demo.pcap"]
	late := slices.Clone(demo)
	for _, p := range demo {
		if bytes.Contains(p.Data, []byte{10, 0, 0, 5}) { // the files server
			p.Info.Timestamp = p.Info.Timestamp.Add(10 * time.Minute)
			late = append(late, p)
		}
	}
	inputs["demo, one pair again 10 min later"] = late

	perConn := func(frames []Packet, n int) (map[string][]string, int) {
		_, recs := runShards(t, &memSource{frames: frames}, n)
		out := map[string][]string{}
		used := 0
		for _, r := range recs {
			conn := ""
			for line := range strings.Lines(r.log.String()) {
				if f := strings.Fields(line); len(f) > 1 && f[0] == "conn" {
					conn = f[1]
				}
				out[conn] = append(out[conn], line)
			}
			for i, c := range r.conns {
				id := fmt.Sprint(c.ID)
				out[id] = append(out[id], fmt.Sprintf("ended %s at %s", r.ends[i].Reason, r.ends[i].Time))
			}
			if len(r.conns) > 0 {
				used++
			}
		}
		return out, used
	}
	for name, frames := range inputs {
		one, _ := perConn(frames, 1)
		two, used := perConn(frames, 2)
		if len(one) == 0 || !maps.EqualFunc(one, two, slices.Equal) {
			t.Errorf("%s: connections with one shard\n%q\nwith two\n%q", name, one, two)
		}
		if strings.HasPrefix(name, "demo") && used != 2 {
			t.Errorf("%s: the two address pairs ran on %d shards, want 2", name, used)
		}
	}
	idledOut := func(lines []string) bool {
		return slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "ended idle") })
	}
	if idle, _ := perConn(late, 2); !slices.ContainsFunc(slices.Collect(maps.Values(idle)), idledOut) {
		t.Errorf("the quiet pair's connection did not idle out: %q", idle)
	}
}

// TestShardsDivideCaps: the caps on all connections together are split
// among the shards, those per connection stay.
func TestShardsDivideCaps(t *testing.T) {
	cfg := Config{MaxFlows: 10, MaxPages: 100, MaxPagesPerConn: 50, MaxBodyBytes: 1 << 20}
	var seen []Config
	sh, err := NewShards(3, cfg, func(_ int, c *Config) Handler { seen = append(seen, *c); return newRecorder(t) })
	if err != nil {
		t.Fatal(err)
	}
	for k, e := range sh.engines {
		if c := e.cfg; c.MaxFlows != 4 || c.MaxPages != 34 || c.MaxPagesPerConn != 34 || c.MaxBodyBytes != 1<<20 {
			t.Errorf("shard %d: MaxFlows %d, MaxPages %d, MaxPagesPerConn %d, MaxBodyBytes %d; want 4, 34, 34, 1 MiB",
				k, c.MaxFlows, c.MaxPages, c.MaxPagesPerConn, c.MaxBodyBytes)
		}
		if seen[k].MaxFlows != e.cfg.MaxFlows {
			t.Errorf("shard %d: setup saw MaxFlows %d, the engine has %d", k, seen[k].MaxFlows, e.cfg.MaxFlows)
		}
	}
}

// quietSource replays frames, then reports no packet until ctx ends, as a
// live source on a quiet link does.
type quietSource struct{ memSource }

func (q *quietSource) ReadPacket() (Packet, error) {
	if q.next == len(q.frames) {
		return Packet{}, ErrNoPacket
	}
	return q.memSource.ReadPacket()
}

// TestShardsIdleOnQuietSource: with no packets coming, the wall clock
// drives the shards' timers (the demo's packets are long past, so its open
// connection idles out), and cancelling ends Run. The source is read as a
// live one, packet by packet.
func TestShardsIdleOnQuietSource(t *testing.T) {
	frames := readFrames(t, "../testdata/demo.pcap")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	recs := make([]*recorder, 2)
	sh, err := NewShards(2, Config{}, func(k int, _ *Config) Handler {
		recs[k] = newRecorder(t)
		// The demo's JSON session is never closed: it idles out.
		return &tickingHandler{recorder: recs[k], onEnd: func() { once.Do(cancel) }}
	})
	if err != nil {
		t.Fatal(err)
	}
	sh.Live = true
	if err := sh.Run(ctx, &quietSource{memSource{frames: frames}}); err != context.Canceled {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	sh.Finish()
	if st := sh.Stats(); st.FlowsEnded.Idle == 0 {
		t.Errorf("no connection ended idle: %+v", st.FlowsEnded)
	}
}

// tickingHandler reports when its shard ended a connection for idleness.
type tickingHandler struct {
	*recorder
	onEnd func()
}

func (h *tickingHandler) ConnEnd(c *Conn, end *ConnEnd) {
	h.recorder.ConnEnd(c, end)
	if end.Reason == ConnEndIdle {
		h.onEnd()
	}
}
