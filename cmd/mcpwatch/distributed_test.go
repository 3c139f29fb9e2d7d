package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/detect"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/testenv"
	"github.com/mcpwatch/mcpwatch/rules"
)

// benchCapture generates a small capture with several MCP servers (real SDK
// conversation templates, bench/gen).
func benchCapture(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mixed.pcap")
	gen := exec.Command("go", "run", "../../bench/gen", "-size", "3MB", "-seed", "7", "-out", path, "-templates", "../../bench/templates.json.gz")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("bench/gen: %v\n%s", err, out)
	}
	return path
}

// process is an mcpwatch child process whose stderr goes to a file, read
// once the process is gone.
type process struct {
	cmd    *exec.Cmd
	stderr string
}

func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr-")
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: exec.Command(mcpwatchBin, args...), stderr: f.Name()}
	p.cmd.Stderr = f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("%s said:\n%s", strings.Join(args, " "), readFile(t, p.stderr))
		}
	})
	return p
}

func (p *process) output(t *testing.T) string { return readFile(t, p.stderr) }

// crashSafe reports whether a rule's alerts survive a detect replica's
// crash exactly: match alerts are tied to their event, new_value alerts to
// their value. Window and change rules lose their in-memory state.
func crashSafe(t *testing.T) map[string]bool {
	rs, err := detect.LoadRules(rules.Default)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, r := range rs {
		out[r.ID] = r.Type == detect.TypeMatch || r.Type == detect.TypeNewValue
	}
	return out
}

// TestDetectReplicasSurviveAKill runs two detect replicas on one external
// JetStream, freezes and kills one in the middle of its stream, lets a
// replacement take over, and checks the alerts against a single-process run
// of the same capture: every alert there, none twice. It does so on the
// current nats-server and on the oldest supported (Debian's 2.9, whose
// consumers take one filter subject: each replica skips the partitions it
// does not own itself).
func TestDetectReplicasSurviveAKill(t *testing.T) {
	pcap := benchCapture(t)
	allow := filepath.Join(t.TempDir(), "allow.yaml")
	os.WriteFile(allow, []byte("servers:\n  - http://docs.corp.example:8080/mcp\n"), 0o644)
	tokenKey := "--token-key-file=" + filepath.Join(t.TempDir(), "token.key")

	refOut := filepath.Join(t.TempDir(), "ref-alerts.jsonl")
	if r := mcpwatch(t, nil, "run", "--pcap", pcap, "--allowlist", allow, "--alerts-out", refOut, "--sensor", "s1", tokenKey); r.code != 0 {
		t.Fatalf("reference run: %s", r.stderr)
	}
	safe := crashSafe(t)
	want := map[string]string{} // alert id → rule
	refSummary := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, refOut)), "\n") {
		a, err := event.DecodeAlert([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if safe[a.RuleID] {
			want[a.AlertID] = a.RuleID
			refSummary[a.AlertID] = a.Summary + " @" + a.TS.String()
		}
	}
	if len(want) < 3 {
		t.Fatalf("reference run raised only %d crash-safe alerts; the capture is too poor for this test", len(want))
	}
	ref := replicaReference{pcap: pcap, allow: allow, tokenKey: tokenKey, want: want, summary: refSummary, safe: safe}
	t.Run("current", func(t *testing.T) { ref.killOneReplica(t, testenv.StartNATS(t, "")) })
	t.Run("oldest", func(t *testing.T) { ref.killOneReplica(t, testenv.StartNATS(t, testenv.OldestNATSServer(t))) })
}

// replicaReference is a capture and the alerts a single process raised
// from it: the rules' crash-safe ones (want, by id, with their summaries).
type replicaReference struct {
	pcap, allow, tokenKey string
	want, summary         map[string]string
	safe                  map[string]bool
}

func (ref replicaReference) killOneReplica(t *testing.T, natsURL string) {
	pcap, allow, tokenKey, want, refSummary, safe := ref.pcap, ref.allow, ref.tokenKey, ref.want, ref.summary, ref.safe
	// Publish every event first, then let the replicas consume, so the
	// kill falls in the middle of replica 1's stream.
	if r := mcpwatch(t, nil, "sensor", "--pcap", pcap, "--nats", natsURL, "--sensor", "s1", tokenKey); r.code != 0 {
		t.Fatalf("sensor: %s", r.stderr)
	}
	detectArgs := func(replica int) []string {
		return []string{"detect", "--log-level", "debug", "--nats", natsURL, "--allowlist", allow, "--replicas", "2", "--replica", fmt.Sprint(replica),
			"--batch-size", "4", "--ack-wait", "2s"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := bus.Connect(ctx, bus.Config{URL: natsURL})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	startProcess(t, detectArgs(0)...)
	victim := startProcess(t, detectArgs(1)...)
	// Freeze replica 1 while it holds a batch and more is waiting.
	for {
		bl, err := b.Backlog(ctx, "detect-1-of-2")
		if err == nil && bl.Unacked > 0 && bl.Pending > 0 {
			victim.cmd.Process.Signal(syscall.SIGSTOP)
			break
		}
		if ctx.Err() != nil {
			t.Fatal("replica 1 never started consuming")
		}
		time.Sleep(2 * time.Millisecond)
	}
	bl, err := b.Backlog(ctx, "detect-1-of-2")
	if err != nil || bl.Pending == 0 {
		t.Fatalf("replica 1 was not frozen mid-stream: backlog %+v, %v", bl, err)
	}
	victim.cmd.Process.Kill()
	victim.cmd.Wait()
	startProcess(t, detectArgs(1)...) // the replacement
	if err := b.WaitDrained(ctx, "detect-0-of-2", "detect-1-of-2"); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	got := map[string]int{}
	gotRule := map[string]string{}
	gotSummary := map[string]string{}
	collectCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.ConsumeAlerts(collectCtx, bus.ConsumerConfig{Durable: "test-collector"}, func(_ context.Context, as []*event.Alert) error {
			mu.Lock()
			defer mu.Unlock()
			for _, a := range as {
				got[a.AlertID]++
				gotRule[a.AlertID] = a.RuleID
				gotSummary[a.AlertID] = a.Summary + " @" + a.TS.String()
			}
			return nil
		})
	}()
	if err := b.WaitDrained(ctx, "test-collector"); err != nil {
		t.Fatal(err)
	}
	stop()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for id, rule := range want {
		if got[id] != 1 {
			t.Errorf("alert %s of rule %s (%s) delivered %d times, want exactly once", id, rule, refSummary[id], got[id])
		}
	}
	if t.Failed() {
		for id, rule := range gotRule {
			t.Logf("got %s %s: %s", id, rule, gotSummary[id])
		}
	}
	for id, n := range got {
		if n > 1 {
			t.Errorf("alert %s delivered %d times", id, n)
		}
		// A second alert about the same thing, raised again by the
		// replacement replica, has an id the reference run never made.
		if _, ok := want[id]; !ok && safe[gotRule[id]] {
			t.Errorf("alert %s of rule %s is not in the single-process run: raised twice across the crash", id, gotRule[id])
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
