package pipeline

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
)

// A JSONL file cut in the middle of a line (a kill while writing) is read
// back without the torn line, which is cut off, and an id journal keeps
// what was appended before it was reopened.
func TestDedupStateSurvivesAKill(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	os.WriteFile(path, []byte(`{"event_id":"00000000000000000000000000000001"}`+"\n"+`{"event_id":"0000`), 0o644)
	f, err := openJSONLFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set := newIDSet(100)
	if n, err := f.readIDs(0, "event_id", set); err != nil || n != 1 {
		t.Fatalf("readIDs = %d, %v; want 1 id", n, err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != `{"event_id":"00000000000000000000000000000001"}`+"\n" {
		t.Errorf("torn line not cut: %q", data)
	}
	d := &dedupEvents{dedupOutput: &dedupOutput{name: "events-jsonl", log: slog.New(slog.DiscardHandler), seen: set}, w: f}
	evs := []*event.Event{{EventID: "00000000000000000000000000000001"}, {EventID: "00000000000000000000000000000002"}, {EventID: "00000000000000000000000000000002"}}
	if err := d.WriteEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if d.skipped.Load() != 2 {
		t.Errorf("skipped %d, want 2 (one already written, one twice in the batch)", d.skipped.Load())
	}

	jpath := filepath.Join(dir, "x.ids")
	s1 := newIDSet(100)
	j, err := openIDJournal(jpath, s1)
	if err != nil {
		t.Fatal(err)
	}
	keys := []idKey{keyOf("a"), keyOf("b")}
	for _, k := range keys {
		s1.add(k)
	}
	if err := j.append(keys, s1); err != nil {
		t.Fatal(err)
	}
	j.close()
	// A torn record after the two.
	fh, _ := os.OpenFile(jpath, os.O_WRONLY|os.O_APPEND, 0)
	fh.Write([]byte{1, 2, 3})
	fh.Close()
	s2 := newIDSet(100)
	j2, err := openIDJournal(jpath, s2)
	if err != nil {
		t.Fatal(err)
	}
	j2.close()
	if s2.len() != 2 || !s2.has(keyOf("a")) || !s2.has(keyOf("b")) {
		t.Errorf("journal reopened with %d ids, want a and b", s2.len())
	}
}

// The window forgets the oldest generation, never more than it holds.
func TestIDSetWindow(t *testing.T) {
	s := newIDSet(4)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		s.add(keyOf(id))
	}
	if s.len() > 4 || !s.has(keyOf("e")) || !s.has(keyOf("d")) || s.has(keyOf("a")) || s.forgotten == 0 {
		t.Errorf("window 4 after 5 ids: len %d, forgotten %d", s.len(), s.forgotten)
	}
}
