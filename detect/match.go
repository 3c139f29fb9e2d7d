package detect

// matchDetector alerts on every matching event. Its group is the group_by
// tuple, so suppress limits it to one alert per group per interval.
type matchDetector struct {
	groupBy []*field
}

func newMatchDetector(s *schema, r *Rule) *matchDetector {
	return &matchDetector{groupBy: s.lookup(r.GroupBy)}
}

func (d *matchDetector) observe(c *evalCtx) []candidate {
	key, _ := c.groupKey(d.groupBy)
	return []candidate{{
		group:    string(key),
		evidence: []string{c.ev.EventID},
	}}
}

// Match rules hold no state of their own; suppression marks are counted
// by the engine.
func (d *matchDetector) state() detectorState { return detectorState{} }
