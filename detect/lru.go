package detect

import "container/list"

// groups is a bounded map of per-group rule state. When full, adding a group
// evicts the least recently touched one; evicted counts them for Stats.
type groups[V any] struct {
	max     int
	order   *list.List // front = most recently touched
	byKey   map[string]*list.Element
	evicted uint64
}

type groupEntry[V any] struct {
	key   string
	value V
}

func newGroups[V any](max int) *groups[V] {
	return &groups[V]{max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the state of key and marks it recently used.
func (g *groups[V]) get(key string) (V, bool) {
	return g.touch(g.byKey[key])
}

// getBytes is get for a key being built, without making it a string.
func (g *groups[V]) getBytes(key []byte) (V, bool) {
	return g.touch(g.byKey[string(key)])
}

func (g *groups[V]) touch(el *list.Element) (V, bool) {
	if el == nil {
		var zero V
		return zero, false
	}
	g.order.MoveToFront(el)
	return el.Value.(*groupEntry[V]).value, true
}

// put sets the state of key, evicting the oldest group if the cap is hit.
func (g *groups[V]) put(key string, v V) {
	if el, ok := g.byKey[key]; ok {
		el.Value.(*groupEntry[V]).value = v
		g.order.MoveToFront(el)
		return
	}
	if g.order.Len() >= g.max {
		oldest := g.order.Back()
		g.order.Remove(oldest)
		delete(g.byKey, oldest.Value.(*groupEntry[V]).key)
		g.evicted++
	}
	g.byKey[key] = g.order.PushFront(&groupEntry[V]{key: key, value: v})
}

func (g *groups[V]) len() int { return g.order.Len() }
