package decode

import (
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
)

// A go-sdk server paging tools/list one tool per page: each full listing is
// one manifest event; a tool added mid-session changes the manifest hash
// but not the hashes of the tools that stayed.
func TestManifestPaginated(t *testing.T) {
	evs, logged, _ := decodeCapture(t, "gosdk-manifest-paged")
	assertMatchesSDK(t, evs, logged)
	manifests := byKind(evs, event.KindManifest)
	if len(manifests) != 2 {
		t.Fatalf("%d manifest events, want 2", len(manifests))
	}
	before, after := manifests[0], manifests[1]
	if before.ToolCount != 2 || after.ToolCount != 3 {
		t.Fatalf("tool counts %d, %d; want 2, 3", before.ToolCount, after.ToolCount)
	}
	if before.ManifestHash == after.ManifestHash {
		t.Error("manifest hash unchanged after a tool was added")
	}
	hashes := map[string]string{}
	for _, tool := range before.Tools {
		hashes[tool.Name] = tool.Hash
	}
	for _, tool := range after.Tools {
		if h, ok := hashes[tool.Name]; ok && h != tool.Hash {
			t.Errorf("tool %s: hash changed from %s to %s", tool.Name, h, tool.Hash)
		}
		if tool.Name == "delete_file" && !tool.Destructive {
			t.Errorf("delete_file not flagged destructive")
		}
		if tool.Name == "search_docs" && !tool.ReadOnly {
			t.Errorf("search_docs not flagged read-only")
		}
	}
	// The same two tools served unpaged by another server hash the same.
	unpaged, _, _ := decodeCapture(t, "gosdk-2025-11-25-json")
	if m := byKind(unpaged, event.KindManifest); len(m) != 1 || m[0].ManifestHash != before.ManifestHash {
		t.Errorf("paged and unpaged listings of the same tools hash differently")
	}
}

// Canonical JSON: key order and insignificant whitespace do not change a
// tool's hash; any change of content does.
func TestCanonicalHash(t *testing.T) {
	base := canonicalHash([]byte(`{"name":"a","inputSchema":{"type":"object","properties":{"x":{"type":"string"}}},"description":"d <b>"}`))
	for _, tc := range []struct {
		raw  string
		same bool
	}{
		{`{ "description" : "d <b>", "inputSchema":{"properties":{"x":{"type":"string"}},"type":"object"}, "name":"a" }`, true},
		{`{"description":"d \u003cb>","inputSchema":{"properties":{"x":{"type":"string"}},"type":"object"},"name":"a"}`, true},
		{`{"description":"d <b>!","inputSchema":{"properties":{"x":{"type":"string"}},"type":"object"},"name":"a"}`, false},
		{`{"description":"d <b>","inputSchema":{"properties":{"x":{"type":"number"}},"type":"object"},"name":"a"}`, false},
	} {
		if got := canonicalHash([]byte(tc.raw)) == base; got != tc.same {
			t.Errorf("%s: same hash %v, want %v", tc.raw, got, tc.same)
		}
	}
}
