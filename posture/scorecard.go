package posture

import (
	"slices"
	"sort"

	"github.com/mcpwatch/mcpwatch/event"
)

// Scorecards returns the scorecard of every server seen, by server_key.
func (a *Assessor) Scorecards() []Scorecard {
	out := []Scorecard{}
	for canon, s := range a.subjects {
		if s.server {
			out = append(out, a.scorecard(canon, s))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ServerKey < out[j].ServerKey })
	return out
}

// scorecard joins what the server's own events say with what was seen at
// its origin (a root PRM document) and at the authorization servers its
// PRM lists (their metadata, and OAuth requests that did not name the
// resource they were for).
func (a *Assessor) scorecard(canon string, s *subject) Scorecard {
	// Deep copies: merging must not grow the subject's own evidence.
	outs := make([]outcome, len(s.checks))
	for i, o := range s.checks {
		outs[i] = outcome{pass: slices.Clone(o.pass), fail: slices.Clone(o.fail)}
	}
	at := func(id string) *outcome { return &outs[checkIndex[id]] }
	max := a.cfg.MaxEvidence
	merge := func(id string, o outcome) {
		at(id).pass.merge(o.pass, max)
		at(id).fail.merge(o.fail, max)
	}
	authServers := s.authServers
	canonOrigin := event.CanonicalURL(origin(s.key))
	if root := a.subjects[canonOrigin]; root != nil && (root == s || len(s.checks[checkIndex[PRMServed]].pass) == 0) {
		if root != s {
			merge(PRMServed, root.checks[checkIndex[PRMServed]])
			merge(AuthorizationServers, root.checks[checkIndex[AuthorizationServers]])
			authServers = union(authServers, root.authServers)
		}
		for res, e := range root.rootPRMResources {
			if res == canon || res == canonOrigin {
				at(PRMResourceMatches).pass.merge(e, max)
			} else {
				at(PRMResourceMatches).fail.merge(e, max)
			}
		}
	}
	for _, key := range authServers {
		if as := a.subjects[key]; as != nil {
			merge(ASMetadataDiscoverable, as.asMetadata)
			merge(PKCES256, as.unboundPKCE)
			at(ResourceIndicator).fail.merge(as.noResource, max)
		}
	}
	if len(s.manifests) > 0 {
		stable := len(s.manifests) == 1
		for _, e := range s.manifests {
			if stable {
				at(ManifestStable).pass.merge(e, max)
			} else {
				// The first event of each version shows the change.
				at(ManifestStable).fail.add(e[0], max)
			}
		}
	}
	sc := Scorecard{ServerKey: s.key, FirstSeen: s.first, LastSeen: s.last, TLSOnly: s.tlsOnly, Sources: slices.Clone(s.sources)}
	for i, c := range Checks {
		r := result(c, outs[i])
		for _, src := range r.Sources {
			if j, found := slices.BinarySearch(sc.Sources, src); !found {
				sc.Sources = slices.Insert(sc.Sources, j, src)
			}
		}
		sc.Checks = append(sc.Checks, r)
	}
	sc.Grade, sc.GradeReasons = Grade(sc.Checks)
	return sc
}

// result decides a check from its outcome.
func result(c Check, o outcome) Result {
	r := Result{ID: c.ID, Status: NotObserved, Evidence: []string{}, Spec: c.Spec}
	var decided evidence
	switch {
	case c.passWins && len(o.pass) > 0, !c.passWins && len(o.fail) == 0 && len(o.pass) > 0:
		r.Status, decided = Pass, o.pass
	case len(o.fail) > 0:
		r.Status, decided = Fail, o.fail
	}
	for _, e := range decided {
		r.Evidence = append(r.Evidence, e.id)
		if i, found := slices.BinarySearch(r.Sources, e.source); !found && e.source != "" {
			r.Sources = slices.Insert(r.Sources, i, e.source)
		}
	}
	return r
}

// union is the sorted union of two sorted sets.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if i, found := slices.BinarySearch(out, x); !found {
			out = slices.Insert(out, i, x)
		}
	}
	return out
}
