package pipeline

import (
	"slices"
	"sync"
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
)

// Two shards report events and progress out of step; what comes out is in
// stamp order (shard order within a stamp), nothing before every shard is
// past it, and everything at flush.
func TestInputOrder(t *testing.T) {
	var mu sync.Mutex
	var got []string
	o := newInputOrder(2, func(ev *event.Event) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev.EventID)
	})
	emitted := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
	ev := func(id string) *event.Event { return &event.Event{EventID: id} }

	o.add(0, 2, ev("a2"))
	o.add(0, 6, ev("a6"))
	o.progress(0, 7) // shard 1 has said nothing: all wait
	if len(o.released) != 0 || len(emitted()) != 0 {
		t.Fatalf("released %v before shard 1 reported progress", emitted())
	}
	o.add(1, 4, ev("b4"))
	o.add(1, 7, ev("b7"))
	o.progress(1, 5) // up to 5: a2, b4
	o.add(1, 9, ev("b9"))
	o.progress(1, 9) // up to 7: a6 then b7 (stamp 6 before 7)
	o.add(0, 9, ev("a9"))
	o.add(0, 11, ev("a11"))
	o.flush() // a9 before b9 (shard order), then a11
	if want := []string{"a2", "b4", "a6", "b7", "a9", "b9", "a11"}; !slices.Equal(emitted(), want) {
		t.Errorf("emitted %v, want %v", emitted(), want)
	}
}
