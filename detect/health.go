package detect

import (
	"fmt"
	"time"
)

// ruleHealth follows a rule's run-time errors: which to log, and whether
// the rule is failing. A rule that fails on some events (a field absent
// from them) is counted; one that fails on most, or on a long run of
// events, is failing — broken for the traffic at hand, and said so in the
// log, the metrics (mcpwatch_detect_rules_failing) and the run summary.
type ruleHealth struct {
	consecutive int
	// winEvals and winErrors count the evaluations of the current window
	// and those that failed.
	winEvals, winErrors int
	failing             bool
	// logged counts the errors logged; sinceLog those not logged since
	// the last that was, at lastLog.
	logged   int
	sinceLog uint64
	lastLog  time.Time
}

// Error log rate limit, per rule: the first errorLogBurst errors, then one
// line per errorLogEvery with the count of those not logged in between.
const (
	errorLogBurst = 3
	errorLogEvery = time.Minute
)

// evalError counts a run-time error of an expression (what: "condition",
// "attribute NAME", …) of the rule under evaluation and logs it, rate
// limited.
func (c *evalCtx) evalError(what string, err error) {
	rr := c.rule
	c.failed = true
	rr.stats.EvalErrors++
	msg := fmt.Sprintf("%s: %v", what, err)
	rr.stats.LastError = msg
	h := &rr.health
	now := c.e.now()
	if h.logged >= errorLogBurst && now.Sub(h.lastLog) < errorLogEvery {
		h.sinceLog++
		return
	}
	h.logged++
	h.lastLog = now
	args := []any{"rule_id", rr.rule.ID, "source", rr.rule.Source, "error", msg, "event_id", c.ev.EventID, "errors", rr.stats.EvalErrors}
	if h.sinceLog > 0 {
		args = append(args, "not_logged_since_last", h.sinceLog)
		h.sinceLog = 0
	}
	c.e.cfg.Logger.Warn("rule evaluation failed", args...)
}

// evaluated records the outcome of one evaluation of rr (one event) and
// moves it in or out of failing.
func (e *Engine) evaluated(rr *ruleRunner, failed bool) {
	h := &rr.health
	h.winEvals++
	if failed {
		h.winErrors++
		h.consecutive++
	} else {
		h.consecutive = 0
	}
	if !h.failing && h.consecutive >= e.cfg.FailAfter {
		e.startFailing(rr, fmt.Sprintf("%d consecutive evaluations failed", h.consecutive))
	}
	if h.winEvals < e.cfg.FailWindow {
		return
	}
	over := float64(h.winErrors) > e.cfg.FailRatio*float64(h.winEvals)
	switch {
	case over && !h.failing:
		e.startFailing(rr, fmt.Sprintf("%d of the last %d evaluations failed", h.winErrors, h.winEvals))
	case !over && h.failing && h.consecutive < e.cfg.FailAfter:
		h.failing = false
		e.cfg.Logger.Info("rule recovered", "rule_id", rr.rule.ID, "errors_in_window", h.winErrors, "evaluations_in_window", h.winEvals)
	}
	h.winEvals, h.winErrors = 0, 0
}

func (e *Engine) startFailing(rr *ruleRunner, why string) {
	rr.health.failing = true
	rr.stats.FailingPeriods++
	e.cfg.Logger.Error("rule failing: its alerts are missing while it is", "rule_id", rr.rule.ID, "source", rr.rule.Source,
		"why", why, "errors", rr.stats.EvalErrors, "evaluations", rr.stats.Evaluations, "last_error", rr.stats.LastError)
}
