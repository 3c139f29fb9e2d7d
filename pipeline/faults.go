package pipeline

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
)

// Stages of a contained fault as the summary and the log name them.
const (
	faultStageCapture = "capture" // a frame's header decoding or a connection's parsing (capture.FaultPacket, FaultParser)
	faultStageDecode  = "decode"  // a decoder callback (capture.FaultHandler)
)

func faultStage(f capture.Fault) string {
	if f.Stage == capture.FaultPacket || f.Stage == capture.FaultParser {
		return faultStageCapture
	}
	return faultStageDecode
}

// FaultSummary is what a run contained of one stage's panics.
type FaultSummary struct {
	Count int64 `json:"count,omitempty"`
	// Frames counts the faults by the function they came from
	// (capture.Fault.Frame); past maxFaultFrames distinct ones, the rest
	// count under "other".
	Frames map[string]int64 `json:"frames,omitempty"`
}

const maxFaultFrames = 8

// faultLogBurst is how many faults are logged per minute; the others are
// counted, and the next line logged says how many went unlogged.
const faultLogBurst = 20

// faultTally counts, logs and dumps the faults of a job's inputs; inputs
// and shards report from their own goroutines.
type faultTally struct {
	log *slog.Logger

	mu       sync.Mutex
	stages   map[string]*FaultSummary
	dumps    []string
	window   time.Time // start of the current minute of logging
	logged   int       // lines logged in it
	unlogged int       // faults not logged since the last line
}

func newFaultTally(log *slog.Logger) *faultTally {
	return &faultTally{log: log, stages: map[string]*FaultSummary{}}
}

// reporter returns the capture.Fault callback of one input: it dumps the
// fault's connection when dumper is set, counts and logs.
func (t *faultTally) reporter(input string, dumper *capture.FaultDumper) func(capture.Fault) {
	return func(f capture.Fault) {
		var dump string
		var dumpErr error
		if dumper != nil {
			dump, dumpErr = dumper.Dump(f)
		}
		t.add(input, f, dump, dumpErr)
	}
}

// tapReporter is the capture.Fault callback of a proxy-log input: with
// dir set, the exchange a decoder call panicked on is written there as a
// HAR file (see harfault.go), at most maxRecordDumps per input.
func (t *faultTally) tapReporter(input, dir string) func(capture.Fault) {
	dumps := 0
	return func(f capture.Fault) {
		var dump string
		var dumpErr error
		if dir != "" && dumps < maxRecordDumps {
			if dump, dumpErr = writeFaultHAR(dir, f); dump != "" {
				dumps++
			}
		}
		t.add(input, f, dump, dumpErr)
	}
}

func (t *faultTally) add(input string, f capture.Fault, dump string, dumpErr error) {
	stage := faultStage(f)
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stages[stage]
	if s == nil {
		s = &FaultSummary{Frames: map[string]int64{}}
		t.stages[stage] = s
	}
	s.Count++
	frame := f.Frame
	if _, ok := s.Frames[frame]; !ok && len(s.Frames) >= maxFaultFrames {
		frame = "other"
	}
	s.Frames[frame]++
	if dump != "" {
		t.dumps = append(t.dumps, dump)
	}

	if now := time.Now(); now.Sub(t.window) >= time.Minute {
		t.window, t.logged = now, 0
	}
	if t.logged >= faultLogBurst {
		t.unlogged++
		return
	}
	t.logged++
	attrs := []any{"stage", stage, "call", f.Call, "input", input}
	if f.Client.IsValid() {
		attrs = append(attrs, "proto", "tcp", "client", f.Client.String(), "server", f.Server.String())
	}
	attrs = append(attrs, "panic", fmt.Sprint(f.Value), "at", f.Frame)
	switch {
	case dump != "":
		attrs = append(attrs, "dump", dump)
	case dumpErr != nil:
		attrs = append(attrs, "dump_err", dumpErr)
	}
	if t.unlogged > 0 {
		attrs = append(attrs, "unlogged_before", t.unlogged)
		t.unlogged = 0
	}
	t.log.Error("fault contained", attrs...)
}

// addDump records a reproducer written by a log tap input.
func (t *faultTally) addDump(path string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dumps = append(t.dumps, path)
}

// fill copies the faults into s.
func (t *faultTally) fill(s *Summary) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.FailureDumps = slices.Clone(t.dumps)
	if len(t.stages) == 0 {
		return
	}
	s.Faults = map[string]FaultSummary{}
	for stage, f := range t.stages {
		s.Faults[stage] = FaultSummary{Count: f.Count, Frames: maps.Clone(f.Frames)}
	}
}

// faultLine is the summary's line of contained faults:
// "decode 2 (decode.(*session).observe session.go:104 ×2)".
func (s *Summary) faultLine() string {
	var parts []string
	for _, stage := range slices.Sorted(maps.Keys(s.Faults)) {
		f := s.Faults[stage]
		frames := slices.SortedFunc(maps.Keys(f.Frames), func(a, b string) int {
			return cmp.Or(cmp.Compare(f.Frames[b], f.Frames[a]), cmp.Compare(a, b))
		})
		var where []string
		for _, fr := range frames {
			where = append(where, fmt.Sprintf("%s ×%d", fr, f.Frames[fr]))
		}
		parts = append(parts, fmt.Sprintf("%s %d (%s)", stage, f.Count, strings.Join(where, ", ")))
	}
	return strings.Join(parts, "; ")
}
