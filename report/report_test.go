package report_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/posture"
	"github.com/mcpwatch/mcpwatch/report"
)

// TestReportContent checks the report of real traffic against the
// pipeline's own output: every server and its alert count, the allowlist
// order, auth failures, drift of the rug pull, sessions per revision.
func TestReportContent(t *testing.T) {
	o := pipelineOutput(t)
	r := build(t, o)

	alertsPerServer := map[string]int64{}
	unexpected := map[string]bool{}
	for _, a := range o.alerts {
		alertsPerServer[a.ServerKey]++
		if a.Category == "unexpected_server" {
			unexpected[a.ServerKey] = true
		}
	}
	// The grades of package posture, assessed on their own.
	assessor := posture.NewAssessor(posture.Config{})
	for _, ev := range o.events {
		assessor.Observe(ev)
	}
	scorecards := map[string]posture.Scorecard{}
	for _, sc := range assessor.Scorecards() {
		scorecards[sc.ServerKey] = sc
	}
	if scorecards["http://10.0.0.9:3000/mcp"].Grade == "" {
		t.Fatalf("posture graded %d servers, not the shadow server", len(scorecards))
	}
	servers := map[string]bool{}
	sessions := int64(0)
	for _, ev := range o.events {
		if ev.ServerKey != "" {
			servers[ev.ServerKey] = true
		}
		if ev.Kind == "session" {
			sessions++
		}
	}
	if len(r.Servers) != len(servers) {
		t.Fatalf("%d servers in the report, the events name %d", len(r.Servers), len(servers))
	}
	listedSeen := false
	for _, s := range r.Servers {
		if s.Alerts.Count != alertsPerServer[s.ServerKey] {
			t.Errorf("%s: %d alerts in the report, the pipeline raised %d", s.ServerKey, s.Alerts.Count, alertsPerServer[s.ServerKey])
		}
		if s.Allowlisted == unexpected[s.ServerKey] {
			t.Errorf("%s: allowlisted %v, yet unexpected_server alert %v", s.ServerKey, s.Allowlisted, unexpected[s.ServerKey])
		}
		if !s.Allowlisted && listedSeen {
			t.Errorf("%s is not on the allowlist but comes after a listed server", s.ServerKey)
		}
		listedSeen = listedSeen || s.Allowlisted
		// Endpoints posture does not grade (an authorization server's
		// token endpoint seen as a server_key) show a dash.
		card, ok := scorecards[s.ServerKey]
		if want := cmp.Or(card.Grade, "–"); s.Grade != want {
			t.Errorf("%s: grade %q, want %q (scorecard: %v)", s.ServerKey, s.Grade, want, ok)
		}
		failed := 0
		for _, c := range card.Checks {
			if c.Status == posture.Fail {
				failed++
			}
		}
		if len(s.FailedChecks) != failed {
			t.Errorf("%s: %d failed checks shown, the scorecard has %d", s.ServerKey, len(s.FailedChecks), failed)
		}
	}
	if !unexpected["http://10.0.0.9:3000/mcp"] || !listedSeen {
		t.Errorf("want the demo's shadow server off the allowlist and its files server on it: %v", unexpected)
	}
	if r.Alerts.Count != int64(len(o.alerts)) {
		t.Errorf("%d alerts, the pipeline raised %d", r.Alerts.Count, len(o.alerts))
	}

	var perRevision int64
	for _, c := range r.ProtocolSessions {
		perRevision += c.Count
	}
	if perRevision != sessions {
		t.Errorf("sessions per revision add up to %d, %d session events", perRevision, sessions)
	}
	if c := r.AuthFailures.Totals["challenge"]; c.Count == 0 || len(c.IDs) == 0 {
		t.Errorf("auth failures: %+v, want the OAuth scenario's 401 challenges with their event ids", c)
	}

	var drift *report.Drift
	for i := range r.Drift {
		if strings.Contains(r.Drift[i].ServerKey, "docs.corp.example") {
			drift = &r.Drift[i]
		}
	}
	if drift == nil {
		t.Fatalf("no manifest drift for the rug pull server; drift %+v", r.Drift)
	}
	ops := map[string]string{}
	for _, c := range drift.Changes {
		ops[c.Tool] = c.Op
	}
	if ops["search_docs"] != "~" || ops["fetch_notes"] != "+" {
		t.Errorf("rug pull diff %+v, want search_docs redefined and fetch_notes added", drift.Changes)
	}
	if len(drift.IDs) != 2 {
		t.Errorf("drift evidence %v, want the two manifest events", drift.IDs)
	}
	if len(r.Capture) != 3 || r.Capture[0].Packets == 0 {
		t.Errorf("capture health %+v, want the three inputs' counters", r.Capture)
	}
}

