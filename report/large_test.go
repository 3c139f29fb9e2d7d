package report_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/report"
)

// Sizes of the large report: 1 000 servers, 100 000 alerts over a day.
const (
	largeServers = 1000
	largeAlerts  = 100_000
	// largeHTMLLimit and largeElementLimit bound the page: whatever the
	// number of alerts, the report aggregates them, and evidence is capped
	// per number. (Measured: 1.9 MB and about 50 000 elements.)
	largeHTMLLimit    = 4 << 20
	largeElementLimit = 80_000
)

// largeReport builds the report of a synthetic day: every server with a
// session, tool calls and a manifest, every tenth not on the allowlist;
// alerts spread over the day, servers and severities.
func largeReport(t *testing.T) *report.Report {
	t.Helper()
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	b := report.NewBuilder(report.Config{Source: "synthetic"}, nil)
	id := func(kind string, n int) string { return fmt.Sprintf("%s%027d", kind, n) }
	server := func(i int) string { return fmt.Sprintf("https://mcp-%04d.corp.example/mcp", i) }
	for i := range largeServers {
		base := event.Event{Schema: event.SchemaVersion, TS: start.Add(time.Duration(i) * time.Minute), ServerKey: server(i),
			ClientAddress: fmt.Sprintf("10.1.%d.%d", i/250, i%250), ProtocolVersion: "2025-06-18", Transport: "streamable-http", ServerName: "srv"}
		session := base
		session.EventID, session.Kind = id("ses", i), event.KindSession
		b.Observe(&session)
		for j := range 3 {
			call := base
			call.EventID, call.Kind, call.MsgType, call.Method, call.ToolName, call.Bytes = id("msg", i*3+j), event.KindMessage, "request", "tools/call", fmt.Sprintf("tool_%d", j), 1000
			b.Observe(&call)
		}
	}
	categories := []string{"auth_failure", "bulk_transfer", "plaintext_transport"}
	for n := range largeAlerts {
		s := n % largeServers
		category := categories[n%len(categories)]
		if s%10 == 0 && n/largeServers%2 == 0 {
			category = "unexpected_server" // every tenth server is not on the allowlist
		}
		b.ObserveAlert(&event.Alert{Schema: event.SchemaVersion, AlertID: id("alr", n), TS: start.Add(time.Duration(n) * 864 * time.Millisecond),
			RuleID: strings.ReplaceAll(category, "_", "-"), Severity: event.Severities[n%len(event.Severities)], Category: category,
			Summary: "synthetic alert", ServerKey: server(s), ClientAddress: "10.1.0.1"})
	}
	return b.Build(start.Add(48 * time.Hour))
}

// TestLargeReport opens the report of 1 000 servers and 100 000 alerts in
// Chromium: the page stays under largeHTMLLimit, holds every server row
// but shows one page of them, lists a bounded number of alerts while its
// charts and totals count all of them, and loads without a request or an
// error.
func TestLargeReport(t *testing.T) {
	r := largeReport(t)
	html := render(t, r)
	t.Logf("HTML: %d bytes, %d servers, %d appendix entries", len(html), len(r.Servers), len(r.Appendix))
	if len(html) > largeHTMLLimit {
		t.Errorf("HTML of %d bytes, want at most %d", len(html), largeHTMLLimit)
	}
	p := open(t, html)
	counts := eval[map[string]int](t, p, `({
		rows: document.querySelectorAll('#servers tr.server').length,
		visible: [...document.querySelectorAll('#servers tr.server')].filter(tr => tr.offsetParent !== null).length,
		offList: document.querySelectorAll('#servers tr.server .bad').length,
		recent: document.querySelectorAll('#recent tbody tr').length,
		bars: document.querySelectorAll('svg.chart rect').length,
		charted: [...document.querySelectorAll('svg.chart rect[data-series]')].filter(r => ['low','medium','high','critical'].includes(r.dataset.series)).reduce((n, r) => n + Number(r.dataset.count), 0),
		evidence: document.querySelectorAll('#appendix ~ div[id^=ev]').length,
		elements: document.getElementsByTagName('*').length,
	})`)
	t.Logf("DOM: %v", counts)
	want := map[string]int{"rows": largeServers, "visible": r.PageSize, "offList": largeServers / 10, "recent": 100, "charted": largeAlerts}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("%s = %d, want %d", k, counts[k], v)
		}
	}
	if counts["elements"] > largeElementLimit {
		t.Errorf("%d elements, want at most %d", counts["elements"], largeElementLimit)
	}
	if counts["bars"] > 2*48*4 || counts["evidence"] != len(r.Appendix) {
		t.Errorf("%d bars, %d evidence entries (report: %d)", counts["bars"], counts["evidence"], len(r.Appendix))
	}
	if total := texts(t, p, "#alert-total"); total[0] != fmt.Sprint(largeAlerts) {
		t.Errorf("alert total %s, want %d", total[0], largeAlerts)
	}
	// The pager shows the next page.
	next := eval[int](t, p, `document.querySelector('.pager [data-step="1"]').click(),
		[...document.querySelectorAll('#servers tr.server')].findIndex(tr => tr.offsetParent !== null)`)
	if next != r.PageSize {
		t.Errorf("after next, the first visible row is %d, want %d", next, r.PageSize)
	}
	p.screenshot(t, "report-large.png", true)
	p.clean(t)
}
