//go:build libpcap && cgo

package pipeline

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
)

// --bpf reads the capture through libpcap with the filter: one server of
// the demo's two is left.
func TestRunWithBPF(t *testing.T) {
	pcap, _ := demoCapture(t)
	cfg := testConfig(t, pcap)
	cfg.BPF = "tcp port 3000"
	summary, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(summary.Servers) != 1 || summary.Servers[0].ServerKey != "http://10.0.0.9:3000/mcp" || summary.Servers[0].Messages == 0 {
		t.Errorf("servers %+v, want only shadow-db with its messages", summary.Servers)
	}
}

// A damaged record does not end a --bpf run: the file is read by the same
// reader as without a filter, which skips the damage and goes on, and the
// filtered server's messages are those of an unfiltered run on the same
// damaged file.
func TestRunDamagedPcapWithBPF(t *testing.T) {
	clean, err := os.ReadFile("../testdata/demo.pcap")
	if err != nil {
		t.Fatal(err)
	}
	k := len(recordOffsets(clean)) / 2
	_, unfiltered, path := damagedRun(t, clean, "demo.pcap", k, slog.New(slog.DiscardHandler))
	cfg := testConfig(t, path)
	cfg.BPF = "tcp port 3000"
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.DamagedInputs) != 1 {
		t.Errorf("damaged inputs %q, want the file", sum.DamagedInputs)
	}
	const server = "http://10.0.0.9:3000/mcp"
	messages := func(evs []*event.Event) []string {
		var ids []string
		for _, e := range evs {
			if e.Kind == event.KindMessage && e.ServerKey == server {
				ids = append(ids, e.EventID)
			}
		}
		slices.Sort(ids)
		return ids
	}
	want, got := messages(readEvents(t, unfiltered.EventsOut)), messages(readEvents(t, cfg.EventsOut))
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("filtered run: %d messages of %s, unfiltered run on the damaged file: %d", len(got), server, len(want))
	}
}
