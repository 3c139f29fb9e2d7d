package report_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
	"github.com/mcpwatch/mcpwatch/pipeline"
	"github.com/mcpwatch/mcpwatch/report"
)

// observed is what the pipeline made of the report's test input: the demo
// capture (two servers, one not on the allowlist) and real go-sdk
// recordings of the OAuth scenario (challenges, PRM) and the rug pull (a
// server redefining search_docs and adding fetch_notes mid-session).
type observed struct {
	events  []*event.Event
	alerts  []*event.Alert
	summary *pipeline.Summary
}

var (
	fixtureOnce sync.Once
	fixture     observed
	fixtureErr  error
)

func pipelineOutput(t *testing.T) observed {
	t.Helper()
	fixtureOnce.Do(func() { fixture, fixtureErr = runPipeline() })
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture
}

func runPipeline() (observed, error) {
	dir, err := os.MkdirTemp("", "mcpwatch-report-test-")
	if err != nil {
		return observed{}, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	record := func(name string, play func(context.Context, *tcprec.Recorder) error) (string, error) {
		rec := &tcprec.Recorder{}
		if err := play(ctx, rec); err != nil {
			return "", err
		}
		path := filepath.Join(dir, name+".pcap")
		return path, scenario.WriteCapture(path, rec)
	}
	auth, err := record("auth", func(ctx context.Context, rec *tcprec.Recorder) error {
		_, err := scenario.RunAuth(ctx, rec)
		return err
	})
	if err != nil {
		return observed{}, err
	}
	rugPull, err := record("rugpull", scenario.RunRugPull)
	if err != nil {
		return observed{}, err
	}
	cfg := pipeline.DefaultConfig()
	cfg.Sensor = "report-test"
	cfg.Pcaps = []string{"../testdata/demo.pcap", auth, rugPull}
	cfg.AllowlistPath = "../testdata/demo-allowlist.yaml"
	cfg.TokenKeyFile = filepath.Join(dir, "token.key")
	cfg.EventsOut, cfg.AlertsOut = filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "alerts.jsonl")
	summary, err := pipeline.Run(ctx, cfg)
	if err != nil {
		return observed{}, err
	}
	o := observed{summary: summary}
	if err := readLines(cfg.EventsOut, &o.events); err != nil {
		return o, err
	}
	return o, readLines(cfg.AlertsOut, &o.alerts)
}

func readLines[T any](path string, into *[]*T) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		v := new(T)
		if err := json.Unmarshal(sc.Bytes(), v); err != nil {
			return err
		}
		*into = append(*into, v)
	}
	return sc.Err()
}

// build is the report of the pipeline's output, as mcpwatch report makes it.
func build(t *testing.T, o observed) *report.Report {
	t.Helper()
	b := report.NewBuilder(report.Config{Source: "report test"}, report.NewPosture())
	for _, ev := range o.events {
		b.Observe(ev)
	}
	for _, a := range o.alerts {
		b.ObserveAlert(a)
	}
	for _, c := range o.summary.Captures {
		b.AddCapture(report.Capture{Input: c.Input, Packets: int64(c.Stats.Packets), Flows: int64(c.Stats.FlowsCreated)})
	}
	return b.Build(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
}
