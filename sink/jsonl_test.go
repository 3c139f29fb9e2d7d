package sink

import (
	"bufio"
	"bytes"
	"context"
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
)

func TestJSONLRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	j, err := NewJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	// Several writers at once: every line must still be one whole object.
	const writers = 8
	want := map[string]*event.Event{}
	wantAlerts := map[string]*event.Alert{}
	var wg sync.WaitGroup
	for w := range writers {
		evs, als := sampleEvents(w), sampleAlerts(w)
		for _, e := range evs {
			want[e.EventID] = e
		}
		for _, a := range als {
			wantAlerts[a.AlertID] = a
		}
		wg.Go(func() {
			if err := j.WriteEvents(context.Background(), evs); err != nil {
				t.Error(err)
			}
			if err := j.WriteAlerts(context.Background(), als); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	gotEvents, gotAlerts := 0, 0
	for sc.Scan() {
		line := sc.Bytes()
		// Alerts carry alert_id and no kind; try the alert shape first.
		if a, err := event.DecodeAlert(line); err == nil {
			gotAlerts++
			if !reflect.DeepEqual(a, wantAlerts[a.AlertID]) {
				t.Errorf("alert %s read back as %+v, want %+v", a.AlertID, a, wantAlerts[a.AlertID])
			}
			continue
		}
		e, err := event.DecodeEvent(line)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		gotEvents++
		if !reflect.DeepEqual(e, want[e.EventID]) {
			t.Errorf("event %s read back as %+v, want %+v", e.EventID, e, want[e.EventID])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if gotEvents != len(want) || gotAlerts != len(wantAlerts) {
		t.Errorf("read %d events and %d alerts, want %d and %d", gotEvents, gotAlerts, len(want), len(wantAlerts))
	}
}

func TestNewJSONLUnwritablePath(t *testing.T) {
	_, err := NewJSONL(filepath.Join(t.TempDir(), "missing-dir", "events.jsonl"))
	if err == nil {
		t.Fatal("NewJSONL succeeded in a directory that does not exist")
	}
}

// BenchmarkJSONLWriteEvents measures encoding events to a JSONL file in
// batches of 1000, as `mcpwatch run --events-out` does.
func BenchmarkJSONLWriteEvents(b *testing.B) {
	j, err := NewJSONL(filepath.Join(b.TempDir(), "events.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	evs := benchEvents(1000)
	var one bytes.Buffer
	if err := NewJSONLWriter("buffer", &one).WriteEvents(context.Background(), evs); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(one.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if err := j.WriteEvents(context.Background(), evs); err != nil {
			b.Fatal(err)
		}
	}
}

// The lines are byte for byte what encoding/json writes (without HTML
// escaping), so files written before the faster encoder read the same.
func TestJSONLMatchesEncodingJSON(t *testing.T) {
	evs, als := sampleEvents(1), sampleAlerts(1)
	evs[0].UserAgent = "<b>a & b</b> \u2028 é\x01"
	als[0].Attributes = map[string]string{"z": "<i>", "a": "\u2029"}
	var got, want bytes.Buffer
	j := NewJSONLWriter("buffer", &got)
	if err := j.WriteEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := j.WriteAlerts(context.Background(), als); err != nil {
		t.Fatal(err)
	}
	enc := stdjson.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	for _, e := range evs {
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range als {
		if err := enc.Encode(a); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("JSONL differs from encoding/json:\n got %s\nwant %s", got.Bytes(), want.Bytes())
	}
}
