package bus_test

import (
	"slices"
	"testing"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/event"
)

// The partition is part of the wire contract: these values (FNV-1a 32 mod 16,
// computed independently) must not change.
func TestSubject(t *testing.T) {
	for _, tc := range []struct {
		kind      event.Kind
		serverKey string
		want      string
	}{
		{event.KindMessage, "http://10.0.0.5:8080/mcp", "mcpwatch.events.message.8"},
		{event.KindSession, "http://10.0.0.5:8080/mcp", "mcpwatch.events.session.8"},
		{event.KindFlow, "", "mcpwatch.events.flow.5"},
		{event.KindManifest, "https://mcp.corp.example/mcp", "mcpwatch.events.manifest.11"},
	} {
		ev := &event.Event{Kind: tc.kind, ServerKey: tc.serverKey}
		if got := bus.Subject(ev, 16); got != tc.want {
			t.Errorf("Subject(%s, %q) = %q, want %q", tc.kind, tc.serverKey, got, tc.want)
		}
	}
}

func TestEventSubjects(t *testing.T) {
	for _, tc := range []struct {
		name       string
		kinds      []event.Kind
		partitions []int
		want       []string
	}{
		{"everything", nil, nil, []string{"mcpwatch.events.>"}},
		{"kinds", []event.Kind{event.KindMessage, event.KindAuth}, nil, []string{"mcpwatch.events.message.*", "mcpwatch.events.auth.*"}},
		{"partitions", nil, []int{0, 5}, []string{"mcpwatch.events.*.0", "mcpwatch.events.*.5"}},
		{"both", []event.Kind{event.KindManifest}, []int{2}, []string{"mcpwatch.events.manifest.2"}},
	} {
		if got := bus.EventSubjects(tc.kinds, tc.partitions); !slices.Equal(got, tc.want) {
			t.Errorf("%s: EventSubjects = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Every partition has exactly one owner.
func TestOwnedPartitions(t *testing.T) {
	for replicas := 1; replicas <= 16; replicas++ {
		owner := map[int]int{}
		for r := range replicas {
			owned, err := bus.OwnedPartitions(16, r, replicas)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range owned {
				if prev, taken := owner[p]; taken {
					t.Fatalf("%d replicas: partition %d owned by %d and %d", replicas, p, prev, r)
				}
				owner[p] = r
			}
		}
		if len(owner) != 16 {
			t.Errorf("%d replicas own %d of 16 partitions", replicas, len(owner))
		}
	}
	for _, bad := range [][3]int{{16, 2, 2}, {16, -1, 2}, {16, 0, 0}, {4, 0, 5}} {
		if _, err := bus.OwnedPartitions(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("OwnedPartitions(%d, %d, %d) succeeded", bad[0], bad[1], bad[2])
		}
	}
}
