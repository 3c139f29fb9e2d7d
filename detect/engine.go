package detect

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr/vm"

	"github.com/mcpwatch/mcpwatch/event"
)

// Config bounds the engine's state and says when a rule is failing.
type Config struct {
	// MaxGroupsPerRule caps the groups (threshold windows, seen values,
	// last values, suppression marks) each rule keeps; the least recently
	// updated group is evicted beyond it. Default 100000.
	MaxGroupsPerRule int
	// MaxEventsPerGroup caps the entries of one threshold window and the
	// clients one change rule compares per key. Default 10000.
	MaxEventsPerGroup int
	// MaxAttributeBytes caps each attribute value of an alert, in bytes; a
	// longer value is cut at a UTF-8 boundary and ends in TruncatedMarker,
	// the whole within the cap. Default 4096 (the cap on a tool
	// description in events). The summary is capped at MaxSummaryBytes.
	MaxAttributeBytes int
	// MaxAttributes caps the attributes of one alert. The rule type's own
	// (value, previous, current, other_*) and mitre are kept first, then
	// the rule's in name order; the alert says how many were dropped in
	// the attribute DroppedAttributesKey. Default 32.
	MaxAttributes int
	// FailAfter consecutive failed evaluations of a rule make it failing.
	// Default 100.
	FailAfter int
	// FailWindow and FailRatio: a rule is also failing when more than
	// FailRatio of its last FailWindow evaluations failed (windows of
	// FailWindow evaluations, one after the other); it recovers at the end
	// of a window that is not. Default 1000 and 0.5.
	FailWindow int
	FailRatio  float64
	// Logger receives rule errors (rate-limited per rule) and failing
	// rules. Default slog.Default().
	Logger *slog.Logger
}

// MaxSummaryBytes caps an alert's summary, in bytes, as MaxAttributeBytes
// caps an attribute: a longer one ends in TruncatedMarker.
const MaxSummaryBytes = 1024

// TruncatedMarker ends an attribute value or summary cut to its cap.
const TruncatedMarker = "…[truncated]"

// DroppedAttributesKey is the attribute that counts the attributes dropped
// by MaxAttributes; it is the only one beyond the cap.
const DroppedAttributesKey = "attributes_dropped"

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{MaxGroupsPerRule: 100_000, MaxEventsPerGroup: 10_000, MaxAttributeBytes: 4096, MaxAttributes: 32,
		FailAfter: 100, FailWindow: 1000, FailRatio: 0.5}
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	def := DefaultConfig()
	for _, f := range []struct{ v, d *int }{
		{&c.MaxGroupsPerRule, &def.MaxGroupsPerRule}, {&c.MaxEventsPerGroup, &def.MaxEventsPerGroup},
		{&c.MaxAttributeBytes, &def.MaxAttributeBytes}, {&c.MaxAttributes, &def.MaxAttributes},
		{&c.FailAfter, &def.FailAfter}, {&c.FailWindow, &def.FailWindow},
	} {
		if *f.v == 0 {
			*f.v = *f.d
		}
	}
	if c.FailRatio == 0 {
		c.FailRatio = def.FailRatio
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate checks the limits; zero fields stand for their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxGroupsPerRule", c.MaxGroupsPerRule}, {"MaxEventsPerGroup", c.MaxEventsPerGroup},
		{"MaxAttributes", c.MaxAttributes}, {"FailAfter", c.FailAfter}, {"FailWindow", c.FailWindow},
	} {
		if f.v <= 0 {
			return fmt.Errorf("detect config: %s %d, want > 0", f.name, f.v)
		}
	}
	if c.MaxAttributeBytes < 2*len(TruncatedMarker) {
		return fmt.Errorf("detect config: MaxAttributeBytes %d, want at least %d", c.MaxAttributeBytes, 2*len(TruncatedMarker))
	}
	if c.FailRatio <= 0 || c.FailRatio > 1 {
		return fmt.Errorf("detect config: FailRatio %g, want 0 < ratio <= 1", c.FailRatio)
	}
	return nil
}

