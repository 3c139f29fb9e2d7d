package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
)

// Issue 13 on real go-sdk traffic: a server that quotes the client's token
// in a JSON-RPC error, a resources/read URI with ?access_token=, a 401
// whose error_description quotes the token, terminal escapes in a server
// name and a Host header, and a tools/call behind 200 KiB of headers.
// The token reaches no event or alert, the run summary prints no raw
// control character, and the padded call is decoded and alerted.
func TestScenarioHostileTraffic(t *testing.T) {
	pcap := record(t, scenario.RunHostile)
	cfg, alerts := analyse(t, pcap, scenarioAllowlist)
	tok := scenario.HostileToken

	events, _ := os.ReadFile(cfg.EventsOut)
	alertsOut, _ := os.ReadFile(cfg.AlertsOut)
	if n := bytes.Count(events, []byte(tok)) + bytes.Count(alertsOut, []byte(tok)); n != 0 {
		t.Errorf("the token is in the events or alerts %d times", n)
	}
	var redacted, padded, hostileKey int
	kinds := map[string]bool{}
	for _, ev := range readEvents(t, cfg.EventsOut) {
		j, _ := json.Marshal(ev)
		if strings.Contains(string(j), tok) || strings.Contains(string(j), tok[:16]) {
			t.Errorf("token in %s event: %s", ev.Kind, j)
		}
		if strings.Contains(string(j), "[REDACTED:") {
			redacted++
		}
		for _, k := range ev.SecretKinds {
			kinds[k] = true
		}
		if ev.Kind == event.KindMessage && ev.Method == "tools/call" && ev.Direction == event.DirClientToServer {
			if ev.HeaderBytes < scenario.HostileHeaderBytes || ev.ToolName != "delete_files" {
				t.Errorf("padded tools/call: header_bytes %d tool %q", ev.HeaderBytes, ev.ToolName)
			}
			padded++
		}
		if strings.Contains(ev.ServerKey, "evil") {
			hostileKey++
			if strings.ContainsFunc(ev.ServerKey, event.Unprintable) || !strings.Contains(ev.ServerKey, "%1B") {
				t.Errorf("server_key %q", ev.ServerKey)
			}
		}
	}
	if redacted < 3 || !kinds["access_token"] || !kinds["credential"] {
		t.Errorf("%d events with redactions, secret kinds %v", redacted, kinds)
	}
	if padded != 1 || hostileKey == 0 {
		t.Errorf("%d padded tools/call events, %d events of the hostile Host", padded, hostileKey)
	}
	// The client pads every request: one alert per method, the
	// tools/call's naming its tool.
	var call int
	for _, a := range alerts {
		if a.RuleID == "oversized-request-headers" && a.Attributes["method"] == "tools/call" {
			call++
			if a.ToolName != "delete_files" || a.ClientAddress != "10.0.1.66" {
				t.Errorf("alert %+v", a)
			}
		}
	}
	if call != 1 {
		t.Errorf("%d oversized-request-headers alerts for the tools/call, want 1", call)
	}

	// The run summary for a person: the server name's escapes and the
	// Host's show as text.
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum.Print(&out)
	if n := rawControls(out.String()); n != 0 {
		t.Errorf("summary holds %d raw control characters:\n%q", n, out.String())
	}
	if !strings.Contains(out.String(), `files\x1b[2J\x1b[H\r\nALL CLEAR`) {
		t.Errorf("summary does not show the server name escaped:\n%s", out.String())
	}
}

// rawControls counts the characters a terminal would act on, the line
// ends of the output itself aside.
func rawControls(s string) int {
	n := 0
	for _, r := range s {
		if r != '\n' && event.Unprintable(r) {
			n++
		}
	}
	if !utf8.ValidString(s) {
		n++
	}
	return n
}
