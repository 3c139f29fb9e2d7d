package report_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/mcpwatch/mcpwatch/internal/testenv"
	"github.com/mcpwatch/mcpwatch/report"
)

// page is a report opened in headless Chromium, with every request the
// page attempted (other than the file itself) and every console error,
// uncaught exception or browser log error (a CSP violation is one).
type page struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	errors   []string
}

// render is r as HTML.
func render(t *testing.T, r *report.Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Write(&buf, r, report.FormatHTML); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// open writes html to a file, opens it in Chromium and waits until the
// document has loaded.
func open(t *testing.T, html []byte) *page {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, html, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(testenv.Chromium(t)),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	fileURL := (&url.URL{Scheme: "file", Path: path}).String()
	p := &page{}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) { p.record(ev, fileURL) }))
	t.Cleanup(cancel)
	p.ctx = ctx
	if err := chromedp.Do(ctx, chromedp.Navigate(fileURL), chromedp.WaitReady("body")); err != nil {
		t.Fatal(err)
	}
	return p
}

// record keeps what the page attempted and logged.
func (p *page) record(ev any, fileURL string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Request.URL != fileURL {
			p.requests = append(p.requests, ev.Request.URL)
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			p.errors = append(p.errors, "console."+string(ev.Type))
		}
	case *runtime.EventExceptionThrown:
		p.errors = append(p.errors, "exception: "+ev.ExceptionDetails.Text)
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			p.errors = append(p.errors, "log: "+ev.Entry.Text)
		}
	}
}

// clean fails the test for any request the page attempted or any error.
func (p *page) clean(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.requests) > 0 {
		t.Errorf("the page attempted %d requests: %v", len(p.requests), p.requests)
	}
	if len(p.errors) > 0 {
		t.Errorf("the page logged errors: %v", p.errors)
	}
}

// screenshot keeps a PNG of the page among the test artefacts: the whole
// page, or with viewport only the window (a page too long for one image).
func (p *page) screenshot(t *testing.T, name string, viewport bool) {
	t.Helper()
	shot := chromedp.FullScreenshot(100) // 100: PNG; less is JPEG
	if viewport {
		shot = chromedp.CaptureScreenshot()
	}
	png, err := chromedp.Run(p.ctx, shot)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(testenv.Artefacts(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// eval is the value of a JavaScript expression in the page.
func eval[T any](t *testing.T, p *page, expr string) T {
	t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// texts is the text of every element matching the CSS selector.
func texts(t *testing.T, p *page, selector string) []string {
	t.Helper()
	return eval[[]string](t, p, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.textContent.trim())`, selector))
}

// TestReportInBrowser opens the report of real traffic in Chromium: one
// row per server the pipeline saw, in the report's order, with the grade
// and alert count of the pipeline's output; the evidence links lead to
// appendix entries; nothing was requested, nothing logged an error.
func TestReportInBrowser(t *testing.T) {
	o := pipelineOutput(t)
	r := build(t, o)
	p := open(t, render(t, r))

	servers := eval[[]string](t, p, `[...document.querySelectorAll('#servers tr.server')].map(tr => tr.dataset.server)`)
	if len(servers) != len(r.Servers) {
		t.Fatalf("%d server rows, want %d", len(servers), len(r.Servers))
	}
	alertsPerServer := map[string]int{}
	for _, a := range o.alerts {
		alertsPerServer[a.ServerKey]++
	}
	alertCells := texts(t, p, "#servers tr.server td.alerts")
	grades := texts(t, p, "#servers tr.server td.grade")
	for i, key := range servers {
		if key != r.Servers[i].ServerKey {
			t.Errorf("row %d is %s, want %s", i, key, r.Servers[i].ServerKey)
		}
		if want := alertsPerServer[key]; alertCells[i] != strconv.Itoa(want) {
			t.Errorf("%s: %s alerts shown, the pipeline raised %d", key, alertCells[i], want)
		}
		if grades[i] != r.Servers[i].Grade || grades[i] == report.NotGraded || grades[i] == "" {
			t.Errorf("%s: grade %q shown, posture graded %q", key, grades[i], r.Servers[i].Grade)
		}
	}
	if total := texts(t, p, "#alert-total"); total[0] != strconv.Itoa(len(o.alerts)) {
		t.Errorf("alert total %s, want %d", total[0], len(o.alerts))
	}
	dangling := eval[[]string](t, p, `[...document.querySelectorAll('a[href^="#"]')].map(a => a.getAttribute('href').slice(1)).filter(id => !document.getElementById(id))`)
	if len(dangling) > 0 {
		t.Errorf("links to missing anchors: %v", dangling)
	}
	if bars := eval[int](t, p, `document.querySelectorAll('svg.chart rect').length`); bars == 0 {
		t.Error("no bars in the charts")
	}
	p.screenshot(t, "report-pipeline.png", false)
	p.clean(t)
}

// TestBrowserHarness shows that the checks above would see a request or
// an error: a report with an image from the network and a console error
// put in fails both.
func TestBrowserHarness(t *testing.T) {
	html := bytes.Replace(render(t, build(t, pipelineOutput(t))), []byte("</body>"),
		[]byte(`<img src="http://127.0.0.1:1/pixel.png"><script>console.error("broken")</script></body>`), 1)
	p := open(t, html)
	eval[int](t, p, "1") // a round trip, so the events of the load have arrived
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.requests) == 0 || len(p.errors) == 0 {
		t.Errorf("requests %v, errors %v: want the image request and the console error (and the CSP's refusal)", p.requests, p.errors)
	}
	t.Logf("seen: requests %v, errors %v", p.requests, p.errors)
}
