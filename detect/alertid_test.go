package detect

import (
	"testing"
	"time"
)

const newServerRule = `
  - id: new-server-test
    name: New server
    description: first sight of a server
    severity: low
    category: new_server
    type: new_value
    condition: server_key != ""
    fields: [server_key]
`

// A detect replica that replaces a crashed one sees a server again from a
// later event; the new_value alert it raises must have the id of the one the
// crashed replica already published, so JetStream drops it as a duplicate.
func TestNewValueAlertIDIsTheValue(t *testing.T) {
	first := newTestEngine(t, DefaultConfig(), nil, newServerRule)
	a := processAll(first, authFailure(1, 0, "10.0.1.5", "tok"))
	replacement := newTestEngine(t, DefaultConfig(), nil, newServerRule)
	b := processAll(replacement, authFailure(2, time.Minute, "10.0.1.6", "tok"))
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("want one alert from each engine, got %d and %d", len(a), len(b))
	}
	if a[0].AlertID != b[0].AlertID {
		t.Errorf("alert ids differ for the same new value: %s vs %s", a[0].AlertID, b[0].AlertID)
	}
}

// Match alerts stay tied to their event: two events, two alerts.
func TestMatchAlertIDIsTheEvidence(t *testing.T) {
	e := newTestEngine(t, DefaultConfig(), nil, `
  - id: any-401
    name: Any 401
    description: every challenge
    severity: low
    category: auth_failure
    type: match
    condition: http_status == 401
`)
	as := processAll(e, authFailure(1, 0, "10.0.1.5", "tok"), authFailure(2, time.Second, "10.0.1.5", "tok"))
	if len(as) != 2 || as[0].AlertID == as[1].AlertID {
		t.Fatalf("want two alerts with distinct ids, got %d", len(as))
	}
}

// Without a learning period an older event seen after a newer one (a
// redelivery after a replica crash) still alerts on its new value.
func TestNewValueWithoutLearningAlertsOnLateEvents(t *testing.T) {
	e := newTestEngine(t, DefaultConfig(), nil, newServerRule)
	late := authFailure(1, time.Minute, "10.0.1.5", "tok")
	early := authFailure(2, 0, "10.0.1.6", "tok")
	early.ServerKey = "http://other.corp.example/mcp"
	if got := processAll(e, late, early); len(got) != 2 {
		t.Fatalf("want an alert for each of the two servers, got %d", len(got))
	}
}
