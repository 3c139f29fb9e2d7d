package detect

import (
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

const burstRule = `
  - id: burst
    name: Burst
    description: Auth failures per client.
    severity: medium
    category: auth_failure
    type: threshold
    condition: http_status == 401
    group_by: [client_address, server_key]
    window: 1m
    threshold: 3
`

func TestThresholdSlidingWindow(t *testing.T) {
	e := newTestEngine(t, Config{}, nil, burstRule)
	// Three failures spread over more than a minute never fill one window;
	// the fourth makes three within a minute.
	alerts := processAll(e,
		authFailure(1, 0, "10.0.0.7", ""),
		authFailure(2, 40*time.Second, "10.0.0.7", ""),
		authFailure(3, 70*time.Second, "10.0.0.7", ""),
		authFailure(4, 90*time.Second, "10.0.0.7", ""),
	)
	if len(alerts) != 1 {
		t.Fatalf("got %d alerts, want 1: %+v", len(alerts), alerts)
	}
	a := alerts[0]
	if a.Count != 3 || a.WindowS != 60 || !a.FirstSeen.Equal(t0.Add(40*time.Second)) || !a.LastSeen.Equal(t0.Add(90*time.Second)) {
		t.Errorf("alert = count %d window %v first %v last %v", a.Count, a.WindowS, a.FirstSeen, a.LastSeen)
	}
	if got := a.EvidenceEventIDs; len(got) != 3 || got[0] != "ev-2" || got[2] != "ev-4" {
		t.Errorf("evidence = %v", got)
	}
	// Only group fields name the subject of a threshold alert.
	if a.ClientAddress != "10.0.0.7" || a.ServerKey == "" || a.SessionID != "" || a.ToolName != "" {
		t.Errorf("subject = %q %q %q %q", a.ClientAddress, a.ServerKey, a.SessionID, a.ToolName)
	}
}

func TestThresholdGroupsAreSeparate(t *testing.T) {
	e := newTestEngine(t, Config{}, nil, burstRule)
	alerts := processAll(e,
		authFailure(1, 0, "10.0.0.7", ""),
		authFailure(2, time.Second, "10.0.0.8", ""),
		authFailure(3, 2*time.Second, "10.0.0.7", ""),
		authFailure(4, 3*time.Second, "10.0.0.8", ""),
	)
	if len(alerts) != 0 {
		t.Fatalf("two clients with two failures each raised %d alerts", len(alerts))
	}
}

func TestThresholdSuppress(t *testing.T) {
	rule := burstRule + "    suppress: 5m\n"
	e := newTestEngine(t, Config{}, nil, rule)
	var events []*event.Event
	for i := range 10 {
		events = append(events, authFailure(i, time.Duration(i)*time.Second, "10.0.0.7", ""))
	}
	events = append(events, authFailure(20, 6*time.Minute, "10.0.0.7", ""), authFailure(21, 6*time.Minute+time.Second, "10.0.0.7", ""), authFailure(22, 6*time.Minute+2*time.Second, "10.0.0.7", ""))
	alerts := processAll(e, events...)
	if len(alerts) != 2 {
		t.Fatalf("got %d alerts, want one per suppress interval (2)", len(alerts))
	}
	if st := e.Stats().Rules["burst"]; st.Suppressed != 7 || st.Alerts != 2 || st.Matched != 13 {
		t.Errorf("stats = %+v", st)
	}
}

func TestThresholdDistinctAndSum(t *testing.T) {
	distinct := newTestEngine(t, Config{}, nil, `
  - id: stuffing
    name: Stuffing
    description: Many tokens.
    severity: high
    category: auth_failure
    type: threshold
    condition: http_status == 401
    group_by: [client_address]
    window: 10m
    aggregate: distinct(token_id)
    threshold: 3
`)
	alerts := processAll(distinct,
		authFailure(1, 0, "10.0.0.7", "aa"),
		authFailure(2, time.Second, "10.0.0.7", "aa"),
		authFailure(3, 2*time.Second, "10.0.0.7", "bb"),
		authFailure(4, 3*time.Second, "10.0.0.7", "bb"),
		authFailure(5, 4*time.Second, "10.0.0.7", "cc"),
	)
	if len(alerts) != 1 || alerts[0].Count != 3 || alerts[0].EvidenceEventIDs[0] != "ev-1" {
		t.Fatalf("distinct alerts = %+v", alerts)
	}

	sum := newTestEngine(t, Config{}, nil, `
  - id: bulk
    name: Bulk
    description: Many bytes.
    severity: high
    category: bulk_transfer
    type: threshold
    condition: kind == "message"
    group_by: [client_address]
    window: 1m
    aggregate: sum(bytes)
    threshold: 1000
`)
	small, big := authFailure(1, 0, "10.0.0.7", ""), authFailure(2, time.Second, "10.0.0.7", "")
	small.Bytes, big.Bytes = 400, 600
	if alerts := processAll(sum, small, big); len(alerts) != 1 || alerts[0].Count != 1000 {
		t.Fatalf("sum alerts = %+v", alerts)
	}
}

// TestThresholdBounds checks the per-group entry cap and late events: both
// are dropped and counted, neither grows memory.
func TestThresholdBounds(t *testing.T) {
	e := newTestEngine(t, Config{MaxEventsPerGroup: 4}, nil, burstRule)
	var events []*event.Event
	for i := range 10 {
		events = append(events, authFailure(i, time.Duration(i)*time.Second, "10.0.0.7", ""))
	}
	events = append(events, authFailure(99, -time.Hour, "10.0.0.7", "")) // late
	processAll(e, events...)
	st := e.Stats().Rules["burst"]
	if st.EntriesDropped != 6+1 {
		t.Errorf("EntriesDropped = %d, want 6 over the cap + 1 late", st.EntriesDropped)
	}
	if _, err := NewEngine(Config{MaxEventsPerGroup: 2}, mustLoad(t, burstRule), nil); err == nil {
		t.Error("a count threshold above MaxEventsPerGroup was accepted")
	}
}

func TestThresholdBaseline(t *testing.T) {
	e := newTestEngine(t, Config{}, nil, `
  - id: rate
    name: Rate
    description: Calls over baseline.
    severity: medium
    category: anomaly
    type: threshold
    condition: kind == "message"
    group_by: [client_address]
    window: 1m
    threshold: 5
    baseline_factor: 3
    baseline_windows: 3
`)
	var events []*event.Event
	n := 0
	add := func(minute, count int) {
		for i := range count {
			events = append(events, authFailure(n, time.Duration(minute)*time.Minute+time.Duration(i)*time.Second, "10.0.0.7", ""))
			n++
		}
	}
	// A steady 6 a minute is above the threshold but is this client's
	// normal: no alert. Then 30 in a minute is five times the baseline.
	for m := range 5 {
		add(m, 6)
	}
	if alerts := processAll(e, events...); len(alerts) != 0 {
		t.Fatalf("steady rate alerted: %+v", alerts[0])
	}
	events = nil
	add(5, 30)
	alerts := processAll(e, events...)
	if len(alerts) == 0 {
		t.Fatal("spike did not alert")
	}
	if got := alerts[0].Count; got < 18 {
		t.Errorf("first alert count %d, want at least 3x the baseline of 6", got)
	}
}

// TestThresholdRedelivery replays events, as JetStream does after a
// consumer restart: they must not count twice.
func TestThresholdRedelivery(t *testing.T) {
	e := newTestEngine(t, Config{}, nil, burstRule)
	one, two := authFailure(1, 0, "10.0.0.7", ""), authFailure(2, time.Second, "10.0.0.7", "")
	if alerts := processAll(e, one, two, one, two, two); len(alerts) != 0 {
		t.Fatalf("two failures delivered five times raised %+v", alerts[0])
	}
	if alerts := processAll(e, authFailure(3, time.Second, "10.0.0.7", "")); len(alerts) != 1 {
		t.Fatal("the third distinct failure did not alert")
	}
}
