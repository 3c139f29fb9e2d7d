package event

import (
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
)

// Every alert record says kind "alert"; older records without it still
// read, a record of another kind does not.
func TestAlertKind(t *testing.T) {
	data, err := json.Marshal(&Alert{Schema: SchemaVersion, AlertID: "a1", RuleID: "r", Severity: SeverityLow})
	if err != nil || !strings.HasPrefix(string(data), `{"schema":1,"kind":"alert","alert_id":"a1"`) {
		t.Fatalf("alert JSON %s, %v", data, err)
	}
	for in, ok := range map[string]bool{
		`{"schema":1,"kind":"alert","alert_id":"a1","rule_id":"r","severity":"low"}`:   true,
		`{"schema":1,"alert_id":"a1","rule_id":"r","severity":"low"}`:                  true,
		`{"schema":1,"kind":"message","alert_id":"a1","rule_id":"r","severity":"low"}`: false,
	} {
		if _, err := DecodeAlert([]byte(in)); (err == nil) != ok {
			t.Errorf("DecodeAlert(%s): %v", in, err)
		}
	}
}