// Engine runs rules over events. It is safe for concurrent use; Process
// calls are serialized because rule state depends on event order.
type Engine struct {
	schema *schema
	allow  atomic.Pointer[Allowlist]
	cfg    Config
	// now is the wall clock, for rate-limiting error logs only.
	now func() time.Time

	mu    sync.Mutex // guards everything below
	rules []*ruleRunner
	uses  []*field // event fields any rule expression reads
	vm    vm.VM
	cur   evalCtx
	// verdicts are the allowlist's, by server, for the allowlist functions.
	verdicts verdicts
	events   uint64
}

// detector is the type-specific part of a rule: it sees the events that
// matched the condition and says which of them raise an alert.
type detector interface {
	observe(c *evalCtx) []candidate
	state() detectorState
}

// detectorState is what a detector holds and what its bounds cost.
type detectorState struct {
	groups  int
	evicted uint64
	expired uint64
	dropped uint64
}

// candidate is an alert before suppression and rendering.
type candidate struct {
	group    string
	evidence []string
	vars     alertVars
}

// alertVars are the rule-type-specific values of an alert.
type alertVars struct {
	count       float64
	window      time.Duration
	first, last time.Time
	previous    any
	current     any
	baseline    float64
	attrs       map[string]string // type-specific attributes: value, previous, current
}

type ruleRunner struct {
	rule     *Rule
	det      detector
	suppress *groups[time.Time]
	stats    RuleStats
	health   ruleHealth
}

// RuleStats are the counters of one rule.
type RuleStats struct {
	// Evaluations counts the events the rule was run on.
	Evaluations uint64
	Matched     uint64 // events that matched the condition
	Alerts      uint64
	Suppressed  uint64 // alerts withheld by suppress
	// EvalErrors counts expression errors at run time. A condition (or
	// change value) that fails skips the event for the rule; an attribute
	// that fails is in the alert as "[error: …]" and the alert is raised.
	EvalErrors uint64
	// Failing is 1 while the rule is failing (Config.FailAfter,
	// FailWindow, FailRatio), else 0; FailingPeriods counts the times it
	// started failing.
	Failing        int
	FailingPeriods uint64
	// LastError is the rule's latest run-time error, empty if none.
	LastError string
	// AttributesTruncated counts attribute values and summaries cut to
	// their cap, AttributesDropped the attributes beyond MaxAttributes.
	AttributesTruncated uint64
	AttributesDropped   uint64
	Groups              int // groups held now, suppression marks included
	// GroupsEvicted counts groups dropped by MaxGroupsPerRule, and
	// GroupsExpired those dropped as idle: threshold windows two windows
	// (with a baseline, BaselineWindows+20 windows) and suppression marks
	// twice the suppress interval after their last event.
	GroupsEvicted uint64
	GroupsExpired uint64
	// EntriesDropped counts threshold window entries dropped by
	// MaxEventsPerGroup, and late events older than their group's window.
	EntriesDropped uint64
}

// Stats are the engine's counters.
type Stats struct {
	Events uint64
	Rules  map[string]RuleStats
}

