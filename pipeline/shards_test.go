package pipeline

import (
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
)

// manyClientsCapture records the demo conversation of twelve go-sdk
// clients, each from its own address, six with each demo server.
func manyClientsCapture(t *testing.T) string {
	t.Helper()
	var convs []scenario.Conversation
	for i := range 12 {
		c := scenario.Demo[i%2]
		c.Client.IP = netip.AddrFrom4([4]byte{10, 0, 2, byte(1 + i)})
		convs = append(convs, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := scenario.Run(ctx, convs)
	if err != nil {
		t.Fatal(err)
	}
	return writePcap(t, res.Recorder)
}

// TestRunWithShards: with two and three capture shards a run gives the
// events of one shard — the same ids and contents —, the same alert ids
// and the same summary. Which client's event a once-per-server alert quotes
// depends on which shard publishes first, so alerts are compared by id.
func TestRunWithShards(t *testing.T) {
	pcap := manyClientsCapture(t)
	type result struct {
		events  []string
		alerts  []string
		summary *Summary
	}
	run := func(shards int) result {
		cfg := testConfig(t, pcap)
		cfg.CaptureShards = shards
		summary, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		var r result
		for _, ev := range readEvents(t, cfg.EventsOut) {
			line, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			r.events = append(r.events, string(line))
		}
		for _, a := range readAlerts(t, cfg.AlertsOut) {
			r.alerts = append(r.alerts, a.AlertID)
		}
		slices.Sort(r.events)
		slices.Sort(r.alerts)
		r.summary = summary
		return r
	}
	one := run(1)
	if len(one.events) == 0 || len(one.alerts) == 0 || one.summary.Sessions != 12 {
		t.Fatalf("one shard: %d events, %d alerts, %d sessions; want some, some and 12", len(one.events), len(one.alerts), one.summary.Sessions)
	}
	for _, n := range []int{2, 3} {
		got := run(n)
		if !slices.Equal(got.events, one.events) {
			t.Errorf("%d shards: events differ from one shard's", n)
		}
		if !slices.Equal(got.alerts, one.alerts) {
			t.Errorf("%d shards: alert ids %v, one shard %v", n, got.alerts, one.alerts)
		}
		if !reflect.DeepEqual(got.summary, one.summary) {
			t.Errorf("%d shards: summary %+v, one shard %+v", n, got.summary, one.summary)
		}
	}
}

// eventCounter is a Publisher that counts events by kind.
type eventCounter struct {
	mu     sync.Mutex
	events map[event.Kind]int64
}

func (c *eventCounter) PublishEvent(_ context.Context, ev *event.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events[ev.Kind]++
	return nil
}

func (c *eventCounter) PublishAlert(context.Context, *event.Alert) error { return nil }
func (c *eventCounter) Flush(context.Context) error                      { return nil }

// TestSenseSumsShardStats: the capture and decode counters exported as
// metrics are the sums over the shards, equal to one shard's, and count
// what was published.
func TestSenseSumsShardStats(t *testing.T) {
	pcap := manyClientsCapture(t)
	sense := func(shards int) (*stageStats, map[event.Kind]int64) {
		cfg := testConfig(t, pcap)
		cfg.CaptureShards = shards
		if err := cfg.validate(); err != nil {
			t.Fatal(err)
		}
		ins, err := openInputs(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer closeInputs(ins)
		pub := &eventCounter{events: map[event.Kind]int64{}}
		var stages stageStats
		if _, err := senseAll(context.Background(), cfg, []byte("key"), ins, pub, &stages); err != nil {
			t.Fatal(err)
		}
		return &stages, pub.events
	}
	one, published := sense(1)
	three, _ := sense(3)
	if got, want := *three.capture.p.Load(), *one.capture.p.Load(); got != want {
		t.Errorf("capture stats of three shards\n%+v\nof one\n%+v", got, want)
	}
	dec := *three.decode.p.Load()
	if want := *one.decode.p.Load(); !reflect.DeepEqual(dec, want) {
		t.Errorf("decode stats of three shards\n%+v\nof one\n%+v", dec, want)
	}
	for kind, n := range published {
		if dec.Events[string(kind)] != n {
			t.Errorf("decode stats count %d %s events, %d were published", dec.Events[string(kind)], kind, n)
		}
	}
	if len(published) == 0 || len(dec.Events) != len(published) {
		t.Errorf("decode stats count events %v, published %v", dec.Events, published)
	}
}
