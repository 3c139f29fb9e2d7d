package detect

import (
	"slices"
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