// TestReportFormats renders the report in each format: JSON decodes to the
// same numbers, Markdown and HTML link every number to an appendix entry
// that exists.
func TestReportFormats(t *testing.T) {
	r := build(t, pipelineOutput(t))
	for _, format := range []string{report.FormatHTML, report.FormatMarkdown, report.FormatJSON} {
		var buf bytes.Buffer
		if err := report.Write(&buf, r, format); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		out := buf.String()
		switch format {
		case report.FormatJSON:
			var back report.Report
			if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
				t.Fatal(err)
			}
			if back.Alerts.Count != r.Alerts.Count || len(back.Servers) != len(r.Servers) || len(back.Drift) != len(r.Drift) {
				t.Errorf("json: %d alerts, %d servers, %d drifts; want %d, %d, %d", back.Alerts.Count, len(back.Servers), len(back.Drift),
					r.Alerts.Count, len(r.Servers), len(r.Drift))
			}
		default:
			for _, a := range r.Appendix {
				if !strings.Contains(out, `id="`+a.Ref+`"`) || !strings.Contains(out, "(#"+a.Ref+")") && !strings.Contains(out, `href="#`+a.Ref+`"`) {
					t.Errorf("%s: evidence %s (%s) not linked or not in the appendix", format, a.Ref, a.What)
				}
			}
		}
	}
	if err := report.Write(&bytes.Buffer{}, r, "pdf"); err == nil || !strings.Contains(err.Error(), "want html, md or json") {
		t.Errorf("format pdf: %v", err)
	}
}

// gradeByAlerts is a Grader for the test: a server with an alert of
// category unauthenticated_server fails auth-required and gets an F, the
// others an A.
type gradeByAlerts struct{ seen, failing map[string]bool }

func (g *gradeByAlerts) Observe(ev *event.Event) {
	if ev.ServerKey != "" {
		g.seen[ev.ServerKey] = true
	}
}

func (g *gradeByAlerts) Grades() []report.Grade {
	var out []report.Grade
	for key := range g.seen {
		if g.failing[key] {
			out = append(out, report.Grade{ServerKey: key, Grade: "F",
				Failed: []report.FailedCheck{{ID: "auth-required", Reason: "tools/call answered without credentials"}}})
		} else {
			out = append(out, report.Grade{ServerKey: key, Grade: "A"})
		}
	}
	return out
}

// TestGrades shows the grade column fed by a Grader: each server's grade
// and the reason of its failed check, in every format.
func TestGrades(t *testing.T) {
	o := pipelineOutput(t)
	g := &gradeByAlerts{seen: map[string]bool{}, failing: map[string]bool{}}
	for _, a := range o.alerts {
		if a.Category == "unauthenticated_server" {
			g.failing[a.ServerKey] = true
		}
	}
	b := report.NewBuilder(report.Config{}, g)
	for _, ev := range o.events {
		b.Observe(ev)
	}
	r := b.Build(time.Now())
	if !r.Graded {
		t.Error("report not marked graded")
	}
	for _, s := range r.Servers {
		want := "A"
		if g.failing[s.ServerKey] {
			want = "F"
			if len(s.FailedChecks) != 1 || s.FailedChecks[0].ID != "auth-required" {
				t.Errorf("%s: failed checks %+v", s.ServerKey, s.FailedChecks)
			}
		}
		if s.Grade != want {
			t.Errorf("%s: grade %s, want %s", s.ServerKey, s.Grade, want)
		}
	}
	var html, md bytes.Buffer
	if err := report.Write(&html, r, report.FormatHTML); err != nil {
		t.Fatal(err)
	}
	if err := report.Write(&md, r, report.FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), "<li><b>auth-required</b>: tools/call answered without credentials</li>") ||
		!strings.Contains(md.String(), "**auth-required**: tools/call answered without credentials;") {
		t.Error("the failed check's reason is missing from the HTML or the Markdown")
	}
}
