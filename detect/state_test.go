package detect

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

const newClientRule = `
  - id: new-client
    name: New client
    description: A client address not seen before.
    severity: low
    category: inventory
    type: new_value
    condition: kind == "message"
    fields: [client_address]
`

// TestGroupsEvictedOldestFirst checks MaxGroupsPerRule: the least recently
// seen group goes, is counted, and is new again when it comes back.
func TestGroupsEvictedOldestFirst(t *testing.T) {
	e := newTestEngine(t, Config{MaxGroupsPerRule: 2}, nil, newClientRule)
	ev := func(n int, client string) *event.Event {
		return authFailure(n, time.Duration(n)*time.Second, client, "")
	}
	alerts := processAll(e,
		ev(1, "10.0.0.1"),
		ev(2, "10.0.0.2"),
		ev(3, "10.0.0.1"), // touches .1: .2 is now the oldest
		ev(4, "10.0.0.3"), // evicts .2
		ev(5, "10.0.0.1"), // still known
		ev(6, "10.0.0.2"), // forgotten, so new again; evicts .3
	)
	var clients []string
	for _, a := range alerts {
		clients = append(clients, a.ClientAddress)
	}
	if got, want := clients, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.2"}; !slices.Equal(got, want) {
		t.Errorf("alerts for %v, want %v", got, want)
	}
	if st := e.Stats().Rules["new-client"]; st.Groups != 2 || st.GroupsEvicted != 2 {
		t.Errorf("stats = %+v, want 2 groups held, 2 evicted", st)
	}
}

// TestIdleGroupsExpire: a thousand clients each failing once, ten seconds
// apart, leave only the groups of the last two windows (and the suppression
// marks of the last two suppress intervals) in memory; the rule still fires
// on a burst, for a new client and for one whose group expired long ago.
func TestIdleGroupsExpire(t *testing.T) {
	rule := strings.Replace(burstRule, "threshold: 3", "threshold: 3\n    suppress: 2m", 1)
	e := newTestEngine(t, Config{}, nil, rule)
	var evs []*event.Event
	client := func(i int) string { return fmt.Sprintf("10.1.%d.%d", i/256, i%256) }
	const clients = 1000
	for i := range clients {
		evs = append(evs, authFailure(i, time.Duration(i)*10*time.Second, client(i), ""))
	}
	end := time.Duration(clients) * 10 * time.Second
	for k, c := range []string{"10.9.9.9", client(0)} {
		for j := range 3 {
			evs = append(evs, authFailure(clients+3*k+j, end+time.Duration(3*k+j)*time.Second, c, ""))
		}
	}
	alerts := processAll(e, evs...)
	if len(alerts) != 2 || alerts[0].ClientAddress != "10.9.9.9" || alerts[1].ClientAddress != client(0) {
		t.Fatalf("alerts %d, want the two bursts", len(alerts))
	}
	st := e.Stats().Rules["burst"]
	// Two minutes of one client every ten seconds, the two bursts, and
	// their two suppression marks.
	if st.Groups > 12+2+2+2 || st.GroupsExpired < clients-12 || st.GroupsEvicted != 0 {
		t.Errorf("groups held %d, expired %d, evicted %d; want at most 18 held, the rest expired", st.Groups, st.GroupsExpired, st.GroupsEvicted)
	}
}
