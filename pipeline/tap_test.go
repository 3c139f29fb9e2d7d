package pipeline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture/logtap"
	"github.com/mcpwatch/mcpwatch/decode"
	"github.com/mcpwatch/mcpwatch/event"
)

// Reading a real Envoy streamed trace (segments carry no time) through
// senseTap: every event gets a time, the fallbacks are in the tap's
// metrics while and after it is read, and in the summary.
func TestTapFallbacksInMetricsAndSummary(t *testing.T) {
	path := filepath.Join("..", "testdata", "logtap", "demo.envoy-streamed", "tap_1000000000000000000.json")
	in, err := openTap("envoy-tap:"+path, false)
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.Event
	dec, err := decode.New(decode.Config{Sensor: "s", Source: in.name, TokenKey: []byte("test key")}, func(e *event.Event) { evs = append(evs, e) })
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Log = slog.New(slog.DiscardHandler)
	var metrics tapStats
	if got := gather(t, "logtap", metrics.load()); len(got) != 0 {
		t.Errorf("no tap read yet, but metrics %v", got)
	}
	run, err := senseTap(context.Background(), cfg, in, dec, nil, &metrics, newFaultTally(cfg.Log))
	if err != nil {
		t.Fatal(err)
	}
	dec.Finish(time.Time{})
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	for _, e := range evs {
		if err := e.Validate(); err != nil {
			t.Errorf("%v", err)
		}
	}
	if run.stats.Fallbacks.TimeFile == 0 || run.stats.Fallbacks.TimeFile != run.stats.Exchanges {
		t.Errorf("stats %+v", run.stats)
	}
	got := gather(t, "logtap", metrics.load())
	for name, want := range map[string]float64{
		"mcpwatch_logtap_records_total":                            float64(run.stats.Records),
		"mcpwatch_logtap_fallbacks_total{reason=time_file}":        float64(run.stats.Fallbacks.TimeFile),
		"mcpwatch_logtap_fallbacks_total{reason=time_previous}":    0,
		"mcpwatch_logtap_fallbacks_total{reason=server_authority}": float64(run.stats.Fallbacks.ServerAuthority),
		"mcpwatch_logtap_bad_records_total":                        0,
		"mcpwatch_logtap_panics_total":                             0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	var s Summary
	s.addTap(in.name, run, false)
	var out bytes.Buffer
	s.Print(&out)
	if !strings.Contains(out.String(), "time from the file's modification time") || s.BadLogRecordsRead != 0 || len(s.Warnings) != 0 {
		t.Errorf("summary:\n%s", out.String())
	}

	// Records skipped in a log read to its end count towards the exit
	// status and are a warning; in a followed one only a warning.
	bad := tapRun{stats: logtap.Stats{Records: 5, BadRecords: 2}, firstBad: "x.json:3: bad JSON"}
	s.addTap("tap:envoy-tap:x.json", bad, false)
	s.addTap("tap:access-log:y.log", bad, true)
	if s.BadLogRecords != 4 || s.BadLogRecordsRead != 2 || len(s.Warnings) != 2 || !strings.Contains(s.Warnings[0], "x.json:3") {
		t.Errorf("summary %+v", s)
	}
}

// A log of junk costs a few log lines, not one per record, and the lines
// account for every record skipped.
func TestBadRecordLogRateLimited(t *testing.T) {
	var buf bytes.Buffer
	b := &badRecordLog{log: slog.New(slog.NewTextHandler(&buf, nil)), input: "tap:har:x.har"}
	for i := range 500 {
		b.record(logtap.BadRecord{Name: "x.har", Line: i + 1, Err: errors.New("not a JSON object")})
	}
	b.close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) > badLogBurst+2 {
		t.Fatalf("%d log lines for 500 bad records:\n%s", len(lines), buf.String())
	}
	total := 0
	for _, l := range lines {
		if strings.Contains(l, "count=") {
			var n int
			for _, f := range strings.Fields(l) {
				if v, ok := strings.CutPrefix(f, "count="); ok {
					n, _ = strconv.Atoi(v)
				}
			}
			total += n
		} else {
			total++
		}
	}
	if total != 500 || b.first != "x.har:1: "+"not a JSON object" {
		t.Errorf("lines account for %d records, first %q:\n%s", total, b.first, buf.String())
	}
}

// A log record whose reading panicked is written to --dump-failures as
// it was read, and listed with the run's reproducers; other bad records
// are not.
func TestBadRecordDumped(t *testing.T) {
	dir := t.TempDir()
	faults := newFaultTally(slog.New(slog.DiscardHandler))
	b := &badRecordLog{log: slog.New(slog.DiscardHandler), input: "tap:envoy-tap:x.json", dumpDir: dir, faults: faults}
	record := []byte(`{"http_buffered_trace":{"request":{"headers":7}}}`)
	b.record(logtap.BadRecord{Name: "logs/x.json", Line: 3, Err: errors.New("panic reading the record: boom"), Panicked: true, Record: record})
	b.record(logtap.BadRecord{Name: "logs/x.json", Line: 4, Err: errors.New("not a JSON object"), Record: []byte("junk")})
	b.close()
	var s Summary
	faults.fill(&s)
	want := filepath.Join(dir, "record-x.json-3.log")
	if !slices.Equal(s.FailureDumps, []string{want}) {
		t.Fatalf("dumps %v, want %v", s.FailureDumps, want)
	}
	if got, err := os.ReadFile(want); err != nil || !bytes.Equal(got, record) {
		t.Errorf("dump %q, %v; want the record", got, err)
	}
}