// NewEngine builds an engine over compiled rules. Zero Config fields take
// their defaults; allow may be nil (no allowlist configured).
func NewEngine(cfg Config, rules []*Rule, allow *Allowlist) (*Engine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{schema: newSchema(), cfg: cfg, now: time.Now, verdicts: verdicts{byServer: map[serverID]verdict{}}}
	e.allow.Store(allow)
	used := map[string]bool{}
	var errs []error
	for _, r := range rules {
		if r.cond == nil {
			errs = append(errs, fmt.Errorf("rule %q was not compiled by LoadRules", r.ID))
			continue
		}
		det, err := newDetector(cfg, e.schema, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: rule %q: %w", r.Source, r.ID, err))
			continue
		}
		e.rules = append(e.rules, &ruleRunner{rule: r, det: det, suppress: newGroups[time.Time](cfg.MaxGroupsPerRule, 2*r.Suppress)})
		for _, n := range r.uses {
			if !used[n] {
				used[n] = true
				e.uses = append(e.uses, e.schema.fields[n])
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	e.cur.init(e)
	return e, nil
}

func newDetector(cfg Config, s *schema, r *Rule) (detector, error) {
	switch r.Type {
	case TypeMatch:
		return newMatchDetector(s, r), nil
	case TypeNewValue:
		return newNewValueDetector(cfg, s, r), nil
	case TypeThreshold:
		return newThresholdDetector(cfg, s, r)
	case TypeChange:
		return newChangeDetector(cfg, s, r), nil
	}
	return nil, fmt.Errorf("unknown type %q", r.Type)
}

// SetAllowlist replaces the allowlist; nil removes it. Events processed
// after the call see the new one.
func (e *Engine) SetAllowlist(a *Allowlist) { e.allow.Store(a) }

// Process runs every rule over ev and returns the alerts it raises, in rule
// order. Events should arrive in roughly ts order; windows tolerate
// reordering within their length.
func (e *Engine) Process(ev *event.Event) []*event.Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events++
	c := e.begin(ev)
	var alerts []*event.Alert
	for _, rr := range e.rules {
		c.rule, c.failed = rr, false
		alerts = e.runRule(c, rr, alerts)
		e.evaluated(rr, c.failed)
	}
	return alerts
}

// runRule runs one rule over the event under evaluation and appends its
// alerts.
func (e *Engine) runRule(c *evalCtx, rr *ruleRunner, alerts []*event.Alert) []*event.Alert {
	rr.stats.Evaluations++
	ok, err := c.run(rr.rule.cond)
	if err != nil {
		c.evalError("condition", err)
		return alerts
	}
	if !ok.(bool) {
		return alerts
	}
	rr.stats.Matched++
	for _, cand := range rr.det.observe(c) {
		if rr.suppressed(c.ev.TS, cand.group) {
			rr.stats.Suppressed++
			continue
		}
		rr.stats.Alerts++
		alerts = append(alerts, c.alert(cand))
	}
	return alerts
}

// suppressed reports whether group alerted less than rule.Suppress ago,
// and marks it alerted now if not.
func (rr *ruleRunner) suppressed(ts time.Time, group string) bool {
	if rr.rule.Suppress == 0 {
		return false
	}
	// A late event before the last alert is inside the interval too.
	if last, ok := rr.suppress.get(group, ts); ok && ts.Sub(last) < rr.rule.Suppress {
		return true
	}
	rr.suppress.put(group, ts, ts)
	return false
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Stats{Events: e.events, Rules: make(map[string]RuleStats, len(e.rules))}
	for _, rr := range e.rules {
		st := rr.stats
		ds := rr.det.state()
		st.Groups = ds.groups + rr.suppress.len()
		st.GroupsEvicted = ds.evicted + rr.suppress.evicted
		st.GroupsExpired = ds.expired + rr.suppress.expired
		st.EntriesDropped = ds.dropped
		if rr.health.failing {
			st.Failing = 1
		}
		s.Rules[rr.rule.ID] = st
	}
	return s
}

// evalCtx is the event under evaluation. The engine keeps one, with its
// environment map and the allowlist functions bound to it, for every event:
// a map and closures per event cost more than most conditions.
type evalCtx struct {
	e   *Engine
	ev  *event.Event
	env map[string]any
	// values are those of e.uses in env, in order.
	values []any
	allow  *Allowlist
	rule   *ruleRunner
	// verdict is the allowlist's about the event's server, once asked for.
	verdict    verdict
	hasVerdict bool
	// varsSet says the alert variables are in env, left from an alert.
	varsSet bool
	// key is scratch space for group keys, so looking up a known group
	// allocates nothing.
	key []byte
	// failed says an expression of rule failed on this event.
	failed bool
}

func (c *evalCtx) init(e *Engine) {
	c.e = e
	c.env = make(map[string]any, len(e.uses)+len(alertVarNames)+4)
	c.values = make([]any, len(e.uses))
	c.env[fnHasAllowlist] = func() bool { return c.allow != nil }
	c.env[fnAllowlisted] = func() bool { return c.allowVerdict().allowed }
	c.env[fnPinnedManifest] = func() string { return c.allowVerdict().pin.Manifest }
	c.env[fnPinnedTools] = func() []string { return c.allowVerdict().pin.Tools }
}

// begin makes ev the event under evaluation.
func (e *Engine) begin(ev *event.Event) *evalCtx {
	c := &e.cur
	c.ev, c.allow, c.rule, c.hasVerdict = ev, e.allow.Load(), nil, false
	// Consecutive events share many values (kind, method, status), and
	// comparing is cheaper than boxing a value and assigning it.
	for i, f := range e.uses {
		if !f.holds(ev, c.values[i]) {
			c.values[i] = f.value(ev)
			c.env[f.name] = c.values[i]
		}
	}
	// An event sees no alert variables but those of its own alerts.
	if c.varsSet {
		for _, n := range alertVarNames {
			delete(c.env, n)
		}
		c.varsSet = false
	}
	return c
}

// allowVerdict is what the allowlist says about the event's server;
// without an allowlist, not allowed and nothing pinned.
func (c *evalCtx) allowVerdict() verdict {
	if c.allow == nil {
		return verdict{}
	}
	if !c.hasVerdict {
		c.verdict, c.hasVerdict = c.e.verdicts.of(c.allow, c.ev), true
	}
	return c.verdict
}

func (c *evalCtx) run(p *vm.Program) (any, error) {
	return c.e.vm.Run(p, c.env)
}

// fieldValue returns an event field by schema name.
func (c *evalCtx) fieldValue(name string) any {
	return c.e.schema.fields[name].value(c.ev)
}

// groupKey joins the values of fields into a group key, in c.key: valid
// until the next call. complete is false if a value is empty.
func (c *evalCtx) groupKey(fields []*field) (key []byte, complete bool) {
	key, complete = c.key[:0], true
	for i, f := range fields {
		if i > 0 {
			key = append(key, 0)
		}
		n := len(key)
		key = f.appendText(key, c.ev)
		complete = complete && len(key) > n
	}
	c.key = key
	return key, complete
}

// setVars makes the alert variables visible to attribute expressions.
func (c *evalCtx) setVars(v *alertVars) {
	c.varsSet = true
	c.env[varCount] = v.count
	c.env[varWindow] = formatDuration(v.window)
	c.env[varPrevious] = v.previous
	c.env[varCurrent] = v.current
	c.env[varBaseline] = v.baseline
}

// alert renders a candidate of the current rule. An attribute expression
// that fails is counted and logged, and the attribute says so; the alert
// is raised all the same, since its condition held.
func (c *evalCtx) alert(cand candidate) *event.Alert {
	r := c.rule.rule
	ev := c.ev
	a := &event.Alert{
		Schema:   event.SchemaVersion,
		TS:       ev.TS,
		RuleID:   r.ID,
		RuleName: r.Name,
		Severity: r.Severity,
		Category: r.Category,
		Count:    int64(cand.vars.count),
		WindowS:  cand.vars.window.Seconds(),
	}
	// A threshold alert speaks for many events; only its group fields are
	// the same for all of them.
	subjectFields := []string{"server_key", "client_address", "session_id", "tool_name"}
	if r.Type == TypeThreshold {
		subjectFields = r.GroupBy
	}
	for _, f := range subjectFields {
		v := format(c.fieldValue(f))
		switch f {
		case "server_key":
			a.ServerKey = v
		case "client_address":
			a.ClientAddress = v
		case "session_id":
			a.SessionID = v
		case "tool_name":
			a.ToolName = v
		}
	}
	if !cand.vars.first.IsZero() {
		first, last := cand.vars.first.UTC(), cand.vars.last.UTC()
		a.FirstSeen, a.LastSeen = &first, &last
		a.TS = last // the newest evidence, which a late event is not
	}
	evidence := cand.evidence
	if len(evidence) > event.MaxEvidence {
		evidence = evidence[len(evidence)-event.MaxEvidence:]
	}
	a.EvidenceEventIDs = evidence

	// Attributes in the order MaxAttributes keeps them: the rule type's
	// and mitre, then the rule's by name.
	attrs := map[string]string{}
	var order []string
	add := func(k, v string) {
		if _, ok := attrs[k]; !ok {
			order = append(order, k)
		}
		attrs[k] = c.capText(v, c.e.cfg.MaxAttributeBytes)
	}
	for _, k := range slices.Sorted(maps.Keys(cand.vars.attrs)) {
		add(k, cand.vars.attrs[k])
	}
	if len(r.MITRE) > 0 {
		add("mitre", strings.Join(r.MITRE, ","))
	}
	c.setVars(&cand.vars)
	for _, at := range r.attrs {
		v, err := c.run(at.prog)
		if err != nil {
			c.evalError("attribute "+at.name, err)
			add(at.name, "[error: "+firstLine(err.Error(), 200)+"]")
			continue
		}
		if text := format(v); text != "" {
			add(at.name, text) // an empty attribute says nothing
		}
	}
	if limit := c.e.cfg.MaxAttributes; len(order) > limit {
		for _, k := range order[limit:] {
			delete(attrs, k)
		}
		dropped := len(order) - limit
		c.rule.stats.AttributesDropped += uint64(dropped)
		attrs[DroppedAttributesKey] = strconv.Itoa(dropped)
	}
	if len(attrs) > 0 {
		a.Attributes = attrs
	}
	a.Summary = c.capText(c.summary(r, attrs), MaxSummaryBytes)
	a.AlertID = alertID(r, cand.group, evidence)
	return a
}

// capText cuts v to at most n bytes, ending in TruncatedMarker, and counts
// the cut.
func (c *evalCtx) capText(v string, n int) string {
	if len(v) <= n {
		return v
	}
	c.rule.stats.AttributesTruncated++
	cut := n - len(TruncatedMarker)
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + TruncatedMarker
}

// firstLine is s up to its first line break, at most n bytes.
func firstLine(s string, n int) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return s
}

// alertID is deterministic for the same evidence, so a replay or a
// redelivery republishes the same id and JetStream drops the copy. A
// new_value alert is about the value, not about which event showed it
// first: its id is the rule and the value alone, so a detect replica that
// takes over after a crash and sees the value again from another event
// republishes the same alert instead of a second one.
func alertID(r *Rule, group string, evidence []string) string {
	if r.Type == TypeNewValue {
		return event.NewID("alert", r.ID, group)
	}
	return event.NewID(append([]string{"alert", r.ID, group}, evidence...)...)
}

// summary fills the {name} placeholders of the rule's summary from the
// alert's attributes, the alert variables and the event fields.
func (c *evalCtx) summary(r *Rule, attrs map[string]string) string {
	if r.Summary == "" {
		return r.Name + ": " + c.ev.ServerKey
	}
	return placeholder.ReplaceAllStringFunc(r.Summary, func(m string) string {
		name := m[1 : len(m)-1]
		if v, ok := attrs[name]; ok {
			return v
		}
		if v, ok := c.env[name]; ok && slices.Contains(alertVarNames, name) {
			return format(v)
		}
		return format(c.fieldValue(name))
	})
}

// formatDuration prints 5m rather than 5m0s.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
