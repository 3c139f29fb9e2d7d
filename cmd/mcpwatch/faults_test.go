package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// Fault injection against the built binary (issue 13): kill -9 of a run,
// a real nats-server killed and restarted, a data dir that fills up, two
// runs on one data dir. Each test logs its figures (events lost, duplicated,
// exit status, time to recover) as a FAULT line; scripts/faults/bus.sh runs
// them with MCPWATCH_FAULTS_LONG=1 (a larger capture, a 25 s outage).

var (
	faultLong = os.Getenv("MCPWATCH_FAULTS_LONG") != ""

	faultCaptureOnce sync.Once
	faultCapturePath string
	faultCaptureErr  error
)

// faultCapture is a generated capture large enough for a kill to land in
// the middle of a run: 15 MB (about 3 500 events), 60 MB in long mode.
func faultCapture(t *testing.T) string {
	t.Helper()
	faultCaptureOnce.Do(func() {
		size := "15MB"
		if faultLong {
			size = "60MB"
		}
		// Next to the test binary, removed with it by TestMain.
		faultCapturePath = filepath.Join(filepath.Dir(mcpwatchBin), "faults.pcap")
		gen := exec.Command("go", "run", "../../bench/gen", "-size", size, "-seed", "13", "-out", faultCapturePath, "-templates", "../../bench/templates.json.gz")
		if out, err := gen.CombinedOutput(); err != nil {
			faultCaptureErr = fmt.Errorf("bench/gen: %v\n%s", err, out)
		}
	})
	if faultCaptureErr != nil {
		t.Fatal(faultCaptureErr)
	}
	return faultCapturePath
}

// reference is what a clean run of the capture delivers: its event ids.
var (
	referenceOnce sync.Once
	referenceIDs  map[string]bool
)

func faultReference(t *testing.T) map[string]bool {
	t.Helper()
	referenceOnce.Do(func() {
		out := filepath.Join(t.TempDir(), "ref.jsonl")
		r := mcpwatch(t, nil, "run", "--pcap", faultCapture(t), "--events-out", out, "--alerts-out", "")
		if r.code != 0 {
			t.Fatalf("reference run: exit %d\n%s", r.code, r.stderr)
		}
		ids, dups := jsonlIDs(t, out, "event_id")
		if dups != 0 {
			t.Fatalf("reference run wrote %d duplicates", dups)
		}
		referenceIDs = ids
	})
	return referenceIDs
}

// jsonlIDs reads the ids of a JSONL file and counts the lines whose id an
// earlier line had. A last line without its newline, torn by a kill in the
// middle of a write, is not read: a resumed run cuts it off.
func jsonlIDs(t *testing.T, path, field string) (map[string]bool, int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[string]bool{}, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	ids, dups := map[string]bool{}, 0
	lines := strings.Split(string(data), "\n")
	for _, line := range lines[:len(lines)-1] {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%s: bad line %q: %v", path, line, err)
		}
		id, _ := m[field].(string)
		if ids[id] {
			dups++
		}
		ids[id] = true
	}
	return ids, dups
}

// lostFrom counts the reference ids missing from got.
func lostFrom(ref, got map[string]bool) int {
	n := 0
	for id := range ref {
		if !got[id] {
			n++
		}
	}
	return n
}

// startRun starts `mcpwatch run` as a child process.
func startRun(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(mcpwatchBin, append([]string{"run"}, args...)...)
	cmd.Env = append(os.Environ(), "MCPWATCH_TOKEN_KEY_FILE="+filepath.Join(t.TempDir(), "token.key"))
	logf, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(logf.Name())
			t.Logf("stderr of %v:\n%s", cmd.Args, data)
		}
	})
	return cmd
}

