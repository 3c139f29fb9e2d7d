package inventory

import (
	"slices"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// Manifest is one version of a server's tool manifest (a distinct
// manifest_hash) and when it was listed.
type Manifest struct {
	ServerKey    string       `json:"server_key"`
	ManifestHash string       `json:"manifest_hash"`
	FirstSeen    time.Time    `json:"first_seen"`
	LastSeen     time.Time    `json:"last_seen"`
	Listings     uint64       `json:"listings"`
	Tools        []event.Tool `json:"tools"`
	// Diff is what changed since the server's previous version (by
	// first_seen); nil for its first.
	Diff *ManifestDiff `json:"diff,omitempty"`
}

// ManifestDiff names the tools added, removed and redefined (same name,
// another hash) between two versions of a manifest.
type ManifestDiff struct {
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	Changed []string `json:"changed,omitempty"`
}

// Tool is one tool of a server: a row of the server_tools view.
type Tool struct {
	ServerKey   string    `json:"server_key"`
	ToolName    string    `json:"tool_name"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Hash        string    `json:"hash"`
	Description string    `json:"description,omitempty"`
	ReadOnly    bool      `json:"read_only"`
	Destructive bool      `json:"destructive"`
	// Definitions counts the distinct definitions (hashes) it had: more
	// than one is drift.
	Definitions uint64 `json:"definitions"`
}

type manifestState struct {
	first, last time.Time
	listings    set
	tools       []event.Tool
}

func (b *Builder) manifest(ev *event.Event) {
	if ev.ServerKey == "" || ev.ManifestHash == "" {
		return
	}
	byHash := b.manifests[ev.ServerKey]
	if byHash == nil {
		byHash = map[string]*manifestState{}
		b.manifests[ev.ServerKey] = byHash
	}
	m := byHash[ev.ManifestHash]
	if m == nil {
		m = &manifestState{first: ev.TS, last: ev.TS, listings: set{}, tools: ev.Tools}
		byHash[ev.ManifestHash] = m
	}
	if ev.TS.Before(m.first) {
		m.first = ev.TS
	}
	if ev.TS.After(m.last) {
		m.last = ev.TS
	}
	m.listings.add(ev.EventID)
}

// Manifests returns every version of every server's manifest, by server and
// first_seen, each with its diff to the version before.
func (b *Builder) Manifests() []Manifest {
	var out []Manifest
	for server, byHash := range b.manifests {
		for hash, m := range byHash {
			out = append(out, Manifest{ServerKey: server, ManifestHash: hash, FirstSeen: m.first, LastSeen: m.last,
				Listings: uint64(len(m.listings)), Tools: m.tools})
		}
	}
	return WithDiffs(out)
}

// WithDiffs sorts manifest versions by server and first_seen and fills in
// each one's diff to the version before.
func WithDiffs(ms []Manifest) []Manifest {
	slices.SortFunc(ms, func(a, b Manifest) int {
		if c := strings.Compare(a.ServerKey, b.ServerKey); c != 0 {
			return c
		}
		if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
			return c
		}
		return strings.Compare(a.ManifestHash, b.ManifestHash)
	})
	for i := range ms {
		if i > 0 && ms[i-1].ServerKey == ms[i].ServerKey {
			ms[i].Diff = diff(ms[i-1].Tools, ms[i].Tools)
		}
	}
	return ms
}

func diff(before, after []event.Tool) *ManifestDiff {
	old := map[string]string{}
	for _, t := range before {
		old[t.Name] = t.Hash
	}
	d := &ManifestDiff{}
	seen := map[string]bool{}
	for _, t := range after {
		seen[t.Name] = true
		switch h, ok := old[t.Name]; {
		case !ok:
			d.Added = append(d.Added, t.Name)
		case h != t.Hash:
			d.Changed = append(d.Changed, t.Name)
		}
	}
	for _, t := range before {
		if !seen[t.Name] {
			d.Removed = append(d.Removed, t.Name)
		}
	}
	slices.Sort(d.Added)
	slices.Sort(d.Removed)
	slices.Sort(d.Changed)
	return d
}

// Tools returns the tools of every server, by server and name, with the
// latest definition of each.
func (b *Builder) Tools() []Tool {
	type key struct{ server, name string }
	tools := map[key]*Tool{}
	hashes := map[key]set{}
	for server, byHash := range b.manifests {
		for _, m := range byHash {
			for _, t := range m.tools {
				k := key{server, t.Name}
				cur := tools[k]
				if cur == nil {
					cur = &Tool{ServerKey: server, ToolName: t.Name, FirstSeen: m.first}
					tools[k], hashes[k] = cur, set{}
				}
				hashes[k].add(t.Hash)
				if m.first.Before(cur.FirstSeen) {
					cur.FirstSeen = m.first
				}
				if !m.last.Before(cur.LastSeen) {
					cur.LastSeen, cur.Hash, cur.Description, cur.ReadOnly, cur.Destructive = m.last, t.Hash, t.Description, t.ReadOnly, t.Destructive
				}
			}
		}
	}
	out := make([]Tool, 0, len(tools))
	for k, t := range tools {
		t.Definitions = uint64(len(hashes[k]))
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b Tool) int {
		if c := strings.Compare(a.ServerKey, b.ServerKey); c != 0 {
			return c
		}
		return strings.Compare(a.ToolName, b.ToolName)
	})
	return out
}
