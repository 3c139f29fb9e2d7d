package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/inventory"
)

// Build returns the report of everything observed so far.
func (b *Builder) Build(now time.Time) *Report {
	r := &Report{
		Title: b.cfg.Title, Source: b.cfg.Source, Generated: now.UTC(), From: b.from, To: b.to, PageSize: b.cfg.PageSize,
		Events: b.events, Alerts: b.alerts, ServersDropped: b.serversDropped, Graded: b.grader != nil,
		Capture: b.captures,
	}
	grades := map[string]Grade{}
	if b.grader != nil {
		for _, g := range b.grader.Grades() {
			grades[g.ServerKey] = g
		}
	}
	for key, s := range b.servers {
		srv := Server{
			ServerKey: key, Name: s.name, Version: s.version, Allowlisted: !s.unexpected, Grade: NotGraded,
			ProtocolVersions: joinSorted(s.versions), Transports: joinSorted(s.transports), Clients: max(len(s.clients), s.storedClients),
			Sessions: s.sessions, ToolCalls: s.toolCalls, Alerts: s.alerts, AuthFailures: s.authFl, Bytes: s.bytes,
			FirstSeen: s.first, LastSeen: s.last,
		}
		if g, ok := grades[key]; ok {
			srv.Grade, srv.FailedChecks = g.Grade, g.Failed
		} else if b.grader != nil {
			srv.Grade = "–"
		}
		srv.Tools, srv.ToolsOmitted = top(s.tools, b.cfg.TopN)
		r.Servers = append(r.Servers, srv)
		r.Drift = append(r.Drift, drift(key, s.manifests)...)
	}
	// Servers not on the allowlist first, then those with most alerts.
	slices.SortFunc(r.Servers, func(x, y Server) int {
		if x.Allowlisted != y.Allowlisted {
			if !x.Allowlisted {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(y.Alerts.Count, x.Alerts.Count), cmp.Compare(x.ServerKey, y.ServerKey))
	})
	slices.SortFunc(r.Drift, func(x, y Drift) int { return cmp.Or(x.TS.Compare(y.TS), cmp.Compare(x.ServerKey, y.ServerKey)) })

	r.AlertTimeline = timeline(b.alertMinutes, severities, b.alertTotals, b.cfg.TimeBuckets)
	r.AuthFailures = timeline(b.authMinutes, authSeries[:], b.authTotals, b.cfg.TimeBuckets)
	r.AlertsByRule, _ = top(b.alertsByRule, len(b.alertsByRule))
	r.ProtocolSessions, _ = top(b.protocols, len(b.protocols))

	r.RecentAlerts = slices.Clone(b.recent)
	sortAlerts(r.RecentAlerts)
	r.RecentAlerts = r.RecentAlerts[:min(len(r.RecentAlerts), b.cfg.RecentAlerts)]
	r.BulkTransfers = slices.Clone(b.bulk)
	sortAlerts(r.BulkTransfers)
	r.BulkTransfers = r.BulkTransfers[:min(len(r.BulkTransfers), b.cfg.TopN)]

	talkers := slices.Collect(maps.Values(b.talkers))
	slices.SortFunc(talkers, func(x, y *Talker) int {
		return cmp.Or(cmp.Compare(y.Bytes, x.Bytes), cmp.Compare(x.Client, y.Client), cmp.Compare(x.Server, y.Server))
	})
	for _, t := range talkers[:min(len(talkers), b.cfg.TopN)] {
		r.TopTalkers = append(r.TopTalkers, *t)
	}
	r.appendix()
	return r
}

// top is the n largest counts of m, by count then name, and how many were
// left out.
func top[M ~map[string]*Evidence](m M, n int) ([]Count, int) {
	out := make([]Count, 0, len(m))
	for name, e := range m {
		out = append(out, Count{Name: name, Evidence: *e})
	}
	slices.SortFunc(out, func(x, y Count) int { return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Name, y.Name)) })
	if len(out) > n {
		return out[:n], len(out) - n
	}
	return out, 0
}

