package detect

import (
	"fmt"
	"math"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// thresholdDetector aggregates matching events per group over a sliding
// event-time window (latest ts − window, latest ts] and alerts when the
// aggregate reaches the threshold — and, with a baseline, also reaches
// baseline_factor × the group's usual aggregate per window.
type thresholdDetector struct {
	rule    *Rule
	groupBy []*field
	// aggField is the field of sum and distinct.
	aggField *field
	maxSize  int
	windows  *groups[*window]
	dropped  uint64
}

// baselineAlpha weighs the newest window in the baseline's moving average:
// a baseline of roughly the last five windows.
const baselineAlpha = 0.3

type window struct {
	entries []windowEntry // in ts order
	// array is entries' array from its start (length 0): remove leaves
	// room at the front, which insert reuses before growing the array.
	array    []windowEntry
	sum      float64
	distinct map[string]int
	latest   time.Time

	// Baseline: aggregate per tumbling window, and its moving average.
	bucketStart time.Time
	bucket      float64
	baseline    float64
	buckets     int
}

type windowEntry struct {
	ts       time.Time
	id       string
	value    float64
	distinct string
}

// thresholdTTL is how long a group's window outlives its last event: two
// windows (all its entries have left it; a late event older than that is
// taken as a new group's instead of dropped), and with a baseline
// BaselineWindows + 20 windows, after which the baseline has decayed to
// under 0.1 % and a returning group learns it afresh.
func thresholdTTL(r *Rule) time.Duration {
	if r.BaselineFactor > 0 {
		return time.Duration(r.BaselineWindows+20) * r.Window
	}
	return 2 * r.Window
}

func newThresholdDetector(cfg Config, s *schema, r *Rule) (*thresholdDetector, error) {
	if r.Aggregate == AggCount && r.Threshold > float64(cfg.MaxEventsPerGroup) {
		return nil, fmt.Errorf("threshold %v exceeds MaxEventsPerGroup %d: the rule could never fire", r.Threshold, cfg.MaxEventsPerGroup)
	}
	return &thresholdDetector{
		rule: r, groupBy: s.lookup(r.GroupBy), aggField: s.fields[r.AggregateField],
		maxSize: cfg.MaxEventsPerGroup, windows: newGroups[*window](cfg.MaxGroupsPerRule, thresholdTTL(r)),
	}, nil
}

func (d *thresholdDetector) observe(c *evalCtx) []candidate {
	r := d.rule
	ts := c.ev.TS
	en := windowEntry{ts: ts, id: c.ev.EventID, value: 1}
	switch r.Aggregate {
	case AggSum:
		en.value = d.aggField.number(c.ev)
	case AggDistinct:
		en.distinct = d.aggField.text(c.ev)
		if en.distinct == "" {
			return nil
		}
	}
	key, _ := c.groupKey(d.groupBy)
	w, ok := d.windows.getBytes(key, ts)
	if !ok {
		w = &window{bucketStart: ts}
		if r.Aggregate == AggDistinct {
			w.distinct = map[string]int{}
		}
		d.windows.put(string(key), w, ts)
	}
	if !w.latest.IsZero() && !ts.After(w.latest.Add(-r.Window)) {
		d.dropped++ // late: its window has passed
		return nil
	}
	if !w.insert(en) {
		return nil // redelivered: JetStream may hand an event over twice
	}
	if r.BaselineFactor > 0 {
		w.roll(ts, r.Window)
		w.bucket += en.value
	}
	if ts.After(w.latest) {
		w.latest = ts
	}
	for len(w.entries) > 0 && (!w.entries[0].ts.After(w.latest.Add(-r.Window)) || len(w.entries) > d.maxSize) {
		if w.entries[0].ts.After(w.latest.Add(-r.Window)) {
			d.dropped++
		}
		w.remove()
	}

	agg := w.aggregate(r.Aggregate)
	if agg < r.Threshold {
		return nil
	}
	if r.BaselineFactor > 0 && (w.buckets < r.BaselineWindows || agg < r.BaselineFactor*w.baseline) {
		return nil
	}
	ids := make([]string, 0, min(len(w.entries), event.MaxEvidence))
	for _, e := range w.entries[max(0, len(w.entries)-event.MaxEvidence):] {
		ids = append(ids, e.id)
	}
	return []candidate{{
		group:    string(key),
		evidence: ids,
		vars: alertVars{
			count:    agg,
			window:   r.Window,
			first:    w.entries[0].ts,
			last:     w.latest,
			baseline: w.baseline,
		},
	}}
}

// insert keeps entries in ts order; events arrive nearly ordered, so the
// search from the end is short. An event already in the window (same ts
// and id) is not inserted again, and insert reports false.
func (w *window) insert(en windowEntry) bool {
	i := len(w.entries)
	for i > 0 && w.entries[i-1].ts.After(en.ts) {
		i--
	}
	for j := i; j > 0 && w.entries[j-1].ts.Equal(en.ts); j-- {
		if w.entries[j-1].id == en.id {
			return false
		}
	}
	if len(w.entries) == cap(w.entries) && cap(w.entries) < cap(w.array) {
		n := copy(w.array[:cap(w.array)], w.entries)
		clear(w.array[n:cap(w.array)])
		w.entries = w.array[:n]
	}
	w.entries = append(w.entries, windowEntry{})
	if cap(w.entries) > cap(w.array) {
		w.array = w.entries[:0]
	}
	copy(w.entries[i+1:], w.entries[i:])
	w.entries[i] = en
	w.sum += en.value
	if w.distinct != nil {
		w.distinct[en.distinct]++
	}
	return true
}

func (w *window) remove() {
	en := w.entries[0]
	w.entries[0] = windowEntry{} // its id is not evidence any more
	w.entries = w.entries[1:]
	w.sum -= en.value
	if w.distinct != nil {
		if w.distinct[en.distinct]--; w.distinct[en.distinct] == 0 {
			delete(w.distinct, en.distinct)
		}
	}
}

func (w *window) aggregate(kind string) float64 {
	switch kind {
	case AggSum:
		return w.sum
	case AggDistinct:
		return float64(len(w.distinct))
	}
	return float64(len(w.entries))
}

// roll closes the tumbling windows that ended before ts into the baseline;
// idle windows count as zero.
func (w *window) roll(ts time.Time, length time.Duration) {
	if ts.Before(w.bucketStart.Add(length)) {
		return
	}
	w.addToBaseline(w.bucket)
	w.bucket = 0
	idle := int64(ts.Sub(w.bucketStart)/length) - 1
	w.baseline *= math.Pow(1-baselineAlpha, float64(idle))
	w.buckets += int(idle)
	w.bucketStart = w.bucketStart.Add(time.Duration(idle+1) * length)
}

func (w *window) addToBaseline(v float64) {
	if w.buckets == 0 {
		w.baseline = v
	} else {
		w.baseline = baselineAlpha*v + (1-baselineAlpha)*w.baseline
	}
	w.buckets++
}

func (d *thresholdDetector) state() detectorState {
	return detectorState{groups: d.windows.len(), evicted: d.windows.evicted, expired: d.windows.expired, dropped: d.dropped}
}
