package posture

import (
	"fmt"
	"slices"
)

// Grades from best to worst.
var Grades = []string{"A", "B", "C", "D", "F"}

// NotObservedCaps caps the grade of a server whose check was never
// observed: what is not seen cannot earn a good grade.
var NotObservedCaps = []struct {
	Check, Grade string
}{
	{AuthRequired, "C"},
	{TransportEncrypted, "B"},
	{PRMServed, "B"},
}

// Grade is the worst cap that applies to results (Check.FailGrade of each
// failed check, NotObservedCaps of each unobserved one), A when none does,
// with the reasons for it.
func Grade(results []Result) (grade string, reasons []string) {
	grade = Grades[0]
	limit := func(g, reason string) {
		switch worse := slices.Index(Grades, g) - slices.Index(Grades, grade); {
		case worse > 0:
			grade, reasons = g, []string{reason}
		case worse == 0 && g != Grades[0]:
			reasons = append(reasons, reason)
		}
	}
	for _, r := range results {
		switch r.Status {
		case Fail:
			limit(Checks[checkIndex[r.ID]].FailGrade, r.ID+" failed")
		case NotObserved:
			for _, c := range NotObservedCaps {
				if c.Check == r.ID {
					limit(c.Grade, fmt.Sprintf("%s not observed", r.ID))
				}
			}
		}
	}
	return grade, reasons
}
