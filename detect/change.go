package detect

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// changeDetector tracks the value expression per key (group_by). Without
// across, it alerts when a key's value differs from the value seen before.
// With across (a field such as client_address), it alerts when the value
// one across-entity sees differs from the value another one saw for the
// same key within the window: the server tells two clients different
// things at the same time.
type changeDetector struct {
	rule    *Rule
	groupBy []*field
	across  *field
	maxSize int
	keys    *groups[*changeState]
	dropped uint64
}

type changeState struct {
	last   observed            // without across
	across map[string]observed // with across, by across value
	// With across: how many entries hold each value, and a time no entry
	// is older than. An event that neither differs from any other entry
	// nor can have seen one expire needs no pass over all of them (a
	// popular server's manifest is seen by thousands of clients).
	texts  map[string]int
	oldest time.Time
}

type observed struct {
	value any
	text  string // canonical JSON of value, for comparison
	id    string
	ts    time.Time
}

func newChangeDetector(cfg Config, s *schema, r *Rule) *changeDetector {
	return &changeDetector{
		rule: r, groupBy: s.lookup(r.GroupBy), across: s.fields[r.Across],
		maxSize: cfg.MaxEventsPerGroup, keys: newGroups[*changeState](cfg.MaxGroupsPerRule, 0),
	}
}

func (d *changeDetector) observe(c *evalCtx) []candidate {
	r := d.rule
	v, err := c.run(r.value)
	if err != nil {
		c.evalError("value", err)
		return nil
	}
	v = plainValue(v)
	text, err := canonicalJSON(v)
	if err != nil || text == `""` || text == "null" {
		return nil // no value is not a changed value
	}
	cur := observed{value: v, text: text, id: c.ev.EventID, ts: c.ev.TS}
	keyBytes, _ := c.groupKey(d.groupBy)
	st, ok := d.keys.getBytes(keyBytes, c.ev.TS)
	if !ok {
		st = &changeState{}
		if r.Across != "" {
			st.across, st.texts = map[string]observed{}, map[string]int{}
		}
		d.keys.put(string(keyBytes), st, c.ev.TS)
	}
	if r.Across == "" {
		prev := st.last
		if prev.text != "" && !cur.ts.After(prev.ts) {
			return nil // a redelivered or late event says nothing new
		}
		st.last = cur
		if prev.text == "" || prev.text == cur.text {
			return nil
		}
		return d.changed(c, string(keyBytes), prev, cur, nil)
	}

	who := d.across.text(c.ev)
	mine, known := st.across[who]
	if known && !cur.ts.After(mine.ts) {
		return nil // redelivered or late
	}
	cutoff := cur.ts.Add(-r.Window)
	othersDiffering := len(st.across) - st.texts[cur.text]
	if known && mine.text != cur.text {
		othersDiffering--
	}
	// One pass in map order drops the expired and finds the keys that
	// differ; only those are sorted, so alert order does not depend on map
	// order and an event costs no sort of every key. Usually no key
	// differs and none can have expired: then there is nothing to pass.
	var differing []string
	if othersDiffering > 0 || !st.oldest.After(cutoff) {
		oldest := cur.ts
		for other, prev := range st.across {
			switch {
			case !prev.ts.After(cutoff):
				st.forget(other, prev)
				continue
			case other != who && prev.text != cur.text:
				differing = append(differing, other)
			}
			if prev.ts.Before(oldest) {
				oldest = prev.ts
			}
		}
		st.oldest = oldest
		slices.Sort(differing)
	}
	var out []candidate
	for _, other := range differing {
		prev := st.across[other]
		out = append(out, d.changed(c, string(keyBytes)+"\x00"+prev.text+"\x00"+cur.text, prev, cur, map[string]string{
			"other_" + r.Across: other,
		})...)
	}
	mine, known = st.across[who]
	if !known && len(st.across) >= d.maxSize {
		d.dropped++
		return out
	}
	if known {
		st.forget(who, mine)
	}
	if len(st.across) == 0 || cur.ts.Before(st.oldest) {
		st.oldest = cur.ts
	}
	st.across[who] = cur
	st.texts[cur.text]++
	return out
}

// forget removes the entry of an across value.
func (st *changeState) forget(who string, o observed) {
	delete(st.across, who)
	if st.texts[o.text]--; st.texts[o.text] == 0 {
		delete(st.texts, o.text)
	}
}

// changed builds the candidate for prev → cur if changed_when agrees.
func (d *changeDetector) changed(c *evalCtx, group string, prev, cur observed, attrs map[string]string) []candidate {
	vars := alertVars{previous: prev.value, current: cur.value, first: prev.ts, last: cur.ts}
	if d.rule.changedWhen != nil {
		c.setVars(&vars)
		ok, err := c.run(d.rule.changedWhen)
		if err != nil {
			c.evalError("changed_when", err)
			return nil
		}
		if !ok.(bool) {
			return nil
		}
	}
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs["previous"], attrs["current"] = format(prev.value), format(cur.value)
	vars.attrs = attrs
	return []candidate{{group: group, evidence: []string{prev.id, cur.id}, vars: vars}}
}

// plainValue turns the map[any]any of expr's fromPairs into map[string]any,
// which encodes as JSON and indexes by string in changed_when.
func plainValue(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = plainValue(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plainValue(e)
		}
		return out
	}
	return v
}

// canonicalJSON renders a value so that equal values compare equal: maps
// with sorted keys. A plain string, the usual value, skips the encoder.
func canonicalJSON(v any) (string, error) {
	if s, ok := v.(string); ok && plainJSON(s) {
		return `"` + s + `"`, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode change value: %w", err)
	}
	return string(b), nil
}

func (d *changeDetector) state() detectorState {
	return detectorState{groups: d.keys.len(), evicted: d.keys.evicted, dropped: d.dropped}
}

// plainJSON reports whether json.Marshal writes s as it is between quotes:
// printable ASCII without the characters it escapes (quote, backslash and
// the HTML-sensitive <, > and &).
func plainJSON(s string) bool {
	for i := range len(s) {
		switch b := s[i]; {
		case b < 0x20, b >= 0x7f, b == '"', b == '\\', b == '<', b == '>', b == '&':
			return false
		}
	}
	return true
}
