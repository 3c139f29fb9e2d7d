package capture

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/counters"
)

// Shards spreads one Source over several Engines, one goroutine each, so
// reassembly and parsing use more than one core. Packets are dealt by their
// IP address pair, not their ports: every connection between one client and
// one server lands on the same Engine, so a decoder can still join what MCP
// spreads over several connections (an SSE GET stream and its POSTs).
//
// Each shard has its own Handler and Tick, called from that shard's
// goroutine in packet-time order for its connections. Across shards there
// is no order of calls, but there is one of causes: Stamp tells, on a
// shard's goroutine, which point of the input the shard is working on, and
// Progress tells when a shard is done with every point up to one. A
// consumer that needs one Engine's order (a replay must give the same
// alerts) merges the shards' outputs by stamp up to the least progress
// (pipeline does).
//
// A connection's ID is the number of the packet that opened it (the first
// packet read is 1), so IDs are unique and the same whatever the number of
// shards: whatever derives from them (event ids) does not change when the
// input is replayed on a machine with another number of cores. They differ
// from a lone Engine's, which counts connections.
//
// The caps on what all connections hold together, MaxFlows and MaxPages,
// are divided among the shards (rounded up; MaxPagesPerConn is lowered to a
// shard's MaxPages if above it), so n shards hold about what one Engine
// would; caps per connection or message stay as they are. Traffic
// concentrated on few address pairs fills its shard's share first.
type Shards struct {
	// Live hands every packet to its shard at once rather than in batches:
	// on a live link the packet that would fill a batch may be long in
	// coming, and one held back delays its events. Set it before Run.
	Live bool
	// Progress, if set, is called on shard k's goroutine after the shard
	// made every Handler and Tick call it will make for the points of the
	// input stamped up to through (see Stamp). Set it before Run.
	Progress func(shard int, through uint64)
	engines  []*Engine
	stamps   []uint64 // stamps[k] is written and read on shard k's goroutine
	now      time.Time
}

// shardBatch is how many packets travel to a shard together: one channel
// operation per packet would cost more than decoding it. Every cutEvery
// packets every shard is told how far the input got, so that Progress
// moves on for shards that got none of them.
const (
	shardBatch = 128
	cutEvery   = 1024
)

// Stamps order the points of the input: 2n while packet n (the first read
// is 1) is handled, 2n+1 at a tick or cut after packet n and before packet
// n+1, and FinalStamp in Finish.
const FinalStamp = ^uint64(0)

func packetStamp(seq uint64) uint64 { return 2 * seq }
func cutStamp(seq uint64) uint64    { return 2*seq + 1 }

// Stamp is the point of the input shard k is working on. Call it only from
// shard k's Handler or Tick (its goroutine), or after Run returned.
func (s *Shards) Stamp(shard int) uint64 { return s.stamps[shard] }