// timeline merges per-minute counts into at most buckets buckets of a
// whole number of minutes.
func timeline(minutes map[int64][]int64, series []string, totals map[string]*Evidence, buckets int) Timeline {
	t := Timeline{Series: series, Totals: map[string]Evidence{}}
	for name, e := range totals {
		t.Totals[name] = *e
	}
	if len(minutes) == 0 {
		return t
	}
	keys := slices.Sorted(maps.Keys(minutes))
	first, last := keys[0], keys[len(keys)-1]
	width := (last-first)/int64(buckets) + 1 // minutes per bucket
	t.Start, t.Bucket = time.Unix(first*60, 0).UTC(), time.Duration(width)*time.Minute
	t.Counts = make([][]int64, (last-first)/width+1)
	for i := range t.Counts {
		t.Counts[i] = make([]int64, len(series))
	}
	for _, k := range keys {
		row := t.Counts[(k-first)/width]
		for i, n := range minutes[k] {
			row[i] += n
		}
	}
	return t
}

// drift is the changes between the distinct manifests of a server in the
// order they were first seen (inventory.WithDiffs), each tool with its
// definition before and after.
func drift(server string, manifests map[string]*manifest) []Drift {
	versions := make([]inventory.Manifest, 0, len(manifests))
	for hash, m := range manifests {
		versions = append(versions, inventory.Manifest{ServerKey: server, ManifestHash: hash, FirstSeen: m.ts, Tools: slices.Collect(maps.Values(m.tools))})
	}
	versions = inventory.WithDiffs(versions)
	var out []Drift
	for i := 1; i < len(versions); i++ {
		before, after := manifests[versions[i-1].ManifestHash], manifests[versions[i].ManifestHash]
		d := Drift{ServerKey: server, TS: after.ts, From: versions[i-1].ManifestHash, To: versions[i].ManifestHash,
			Evidence: Evidence{Count: 1, IDs: []string{before.id, after.id}}}
		diff := versions[i].Diff
		for _, name := range diff.Removed {
			d.Changes = append(d.Changes, ToolDiff{Op: "-", Tool: name, Before: describe(before.tools[name])})
		}
		for _, name := range diff.Added {
			d.Changes = append(d.Changes, ToolDiff{Op: "+", Tool: name, After: describe(after.tools[name])})
		}
		for _, name := range diff.Changed {
			d.Changes = append(d.Changes, ToolDiff{Op: "~", Tool: name, Before: describe(before.tools[name]), After: describe(after.tools[name])})
		}
		out = append(out, d)
	}
	return out
}

// describe is a tool definition as the diff shows it.
func describe(t event.Tool) string {
	s := t.Description
	if t.ReadOnly {
		s += " [read-only]"
	}
	if t.Destructive {
		s += " [destructive]"
	}
	return fmt.Sprintf("%s (definition %s)", s, shortHash(t.Hash))
}

// appendix numbers every Evidence shown and lists it for the appendix.
func (r *Report) appendix() {
	n := 0
	note := func(e *Evidence, what string) {
		if e.Count == 0 {
			return
		}
		n++
		e.Ref = fmt.Sprintf("ev%d", n)
		r.Appendix = append(r.Appendix, Appendix{Ref: e.Ref, What: what, Evidence: *e})
	}
	note(&r.Alerts, "all alerts")
	for i := range r.Servers {
		s := &r.Servers[i]
		note(&s.Sessions, "sessions of "+s.ServerKey)
		note(&s.ToolCalls, "tool calls to "+s.ServerKey)
		note(&s.Alerts, "alerts about "+s.ServerKey)
		note(&s.AuthFailures, "auth failures of "+s.ServerKey)
		for j := range s.Tools {
			note(&s.Tools[j].Evidence, "calls of "+s.Tools[j].Name+" on "+s.ServerKey)
		}
	}
	for _, tl := range []*Timeline{&r.AlertTimeline, &r.AuthFailures} {
		for _, name := range tl.Series {
			if e, ok := tl.Totals[name]; ok {
				note(&e, name)
				tl.Totals[name] = e
			}
		}
	}
	for i := range r.AlertsByRule {
		note(&r.AlertsByRule[i].Evidence, "alerts of rule "+r.AlertsByRule[i].Name)
	}
	for i := range r.ProtocolSessions {
		note(&r.ProtocolSessions[i].Evidence, "sessions of protocol revision "+r.ProtocolSessions[i].Name)
	}
	for i := range r.TopTalkers {
		t := &r.TopTalkers[i]
		note(&t.Evidence, "traffic "+t.Client+" → "+t.Server)
	}
	for i := range r.Drift {
		d := &r.Drift[i]
		note(&d.Evidence, "manifests of "+d.ServerKey+" before and after the change")
	}
}
