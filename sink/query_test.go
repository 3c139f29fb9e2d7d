package sink

import (
	"context"
	"reflect"
	"regexp"
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
)

func TestClickHouseAlertsReadBackAsWritten(t *testing.T) {
	c := openTestClickHouse(t)
	ctx := context.Background()
	written := append(sampleAlerts(0), sampleAlerts(1)...)
	for range 2 { // redelivered: still one alert per id
		if err := c.WriteAlerts(ctx, written); err != nil {
			t.Fatal(err)
		}
	}
	byID := map[string]*event.Alert{}
	for _, a := range written {
		byID[a.AlertID] = a
	}

	all, err := c.Alerts(ctx, AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(written) {
		t.Fatalf("Alerts returned %d, want %d", len(all), len(written))
	}
	for i, a := range all {
		if !reflect.DeepEqual(a, byID[a.AlertID]) {
			t.Errorf("alert %s read back as\n %+v\nwant\n %+v", a.AlertID, a, byID[a.AlertID])
		}
		if i > 0 && a.TS.After(all[i-1].TS) {
			t.Errorf("alerts not newest first: %v after %v", a.TS, all[i-1].TS)
		}
	}

	for name, tc := range map[string]struct {
		f    AlertFilter
		want int
	}{
		"by rule":           {AlertFilter{RuleID: "legacy-protocol"}, 2},
		"by severities":     {AlertFilter{Severities: []string{event.SeverityHigh, event.SeverityCritical}}, 2},
		"by server":         {AlertFilter{Server: "http://10.0.0.5:8080/mcp"}, 2},
		"by host":           {AlertFilter{Server: "10.0.0.5"}, 2},
		"by host:port":      {AlertFilter{Server: "10.0.0.5:8080"}, 2},
		"by other port":     {AlertFilter{Server: "10.0.0.5:8081"}, 0},
		"by glob":           {AlertFilter{Server: "10.0.0.*"}, 2},
		"since":             {AlertFilter{Since: sampleAlerts(1)[0].TS}, 2},
		"limit":             {AlertFilter{Limit: 3}, 3},
		"rule and severity": {AlertFilter{RuleID: "legacy-protocol", Severities: []string{event.SeverityHigh}}, 0},
	} {
		got, err := c.Alerts(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != tc.want {
			t.Errorf("%s: %d alerts, want %d", name, len(got), tc.want)
		}
	}
}

// A --server selector matches whole keys, hosts, host:ports and globs of
// them, and nothing that only contains them.
func TestServerRegexp(t *testing.T) {
	keys := []string{"http://10.0.0.5:8080/mcp", "https://files.corp.example/mcp", "http://10.0.0.50:8080/mcp", "https://[2001:db8::1]:8443/mcp"}
	for sel, want := range map[string][]bool{
		"http://10.0.0.5:8080/mcp": {true, false, false, false},
		"10.0.0.5":                 {true, false, false, false},
		"10.0.0.5:8080":            {true, false, false, false},
		"10.0.0.5?":                {false, false, true, false},
		"*.corp.example":           {false, true, false, false},
		"files.corp.example:443":   {false, false, false, false},
		"[2001:db8::1]":            {false, false, false, true},
		"[2001:db8::1]:8443":       {false, false, false, true},
		"https://*":                {false, false, false, false},
		"https://*/mcp":            {false, true, false, true},
	} {
		re := regexp.MustCompile(ServerRegexp(sel))
		for i, k := range keys {
			if re.MatchString(k) != want[i] {
				t.Errorf("--server %q on %s: %v, want %v (%s)", sel, k, !want[i], want[i], re)
			}
		}
	}
}

func TestClickHouseServers(t *testing.T) {
	c := openTestClickHouse(t)
	a, b, evs := inventoryEvents()
	if err := c.WriteEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	servers, err := c.Servers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 2 || servers[0].ServerKey != b || servers[1].ServerKey != a {
		t.Fatalf("Servers = %+v, want %s then %s (most recently seen first)", servers, b, a)
	}
	if s := servers[1]; !s.AuthRequired || !s.PRMServed || s.ServerName != "notes" || s.ToolCalls != 1 {
		t.Errorf("server %s: %+v, want auth required, PRM served, name notes, 1 tool call", a, s)
	}
	if s := servers[0]; s.AuthRequired || s.UnauthenticatedOK != 1 {
		t.Errorf("server %s: %+v, want no auth required, 1 unauthenticated 2xx request", b, s)
	}
}
