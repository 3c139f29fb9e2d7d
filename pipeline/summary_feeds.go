package pipeline

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/mcpwatch/mcpwatch/detect"
)

// FeedSummary is what one alert feed did with a run's alerts. Every alert
// is delivered, dead-lettered, or — only if the bus failed — lost.
type FeedSummary struct {
	Name      string `json:"name,omitempty"`
	Delivered int64  `json:"delivered,omitempty"`
	// DeadLettered counts the alerts in DeadLetterPath: Permanent were
	// refused for good by the receiver, Undelivered were still undelivered
	// when the run's feed wait ended (GaveUp).
	DeadLettered   int64  `json:"dead_lettered,omitempty"`
	Permanent      int64  `json:"permanent,omitempty"`
	Undelivered    int64  `json:"undelivered,omitempty"`
	DeadLetterPath string `json:"dead_letter_path,omitempty"`
	GaveUp         bool   `json:"gave_up,omitempty"`
	// Lost counts alerts neither delivered nor dead-lettered.
	Lost int64 `json:"lost,omitempty"`
}

// RuleErrorSummary is one rule's run-time errors in a run.
type RuleErrorSummary struct {
	RuleID         string `json:"rule_id,omitempty"`
	Errors         uint64 `json:"errors,omitempty"`
	Evaluations    uint64 `json:"evaluations,omitempty"`
	Failing        bool   // failing when the run ended `json:"failing,omitempty"`
	FailingPeriods uint64 `json:"failing_periods,omitempty"`
	LastError      string `json:"last_error,omitempty"`
}

// FeedUndelivered is the number of alerts that some feed did not deliver
// (dead-lettered or lost); cmd/mcpwatch exits non-zero for file input when
// it is not zero.
func (s *Summary) FeedUndelivered() int64 {
	var n int64
	for _, f := range s.Feeds {
		n += f.DeadLettered + f.Lost
	}
	return n
}

// addFeeds fills Feeds once the feeds are done; s.AlertsByRule must be
// filled, as it counts every alert of the run.
func (s *Summary) addFeeds(feeds []feed) {
	var total int64
	for _, n := range s.AlertsByRule {
		total += n
	}
	for _, f := range feeds {
		st := f.out.Stats()
		dead := st.DeadLettered.Permanent + st.DeadLettered.Undelivered
		s.Feeds = append(s.Feeds, FeedSummary{
			Name: f.name, Delivered: st.Delivered, DeadLettered: dead,
			Permanent: st.DeadLettered.Permanent, Undelivered: st.DeadLettered.Undelivered,
			DeadLetterPath: f.out.DeadLetterPath(), GaveUp: st.DeadLettered.Undelivered > 0,
			Lost: max(0, total-st.Delivered-dead),
		})
	}
}

// addRuleErrors fills RuleErrors from the engine's stats.
func (s *Summary) addRuleErrors(st detect.Stats) {
	for id, r := range st.Rules {
		if r.EvalErrors == 0 {
			continue
		}
		s.RuleErrors = append(s.RuleErrors, RuleErrorSummary{RuleID: id, Errors: r.EvalErrors, Evaluations: r.Evaluations,
			Failing: r.Failing == 1, FailingPeriods: r.FailingPeriods, LastError: r.LastError})
	}
	slices.SortFunc(s.RuleErrors, func(a, b RuleErrorSummary) int { return cmp.Compare(a.RuleID, b.RuleID) })
}

func (s *Summary) printFeeds(w io.Writer) {
	for _, f := range s.Feeds {
		fmt.Fprintf(w, "alert feed %s: delivered %d  dead-lettered %d (refused %d, undelivered %d)  lost %d\n",
			f.Name, f.Delivered, f.DeadLettered, f.Permanent, f.Undelivered, f.Lost)
		if f.DeadLettered > 0 {
			fmt.Fprintf(w, "  dead letters: %s\n", f.DeadLetterPath)
		}
	}
}

func (s *Summary) printRuleErrors(w io.Writer) {
	if len(s.RuleErrors) == 0 {
		return
	}
	fmt.Fprintf(w, "rule errors (%d rules; their alerts may be missing):\n", len(s.RuleErrors))
	table := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range s.RuleErrors {
		state := ""
		switch {
		case r.Failing:
			state = "FAILING"
		case r.FailingPeriods > 0:
			state = "failed for a while"
		}
		fmt.Fprintf(table, "  %s\t%d errors in %d evaluations\t%s\tlast: %s\n", r.RuleID, r.Errors, r.Evaluations, state, r.LastError)
	}
	table.Flush()
}
