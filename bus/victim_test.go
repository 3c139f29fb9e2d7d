package bus_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/event"
)

// victimEnv carries a victimSpec to a copy of the test binary that acts as a
// second consumer process, so a test can SIGKILL it mid-batch.
const victimEnv = "MCPWATCH_BUS_TEST_VICTIM"

type victimSpec struct {
	URL      string
	Run      string // sensor name of the run's events
	Consumer bus.ConsumerConfig
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(victimEnv); spec != "" {
		if err := runVictim(spec); err != nil {
			fmt.Fprintln(os.Stderr, "victim:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runVictim consumes until it gets a batch holding events of the run, prints
// their ids as one JSON line and then hangs with the batch unacked, waiting
// to be killed.
func runVictim(specJSON string) error {
	var spec victimSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return err
	}
	ctx := context.Background()
	b, err := bus.Connect(ctx, bus.Config{URL: spec.URL})
	if err != nil {
		return err
	}
	return b.ConsumeEvents(ctx, spec.Consumer, func(ctx context.Context, evs []*event.Event) error {
		var held []string
		for _, ev := range evs {
			if ev.Sensor == spec.Run {
				held = append(held, ev.EventID)
			}
		}
		if len(held) == 0 {
			return nil // another run's events, on a shared server
		}
		line, err := json.Marshal(held)
		if err != nil {
			return err
		}
		fmt.Println(string(line))
		select {} // hold the batch until SIGKILL
	})
}

// startVictim starts the victim process; held yields the ids of the batch it
// holds once it has one.
func startVictim(t *testing.T, spec victimSpec) (*exec.Cmd, <-chan []string) {
	t.Helper()
	specJSON, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), victimEnv+"="+string(specJSON))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	held := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		if !sc.Scan() {
			return
		}
		var ids []string
		if err := json.Unmarshal(sc.Bytes(), &ids); err == nil {
			held <- ids
		}
	}()
	return cmd, held
}

// victimHolding starts a victim process consuming c, publishes evs and
// returns once the victim holds a batch (unacked), with that batch's ids.
func victimHolding(t *testing.T, url string, r run, c bus.ConsumerConfig, evs []*event.Event) (*exec.Cmd, []string) {
	t.Helper()
	victim, held := startVictim(t, victimSpec{URL: url, Run: r.name, Consumer: c})
	publishAll(t, connect(t, url), evs)
	select {
	case ids := <-held:
		return victim, ids
	case <-time.After(30 * time.Second):
		t.Fatal("the victim process got no batch in 30s")
		return nil, nil
	}
}