// NewShards builds n Engines from cfg. setup(k, c) returns shard k's
// Handler and may set c.Tick, its Tick; c holds the shard's share of the
// caps.
func NewShards(n int, cfg Config, setup func(shard int, cfg *Config) Handler) (*Shards, error) {
	if n < 1 {
		return nil, fmt.Errorf("capture: %d shards, need at least one", n)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Shards{stamps: make([]uint64, n)}
	for k := range n {
		c := cfg.share(n)
		e, err := NewEngine(c, setup(k, &c))
		if err != nil {
			return nil, err
		}
		s.engines = append(s.engines, e)
	}
	return s, nil
}

// share is one shard's part of c among n shards.
func (c Config) share(n int) Config {
	c = c.withDefaults()
	c.MaxFlows = (c.MaxFlows + n - 1) / n
	c.MaxPages = (c.MaxPages + n - 1) / n
	c.MaxPagesPerConn = min(c.MaxPagesPerConn, c.MaxPages)
	return c
}

// batch is a run of packets for one shard, their data copied into one
// buffer (sources reuse theirs), and their numbers in the source. A cut
// batch ends with the input's position: mark is the number of the last
// packet read, and when tick is set the shard's clock moves to it there.
type batch struct {
	pkts []Packet
	seqs []uint64
	data []byte
	cut  bool
	mark uint64
	tick time.Time
}

// Run reads src and feeds the shards until src is exhausted, ctx is done
// or src fails, with Engine.Run's results. Call Finish after it.
func (s *Shards) Run(ctx context.Context, src Source) error {
	d := &dealer{s: s, queues: make([]chan *batch, len(s.engines)), pending: make([]*batch, len(s.engines)),
		free: make(chan *batch, 6*len(s.engines))}
	var wg sync.WaitGroup
	for k, e := range s.engines {
		d.queues[k] = make(chan *batch, 4)
		wg.Go(func() {
			for b := range d.queues[k] {
				for i, p := range b.pkts {
					s.stamps[k] = packetStamp(b.seqs[i])
					e.packet(p)
				}
				if b.cut {
					s.stamps[k] = cutStamp(b.mark)
					if !b.tick.IsZero() {
						e.advance(b.tick)
					}
				}
				if s.Progress != nil && (b.cut || len(b.pkts) > 0) {
					s.Progress(k, s.stamps[k])
				}
				d.recycle(b)
			}
			e.publish()
		})
	}
	err := readPackets(ctx, src, d.packet, d.idle)
	// Every shard ends on the clock of the whole input, so connections
	// still open end at the same time whatever shard holds them.
	d.cutAll(d.now)
	for k := range d.queues {
		close(d.queues[k])
	}
	wg.Wait()
	s.now = d.now
	return err
}

// Now is the packet clock once Run returned: the latest packet time (or
// wall time, on a quiet live source) of the input.
func (s *Shards) Now() time.Time { return s.now }

// dealer reads the source on Run's goroutine and deals its packets.
//
// It also keeps the clock of the whole input and moves every shard to it
// whenever one Engine reading the whole input would run its once-a-second
// work (flushes, idle ends, Tick): at a packet a second after the last
// tick, before that packet. The shards then time out connections and
// sessions at the same points of the input as one Engine, whatever their
// number, and a shard whose connections went quiet still ticks.
type dealer struct {
	s       *Shards
	queues  []chan *batch
	pending []*batch
	// free holds batches the shards are done with: an Engine keeps no
	// packet data once it returns (Source.ReadPacket's contract), so their
	// buffers are filled again instead of allocated for every batch.
	free chan *batch
	// seq numbers the packets read.
	seq uint64
	// now and lastTick mirror Engine.advance for the whole input.
	now, lastTick time.Time
}

// batch returns an empty batch, with room for a full one unless packets
// travel one by one.
func (d *dealer) batch() *batch {
	if d.s.Live {
		return &batch{}
	}
	select {
	case b := <-d.free:
		return b
	default:
		return &batch{pkts: make([]Packet, 0, shardBatch), seqs: make([]uint64, 0, shardBatch), data: make([]byte, 0, shardBatch*256)}
	}
}

// recycle empties a batch a shard is done with and keeps it for the
// dealer, unless packets travel one by one or enough are kept.
func (d *dealer) recycle(b *batch) {
	if d.s.Live {
		return
	}
	*b = batch{pkts: b.pkts[:0], seqs: b.seqs[:0], data: b.data[:0]}
	select {
	case d.free <- b:
	default:
	}
}

func (d *dealer) packet(p Packet) {
	if p.Info.Timestamp.After(d.now) {
		d.now = p.Info.Timestamp
		if d.lastTick.IsZero() || d.now.Sub(d.lastTick) >= time.Second {
			d.lastTick = d.now
			d.cutAll(d.now)
		}
	}
	d.seq++
	k := d.s.shardOf(p)
	b := d.pending[k]
	if b == nil {
		b = d.batch()
		d.pending[k] = b
	}
	if len(b.data)+len(p.Data) > cap(b.data) {
		// A new buffer: the packets already in the batch point into
		// the old one, which must not move. It doubles, so that a
		// recycled batch soon holds a whole batch in one.
		b.data = make([]byte, 0, max(2*cap(b.data), len(p.Data)))
	}
	b.data = append(b.data, p.Data...)
	p.Data = b.data[len(b.data)-len(p.Data):]
	b.pkts = append(b.pkts, p)
	b.seqs = append(b.seqs, d.seq)
	switch {
	case d.s.Live || d.seq%cutEvery == 0:
		d.cutAll(time.Time{})
	case len(b.pkts) == shardBatch:
		d.send(k)
	}
}

// idle moves the clock to the wall clock: the source had no packet for a
// while.
func (d *dealer) idle(now time.Time) {
	if now.After(d.now) {
		d.now = now
	}
	if d.lastTick.IsZero() || d.now.Sub(d.lastTick) >= time.Second {
		d.lastTick = d.now
	}
	d.cutAll(d.now)
}

// cutAll sends every shard what it has pending, marked with the input's
// position, and then, unless tick is zero, moves its clock to tick.
func (d *dealer) cutAll(tick time.Time) {
	for k := range d.queues {
		if d.pending[k] == nil {
			d.pending[k] = d.batch()
		}
		b := d.pending[k]
		b.cut, b.mark, b.tick = true, d.seq, tick
		d.send(k)
	}
}

func (d *dealer) send(k int) {
	if b := d.pending[k]; b != nil {
		d.queues[k] <- b
		d.pending[k] = nil
	}
}

// shardOf hashes the IP address pair of a packet, the same for both
// directions; what is not IP goes to shard 0.
func (s *Shards) shardOf(p Packet) int {
	if len(s.engines) == 1 {
		return 0
	}
	ip, err := networkPayload(p.LinkType, p.Data)
	var a, b []byte
	switch {
	case err != nil || len(ip) == 0:
		return 0
	case ip[0]>>4 == 4 && len(ip) >= 20:
		a, b = ip[12:16], ip[16:20]
	case ip[0]>>4 == 6 && len(ip) >= 40:
		a, b = ip[8:24], ip[24:40]
	default:
		return 0
	}
	if string(a) > string(b) {
		a, b = b, a
	}
	// FNV, not maphash: a replay must deal the same way every time.
	h := fnv.New64a()
	h.Write(a)
	h.Write(b)
	return int(h.Sum64() % uint64(len(s.engines)))
}

// Finish ends every shard's open connections, shard after shard, at
// FinalStamp.
func (s *Shards) Finish() {
	for k, e := range s.engines {
		s.stamps[k] = FinalStamp
		e.Finish()
	}
}

// Stats sums the shards' counters.
func (s *Shards) Stats() Stats {
	var sum Stats
	for _, e := range s.engines {
		counters.Add(&sum, e.Stats())
	}
	return sum
}
