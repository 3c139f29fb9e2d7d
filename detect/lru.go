package detect

import (
	"container/list"
	"time"
)

// groups is a bounded map of per-group rule state. When full, adding a group
// evicts the least recently touched one; evicted counts them for Stats.
// With a ttl, a group no event touched for ttl of event time (behind the
// latest event the map saw) is dropped when a group is added, oldest
// first; expired counts them. Its state then says nothing any more (a
// window all past, a suppression over), so memory follows the groups
// active within the ttl rather than every group ever seen.
type groups[V any] struct {
	max     int
	ttl     time.Duration // 0: groups stay until evicted
	latest  time.Time     // the latest event time seen
	order   *list.List    // front = most recently touched
	byKey   map[string]*list.Element
	evicted uint64
	expired uint64
}

type groupEntry[V any] struct {
	key   string
	value V
	last  time.Time // the latest event time that touched it
}

func newGroups[V any](max int, ttl time.Duration) *groups[V] {
	return &groups[V]{max: max, ttl: ttl, order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the state of key and marks it used by an event at ts.
func (g *groups[V]) get(key string, ts time.Time) (V, bool) {
	return g.touch(g.byKey[key], ts)
}

// getBytes is get for a key being built, without making it a string.
func (g *groups[V]) getBytes(key []byte, ts time.Time) (V, bool) {
	return g.touch(g.byKey[string(key)], ts)
}

func (g *groups[V]) touch(el *list.Element, ts time.Time) (V, bool) {
	if el == nil {
		var zero V
		return zero, false
	}
	g.order.MoveToFront(el)
	e := el.Value.(*groupEntry[V])
	g.saw(e, ts)
	return e.value, true
}

func (g *groups[V]) saw(e *groupEntry[V], ts time.Time) {
	if ts.After(e.last) {
		e.last = ts
	}
	if ts.After(g.latest) {
		g.latest = ts
	}
}

// put sets the state of key for an event at ts. A new group first drops
// the expired ones, then the oldest if the cap is still hit.
func (g *groups[V]) put(key string, v V, ts time.Time) {
	if el, ok := g.byKey[key]; ok {
		e := el.Value.(*groupEntry[V])
		e.value = v
		g.order.MoveToFront(el)
		g.saw(e, ts)
		return
	}
	g.expire()
	if g.order.Len() >= g.max {
		g.drop(g.order.Back())
		g.evicted++
	}
	e := &groupEntry[V]{key: key, value: v}
	g.saw(e, ts)
	g.byKey[key] = g.order.PushFront(e)
}

// expire drops, from the least recently touched on, the groups last
// touched more than ttl before the latest event. Touch order is nearly
// event-time order, so the sweep stops at the first group still live.
func (g *groups[V]) expire() {
	if g.ttl <= 0 {
		return
	}
	cutoff := g.latest.Add(-g.ttl)
	for el := g.order.Back(); el != nil && el.Value.(*groupEntry[V]).last.Before(cutoff); el = g.order.Back() {
		g.drop(el)
		g.expired++
	}
}

func (g *groups[V]) drop(el *list.Element) {
	g.order.Remove(el)
	delete(g.byKey, el.Value.(*groupEntry[V]).key)
}

func (g *groups[V]) len() int { return g.order.Len() }
