package detect

// matchDetector alerts on every matching event. Its group is the group_by
// tuple, so suppress limits it to one alert per group per interval.
type matchDetector struct {
	rule *Rule
}

func newMatchDetector(r *Rule) *matchDetector {
	return &matchDetector{rule: r}
}

func (d *matchDetector) observe(c *evalCtx) []candidate {
	return []candidate{{
		group:    c.groupKey(d.rule.GroupBy),
		evidence: []string{c.ev.EventID},
	}}
}

// Match rules hold no state of their own; suppression marks are counted
// by the engine.
func (d *matchDetector) state() detectorState { return detectorState{} }
