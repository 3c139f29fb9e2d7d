package alertfeed

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The full mapping of one alert, reviewed once by eye against the OCSF 1.3
// Detection Finding class and kept as a golden file.
func TestMarshalOCSFGolden(t *testing.T) {
	raw, err := MarshalOCSF(testAlert(1))
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	golden := filepath.Join("testdata", "detection_finding.golden.json")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("OCSF finding differs from %s (go test -update to accept):\n%s", golden, got.Bytes())
	}
}

// Attributes every OCSF 1.x Detection Finding requires, for every severity
// and for an alert with only its required fields.
func TestMarshalOCSFRequiredAttributes(t *testing.T) {
	for _, sev := range []struct {
		name string
		id   float64
	}{{event.SeverityLow, 2}, {event.SeverityMedium, 3}, {event.SeverityHigh, 4}, {event.SeverityCritical, 5}} {
		a := &event.Alert{Schema: 1, AlertID: "a1", TS: testAlert(0).TS, RuleID: "r", RuleName: "Rule", Severity: sev.name, ClientAddress: "not-an-ip"}
		raw, err := MarshalOCSF(a)
		if err != nil {
			t.Fatal(err)
		}
		var f map[string]any
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"activity_id", "category_uid", "class_uid", "finding_info", "metadata", "severity_id", "time", "type_uid"} {
			if _, ok := f[k]; !ok {
				t.Errorf("%s alert: OCSF finding lacks required %s", sev.name, k)
			}
		}
		if f["severity_id"] != sev.id || f["type_uid"] != float64(200401) {
			t.Errorf("%s alert: severity_id %v, type_uid %v", sev.name, f["severity_id"], f["type_uid"])
		}
		info := f["finding_info"].(map[string]any)
		if info["uid"] != "a1" || info["title"] != "Rule" {
			t.Errorf("finding_info %v", info)
		}
		if _, ok := f["src_endpoint"]; ok {
			t.Error("a client address that is not an IP went to src_endpoint.ip")
		}
		if f["unmapped"].(map[string]any)["client_address"] != "not-an-ip" {
			t.Errorf("unmapped %v lacks the client address", f["unmapped"])
		}
	}
}