// waitGrowing waits until path holds at least n bytes.
func waitGrowing(t *testing.T, path string, n int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := os.Stat(path); err == nil && st.Size() >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s did not reach %d bytes", path, n)
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// A run killed with -9 in the middle and rerun on the same data dir — at
// once, and again after the first rerun was itself killed — ends with every
// event of a clean run in the output exactly once, and the rerun exits 4
// saying what it skipped.
func TestFaultKillRunAndResume(t *testing.T) {
	ref := faultReference(t)
	dir := t.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	alerts := filepath.Join(dir, "alerts.jsonl")
	args := []string{"--pcap", faultCapture(t), "--data-dir", filepath.Join(dir, "data"), "--events-out", events, "--alerts-out", alerts}

	for kill, at := range []int64{1 << 10, 1 << 20} {
		run := startRun(t, args...)
		waitGrowing(t, events, at)
		run.Process.Signal(syscall.SIGKILL)
		run.Wait()
		got, _ := jsonlIDs(t, events, "event_id")
		t.Logf("kill %d: %d of %d events written when killed", kill+1, len(got), len(ref))
	}
	start := time.Now()
	r := mcpwatch(t, nil, append([]string{"run"}, args...)...)
	recovered := time.Since(start)
	got, dups := jsonlIDs(t, events, "event_id")
	_, alertDups := jsonlIDs(t, alerts, "alert_id")
	lost := lostFrom(ref, got)
	t.Logf("FAULT kill-9-resume: events lost %d, duplicated %d (alerts %d), exit %d, time to recover %s", lost, dups, alertDups, r.code, recovered.Round(time.Millisecond))
	if lost != 0 || dups != 0 || alertDups != 0 || len(got) != len(ref) {
		t.Errorf("after kill and resume: %d lost, %d duplicated events, %d duplicated alerts, %d events for %d", lost, dups, alertDups, len(got), len(ref))
	}
	if r.code != exitResumed || !strings.Contains(r.stderr, "resumed: run ") || !strings.Contains(r.stderr, "deduplicated (already written, skipped): ") {
		t.Errorf("resumed run: exit %d, want %d with a resume and dedup line\n%s", r.code, exitResumed, r.stderr)
	}
	// The epoch ended with the finished run: the next run is a fresh one.
	if r := mcpwatch(t, nil, append([]string{"run"}, args...)...); r.code != 0 || strings.Contains(r.stderr, "resumed:") {
		t.Errorf("run after a finished one: exit %d\n%s", r.code, r.stderr)
	}
}

// A second run on a data dir in use fails at once, naming the first run's
// pid, and the first run is undisturbed.
func TestFaultDataDirLocked(t *testing.T) {
	ref := faultReference(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	events := filepath.Join(dir, "events.jsonl")
	first := startRun(t, "--pcap", faultCapture(t), "--data-dir", data, "--events-out", events, "--alerts-out", "")
	waitGrowing(t, filepath.Join(data, "run.json"), 1)

	start := time.Now()
	r := mcpwatch(t, nil, "run", "--pcap", faultCapture(t), "--data-dir", data, "--events-out", filepath.Join(dir, "second.jsonl"))
	took := time.Since(start)
	want := "is in use by mcpwatch pid " + strconv.Itoa(first.Process.Pid)
	if r.code != 1 || !strings.Contains(r.stderr, want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || took > 5*time.Second {
		t.Errorf("second run: exit %d after %s, stderr %q; want exit 1 at once with one line containing %q", r.code, took, r.stderr, want)
	}
	code := exitCode(first.Wait())
	got, dups := jsonlIDs(t, events, "event_id")
	lost := lostFrom(ref, got)
	t.Logf("FAULT two-runs-one-data-dir: second refused in %s; first: events lost %d, duplicated %d, exit %d", took.Round(time.Millisecond), lost, dups, code)
	if code != 0 || lost != 0 || dups != 0 {
		t.Errorf("first run: exit %d, %d lost, %d duplicated", code, lost, dups)
	}
}

// natsProcess is a real nats-server run by scripts/nats.sh on a fixed port,
// so it can be killed and come back where clients look for it.
type natsProcess struct {
	dir, url string
	port     int
}

func startNATSAt(t *testing.T, dir string, port int) *natsProcess {
	t.Helper()
	cmd := exec.Command("../../scripts/nats.sh", "start", dir)
	cmd.Env = append(os.Environ(), "NATS_PORT="+strconv.Itoa(port))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	t.Cleanup(func() { exec.Command("../../scripts/nats.sh", "stop", dir).Run() })
	return &natsProcess{dir: dir, url: strings.TrimSpace(string(out)), port: port}
}

func (n *natsProcess) kill(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(n.dir, "nats.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for syscall.Kill(pid, 0) == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	// scripts/nats.sh picks a free one; reuse it after a first start.
	n := startNATSAt(t, t.TempDir(), -1)
	port, err := strconv.Atoi(n.url[strings.LastIndex(n.url, ":")+1:])
	if err != nil {
		t.Fatal(err)
	}
	exec.Command("../../scripts/nats.sh", "stop", n.dir).Run()
	return port
}

// An external nats-server killed with -9 in the middle of a run and back
// after a while: reading pauses, nothing is lost or written twice, exit 0.
func TestFaultNATSKilledAndBack(t *testing.T) {
	ref := faultReference(t)
	down := 3 * time.Second
	if faultLong {
		down = 25 * time.Second
	}
	dir := t.TempDir()
	n := startNATSAt(t, filepath.Join(dir, "nats"), freePort(t))
	events := filepath.Join(dir, "events.jsonl")
	run := startRun(t, "--nats", n.url, "--pcap", faultCapture(t), "--events-out", events, "--alerts-out", "", "--bus-outage-limit", "2m")
	waitGrowing(t, events, 1<<10)
	n.kill(t)
	killed := time.Now()
	time.Sleep(down)
	startNATSAt(t, n.dir, n.port)
	back := time.Now()
	code := exitCode(run.Wait())
	got, dups := jsonlIDs(t, events, "event_id")
	lost := lostFrom(ref, got)
	t.Logf("FAULT nats-kill-9-back-after-%s: events lost %d, duplicated %d, exit %d, done %s after NATS was back (%s after the kill)",
		down, lost, dups, code, time.Since(back).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	if code != 0 || lost != 0 || dups != 0 {
		t.Errorf("NATS outage of %s: exit %d, %d lost, %d duplicated", down, code, lost, dups)
	}
}

// An external nats-server that never comes back: the run fails with a
// one-line error soon after --bus-outage-limit, instead of reading on and
// discarding events.
func TestFaultNATSNeverBack(t *testing.T) {
	dir := t.TempDir()
	n := startNATSAt(t, filepath.Join(dir, "nats"), -1)
	events := filepath.Join(dir, "events.jsonl")
	const limit = 3 * time.Second
	run := startRun(t, "--nats", n.url, "--pcap", faultCapture(t), "--events-out", events, "--alerts-out", "", "--bus-outage-limit", limit.String())
	waitGrowing(t, events, 1<<10)
	n.kill(t)
	killed := time.Now()
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	var code int
	select {
	case err := <-done:
		code = exitCode(err)
	case <-time.After(limit + 60*time.Second):
		t.Fatalf("run still going %s after NATS died with --bus-outage-limit %s", time.Since(killed), limit)
	}
	took := time.Since(killed)
	stderr, _ := os.ReadFile(run.Stderr.(*os.File).Name())
	last := lastLine(string(stderr))
	t.Logf("FAULT nats-never-back: exit %d %s after the kill (limit %s): %s", code, took.Round(time.Millisecond), limit, last)
	if code == 0 || !strings.Contains(last, "outage limit") || !strings.Contains(last, "not delivered") {
		t.Errorf("exit %d, last line %q: want non-zero and the outage limit and lost count named", code, last)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// A data dir on a file system that fills up while a run reads goes on
// when space is freed, with nothing lost. With a reserve the input pauses
// before the disk is full and the run says so; without one (or when a burst
// fills the disk between two checks) the embedded server's store hits
// ENOSPC and the run restarts JetStream once space is freed. The input is a
// followed access log, so the disk fills while the run is certainly
// reading: half the log before, half after. The file system is a real one
// of 64 MiB: a tmpfs mounted for the test (root; CI runs as root).
func TestFaultDataDirFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root to mount a 64 MiB tmpfs for the data dir (CI runs as root)")
	}
	groups := accessLogGroups(t, 8)
	for _, c := range []struct{ reserve, says, fills string }{
		{"16MiB", "data dir short of space", "input paused"},
		{"-1", "JetStream restarted", "JetStream cannot store"},
	} {
		t.Run("reserve="+c.reserve, func(t *testing.T) {
			dir := t.TempDir()
			logPath := filepath.Join(dir, "mcp.jsonl")
			appendLines(t, logPath, groups...)
			tokenKey := "--token-key-file=" + filepath.Join(dir, "token.key")
			refOut := filepath.Join(dir, "reference.jsonl")
			if r := mcpwatch(t, nil, "tap", logPath, tokenKey, "--events-out", refOut, "--alerts-out", ""); r.code != 0 {
				t.Fatalf("reference run: exit %d\n%s", r.code, r.stderr)
			}
			ref := map[string]bool{}
			for _, ev := range decodeEvents(t, readFile(t, refOut)) {
				if ev.Kind == event.KindMessage {
					ref[ev.EventID] = true
				}
			}
			os.Remove(logPath)

			mnt := t.TempDir()
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt).CombinedOutput(); err != nil {
				t.Fatalf("mount tmpfs: %v: %s", err, out)
			}
			t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
			filler := filepath.Join(mnt, "filler")
			events := filepath.Join(dir, "events.jsonl")
			appendLines(t, logPath, groups[:4]...)
			run := exec.Command(mcpwatchBin, "tap", "--follow", logPath, "--checkpoint-dir", filepath.Join(dir, "checkpoints"),
				"--data-dir", filepath.Join(mnt, "data"), "--data-dir-reserve", c.reserve, tokenKey, "--events-out", events, "--alerts-out", "")
			stderr := &lockedBuffer{}
			run.Stderr = stderr
			if err := run.Start(); err != nil {
				t.Fatal(err)
			}
			defer run.Process.Kill()
			waitFor(t, "the first half of the log delivered", func() bool { got, _ := jsonlIDs(t, events, "event_id"); return len(got) >= len(ref)/2 })
			// Leave less than the reserve free, or nothing at all.
			var st syscall.Statfs_t
			syscall.Statfs(mnt, &st)
			free := int64(st.Bavail) * int64(st.Bsize)
			if c.reserve == "-1" {
				free += 8 << 20
			}
			if err := os.WriteFile(filler, make([]byte, max(free-8<<20, 0)), 0o600); err != nil && c.reserve != "-1" {
				t.Fatalf("fill the data dir: %v", err)
			}
			appendLines(t, logPath, groups[4:]...)
			waitFor(t, "the run to see the full disk", func() bool { return strings.Contains(stderr.String(), c.fills) })
			time.Sleep(2 * time.Second)
			os.Remove(filler)
			freed := time.Now()
			waitFor(t, "every event delivered", func() bool { got, _ := jsonlIDs(t, events, "event_id"); return lostFrom(ref, got) == 0 })
			recovered := time.Since(freed)
			run.Process.Signal(syscall.SIGINT)
			code := exitCode(run.Wait())
			got, dups := jsonlIDs(t, events, "event_id")
			lost := lostFrom(ref, got)
			t.Logf("FAULT data-dir-full (reserve %s): %d message events, lost %d, duplicated %d, exit %d, delivered %s after space was freed",
				c.reserve, len(ref), lost, dups, code, recovered.Round(time.Millisecond))
			if code != 0 || lost != 0 || dups != 0 || !strings.Contains(stderr.String(), c.says) {
				t.Errorf("full data dir: exit %d, %d lost, %d duplicated\n%s", code, lost, dups, stderr)
			}
		})
	}
}

// waitFor polls cond for up to a minute, failing the test with what it
// waited for.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
	}
}

// lockedBuffer is a process's stderr, read while the process writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A live run (a followed access log) whose output fails, killed with -9
// after it stored what it read: the log cannot be read again (its
// checkpoint is past those records), so the resuming run on the same data
// dir delivers the killed run's stored backlog through that run's durable
// consumers, and every message event of the log reaches the output once.
// (Session summaries of sessions open at the kill are not: a session's
// state lives in memory until it ends.)
func TestFaultKillLiveRunAndResume(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "mcp.jsonl")
	appendLines(t, logPath, accessLogGroups(t, 6)...)
	tokenKey := "--token-key-file=" + filepath.Join(dir, "token.key")
	refOut := filepath.Join(dir, "reference.jsonl")
	if r := mcpwatch(t, nil, "tap", "--format", "access-log", logPath, tokenKey, "--events-out", refOut, "--alerts-out", ""); r.code != 0 {
		t.Fatalf("reference run: exit %d\n%s", r.code, r.stderr)
	}
	ref := map[string]bool{}
	for _, ev := range decodeEvents(t, readFile(t, refOut)) {
		if ev.Kind == event.KindMessage {
			ref[ev.EventID] = true
		}
	}

	checkpoints := filepath.Join(dir, "checkpoints")
	follow := func(eventsOut string) *exec.Cmd {
		cmd := exec.Command(mcpwatchBin, "tap", "--format", "access-log", "--follow", logPath, "--checkpoint-dir", checkpoints,
			"--data-dir", filepath.Join(dir, "data"), tokenKey, "--events-out", eventsOut, "--alerts-out", "")
		cmd.Stderr = &strings.Builder{}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// /dev/full refuses every write: the events stay in the store, unacked.
	// Records before the checkpoint were published and will not be read
	// again; the follower checkpoints behind records it still holds.
	killed := follow("/dev/full")
	st, _ := os.Stat(logPath)
	waitCheckpoint(t, checkpoints, st.Size()/2)
	killed.Process.Signal(syscall.SIGKILL)
	killed.Wait()

	events := filepath.Join(dir, "events.jsonl")
	start := time.Now()
	resumed := follow(events)
	deadline := time.Now().Add(60 * time.Second)
	for got, _ := jsonlIDs(t, events, "event_id"); lostFrom(ref, got) > 0 && time.Now().Before(deadline); got, _ = jsonlIDs(t, events, "event_id") {
		time.Sleep(50 * time.Millisecond)
	}
	recovered := time.Since(start)
	resumed.Process.Signal(syscall.SIGINT)
	code := exitCode(resumed.Wait())
	got, dups := jsonlIDs(t, events, "event_id")
	lost := lostFrom(ref, got)
	t.Logf("FAULT kill-9-live-resume: %d message events, lost %d, duplicated %d, exit %d, time to deliver %s", len(ref), lost, dups, code, recovered.Round(time.Millisecond))
	stderr := resumed.Stderr.(*strings.Builder).String()
	if len(ref) == 0 || lost != 0 || dups != 0 {
		t.Errorf("after kill and resume: %d of %d message events lost, %d events duplicated\n%s", lost, len(ref), dups, stderr)
	}
	if code != exitResumed || !strings.Contains(stderr, "its stored backlog (") {
		t.Errorf("resumed run: exit %d, want %d, saying the backlog was delivered\n%s", code, exitResumed, stderr)
	}
}

// waitCheckpoint waits until the one checkpoint in dir is at offset or past it.
func waitCheckpoint(t *testing.T, dir string, offset int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.checkpoint"))
		if len(files) == 1 {
			var cp struct{ Offset int64 }
			if data, err := os.ReadFile(files[0]); err == nil && json.Unmarshal(data, &cp) == nil && cp.Offset >= offset {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no checkpoint at offset %d in %s", offset, dir)
}
