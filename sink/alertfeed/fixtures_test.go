package alertfeed

import (
	"fmt"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// testAlert returns an alert with every field set; n varies its id. The
// summary holds characters that need escaping in JSON, HTML and syslog
// structured data.
func testAlert(n int) *event.Alert {
	ts := time.Date(2026, 7, 28, 11, 0, 0, 123456789, time.UTC).Add(time.Duration(n) * time.Second)
	first := ts.Add(-time.Minute)
	return &event.Alert{
		Schema:           event.SchemaVersion,
		AlertID:          event.NewID("alertfeed-test", fmt.Sprint(n)),
		TS:               ts,
		RuleID:           "unexpected-server",
		RuleName:         "Unexpected MCP server",
		Severity:         event.SeverityHigh,
		Category:         "unexpected_server",
		Summary:          `MCP server "notes" <http://10.0.0.5:8080/mcp> [not allowlisted] \o/`,
		ServerKey:        "http://10.0.0.5:8080/mcp",
		ClientAddress:    "10.0.0.7",
		SessionID:        "sess-1",
		ToolName:         "search",
		Count:            3,
		WindowS:          60,
		FirstSeen:        &first,
		LastSeen:         &ts,
		EvidenceEventIDs: []string{"e1", "e2"},
		Attributes:       map[string]string{"allowlist": "demo.yaml"},
	}
}
