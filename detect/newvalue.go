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
	seen       *groups[struct{}]
	learnUntil time.Time
}

func newNewValueDetector(cfg Config, r *Rule) *newValueDetector {
	return &newValueDetector{rule: r, seen: newGroups[struct{}](cfg.MaxGroupsPerRule)}
}

func (d *newValueDetector) observe(c *evalCtx) []candidate {
	values := make([]string, len(d.rule.Fields))
	for i, f := range d.rule.Fields {
		values[i] = format(c.fieldValue(f))
		if values[i] == "" {
			return nil
		}
	}
	key := strings.Join(values, "\x00")
	if d.learnUntil.IsZero() {
		d.learnUntil = c.ev.TS.Add(d.rule.Learn)
	}
	if _, ok := d.seen.get(key); ok {
		return nil
	}
	d.seen.put(key, struct{}{})
	// Without a learning period every first sight alerts, whatever its
	// time: a replica that takes over after a crash gets the redelivered
	// older events after newer ones.
	if d.rule.Learn > 0 && c.ev.TS.Before(d.learnUntil) {
		return nil
	}
	return []candidate{{
		group:    key,
		evidence: []string{c.ev.EventID},
		vars:     alertVars{attrs: map[string]string{"value": strings.Join(values, " ")}},
	}}
}

func (d *newValueDetector) state() detectorState {
	return detectorState{groups: d.seen.len(), evicted: d.seen.evicted}
}
