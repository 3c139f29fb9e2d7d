package detect

import (
	"strings"
	"time"
)

// newValueDetector alerts the first time a tuple of field values is seen,
// once the learning period (from the first matching event, in event time)
// is over. Tuples with an empty value are not values and are skipped.
type newValueDetector struct {
	rule       *Rule
	fields     []*field
	seen       *groups[struct{}]
	learnUntil time.Time
}

func newNewValueDetector(cfg Config, s *schema, r *Rule) *newValueDetector {
	return &newValueDetector{rule: r, fields: s.lookup(r.Fields), seen: newGroups[struct{}](cfg.MaxGroupsPerRule, 0)}
}

func (d *newValueDetector) observe(c *evalCtx) []candidate {
	key, complete := c.groupKey(d.fields)
	if !complete {
		return nil
	}
	if d.learnUntil.IsZero() {
		d.learnUntil = c.ev.TS.Add(d.rule.Learn)
	}
	if _, ok := d.seen.getBytes(key, c.ev.TS); ok {
		return nil
	}
	group := string(key)
	d.seen.put(group, struct{}{}, c.ev.TS)
	// Without a learning period every first sight alerts, whatever its
	// time: a replica that takes over after a crash gets the redelivered
	// older events after newer ones.
	if d.rule.Learn > 0 && c.ev.TS.Before(d.learnUntil) {
		return nil
	}
	values := make([]string, len(d.fields))
	for i, f := range d.fields {
		values[i] = f.text(c.ev)
	}
	return []candidate{{
		group:    group,
		evidence: []string{c.ev.EventID},
		vars:     alertVars{attrs: map[string]string{"value": strings.Join(values, " ")}},
	}}
}

func (d *newValueDetector) state() detectorState {
	return detectorState{groups: d.seen.len(), evicted: d.seen.evicted}
}
