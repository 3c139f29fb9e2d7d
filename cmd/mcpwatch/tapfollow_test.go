package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/internal/testenv"
)

// accessLogGroups makes n copies of the access log of a real 2026-07-28
// go-sdk conversation, each from a client address and a minute of its own,
// so every copy is a conversation of its own with 12 message events.
func accessLogGroups(t *testing.T, n int) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(readFile(t, filepath.Join("..", "..", "testdata", "logtap", "stateless", "envoy-access.jsonl"))), "\n")
	groups := make([][]string, n)
	for g := range groups {
		for _, l := range lines {
			l = strings.ReplaceAll(l, `"client":"10.0.1.10:`, fmt.Sprintf(`"client":"10.0.2.%d:`, g+1))
			l = strings.ReplaceAll(l, `"start_time":"2026-11-27T18:44:`, fmt.Sprintf(`"start_time":"2026-11-27T%02d:44:`, g))
			groups[g] = append(groups[g], l)
		}
	}
	return groups
}

func appendLines(t *testing.T, path string, groups ...[]string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		fmt.Fprintln(f, strings.Join(g, "\n"))
	}
	f.Close()
}

// storedMessages reads every message event in the stream.
func storedMessages(js jetstream.JetStream) (total int, ids map[string]int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, "MCPWATCH_EVENTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"mcpwatch.events.message.>"}})
	if err != nil {
		return 0, nil, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, nil, err
	}
	ids = map[string]int{}
	for n := info.NumPending; n > 0; {
		batch, err := cons.Fetch(int(min(n, 500)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return 0, nil, err
		}
		for m := range batch.Messages() {
			evs, err := bus.DecodeMessage(m.Data())
			if err != nil {
				return 0, nil, err
			}
			for _, ev := range evs {
				ids[ev.EventID]++
			}
			total += len(evs)
			n--
		}
	}
	return total, ids, nil
}

// waitStored waits until the stream holds at least n distinct message
// events.
func waitStored(t *testing.T, js jetstream.JetStream, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		_, ids, err := storedMessages(js)
		if err == nil && len(ids) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream never held %d message events (last: %d, %v)", n, len(ids), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTapFollowKillAndRestart follows an access log with `mcpwatch tap -f`
// while it is appended, rotated (with a late write to the old file) and
// truncated, kills the process with SIGKILL and restarts it: every message
// event of the ten conversations is stored, and at most the events read
// after the last checkpoint before the kill are stored twice (the restart
// reads them again; they share messages differently, so the stream's
// duplicate window cannot drop them; consumers deduplicate by event_id).
func TestTapFollowKillAndRestart(t *testing.T) {
	natsURL := testenv.StartNATS(t, "")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "mcp.jsonl")
	args := []string{"tap", "--format", "access-log", "--follow", logPath, "--checkpoint-dir", filepath.Join(dir, "checkpoints"),
		"--nats", natsURL, "--sensor", "follow-test", "--alerts-out", "", "--token-key-file", filepath.Join(dir, "token.key")}
	groups := accessLogGroups(t, 10)
	const perGroup = 12

	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	appendLines(t, logPath, groups[0:3]...)
	first := startProcess(t, args...)
	waitStored(t, js, 3*perGroup)

	// Rotate: the old file gets one more conversation after the rename.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, logPath, groups[3:5]...)
	appendLines(t, logPath+".1", groups[5])
	waitStored(t, js, 6*perGroup)
	first.cmd.Process.Signal(syscall.SIGKILL)
	first.cmd.Wait()

	// Truncate while nothing follows, then restart and append.
	if err := os.WriteFile(logPath, []byte(strings.Join(groups[6], "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := startProcess(t, args...)
	appendLines(t, logPath, groups[7:10]...)
	waitStored(t, js, 10*perGroup)
	second.cmd.Process.Signal(syscall.SIGINT)
	second.cmd.Wait()

	total, ids, err := storedMessages(js)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 10*perGroup || total > 10*perGroup+6*perGroup {
		t.Errorf("stream holds %d message events, %d distinct; want %d, and no repeats of the checkpointed ones", total, len(ids), 10*perGroup)
	}
}
