package decode

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// maxManifestTools caps the tools a session gathers across the pages of one
// paginated tools/list.
const maxManifestTools = 4096

// manifest gathers the tools of a tools/list result and, on its last page
// (no nextCursor), emits a manifest event for the whole set.
func (d *Decoder) manifest(ex *exchange, s *session, m *message, ts time.Time) {
	for _, t := range m.tools {
		if len(s.manifestPages) >= maxManifestTools {
			break
		}
		s.manifestPages = append(s.manifestPages, event.Tool{
			Name:        t.name,
			Hash:        d.toolHash(t.raw),
			Description: t.description,
			ReadOnly:    t.readOnly,
			Destructive: t.destructive,
		})
	}
	if m.nextCursor != "" {
		return
	}
	tools := s.manifestPages
	s.manifestPages = nil
	slices.SortFunc(tools, func(a, b event.Tool) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Hash, b.Hash)) })
	ev := d.envelope(event.KindManifest, ts, ex.cs.conn, ex.serverKey, s, strconv.Itoa(ex.seq), strconv.Itoa(ex.manif))
	ex.manif++
	ev.ToolCount = len(tools)
	ev.Tools = tools
	ev.ManifestHash = manifestHash(tools)
	ev.AfterListChanged = s.listChanged
	s.listChanged = false
	d.send(ev)
}

// maxToolHashes bounds the cache of canonical tool hashes.
const maxToolHashes = 4096

// toolHash is canonicalHash, remembered by the SHA-256 of the raw bytes:
// servers send the same listing again and again, and hashing raw bytes is
// far cheaper than canonicalising them.
func (d *Decoder) toolHash(raw []byte) string {
	key := sha256.Sum256(raw)
	if h, ok := d.toolHashes[key]; ok {
		return h
	}
	if len(d.toolHashes) >= maxToolHashes {
		clear(d.toolHashes)
	}
	h := canonicalHash(raw)
	d.toolHashes[key] = h
	return h
}

// manifestHash is SHA-256 over the sorted tools' hashes, so it changes when
// any tool is added, removed or redefined, and equal sets hash equal.
func manifestHash(tools []event.Tool) string {
	h := sha256.New()
	for _, t := range tools {
		h.Write([]byte(t.Hash))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalHash is SHA-256 over the canonical JSON of v: object keys sorted,
// no insignificant whitespace, numbers as written, no HTML escaping. Two
// SDKs that order keys differently produce the same hash for the same tool.
func canonicalHash(raw []byte) string {
	sum := sha256.Sum256(canonicalJSON(raw))
	return hex.EncodeToString(sum[:])
}

func canonicalJSON(raw []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return raw // not JSON after all: hash the bytes as seen
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return raw
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}
