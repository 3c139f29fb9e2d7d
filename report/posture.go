package report

import (
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/posture"
)

// Posture is the Grader of mcpwatch: package posture's scorecards.
type Posture struct{ *posture.Assessor }

var _ Grader = Posture{}

// NewPosture returns a Posture that has seen nothing yet.
func NewPosture() Posture { return Posture{posture.NewAssessor(posture.Config{})} }

// Grades are the scorecards of the servers observed.
func (p Posture) Grades() []Grade { return GradesOf(p.Scorecards()) }

// StoredGrades is a Grader of scorecards assessed elsewhere (from the
// events in ClickHouse): it has nothing to observe.
type StoredGrades []Grade

// Observe does nothing: the grades are already made.
func (StoredGrades) Observe(*event.Event) {}

// Grades returns the grades.
func (s StoredGrades) Grades() []Grade { return s }

// GradesOf turns scorecards into grades; the reason of a failed check is
// the requirement it failed and where the specification makes it.
func GradesOf(cards []posture.Scorecard) []Grade {
	requirement := map[string]posture.Check{}
	for _, c := range posture.Checks {
		requirement[c.ID] = c
	}
	out := make([]Grade, 0, len(cards))
	for _, sc := range cards {
		g := Grade{ServerKey: sc.ServerKey, Grade: sc.Grade}
		for _, r := range sc.Checks {
			if r.Status == posture.Fail {
				c := requirement[r.ID]
				g.Failed = append(g.Failed, FailedCheck{ID: r.ID, Reason: c.Requirement + " (" + c.Spec + ")", Evidence: r.Evidence})
			}
		}
		out = append(out, g)
	}
	return out
}
