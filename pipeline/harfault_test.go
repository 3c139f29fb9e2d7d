package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/capture/logtap"
)

// exchangeRecorder notes each exchange a proxy log hands on, and panics
// on the nth response when n is set.
type exchangeRecorder struct {
	n, responses int
	seen         []string
}

func exchangeLine(req *capture.Request, resp *capture.Response, respBody string) string {
	return fmt.Sprintf("%s %s %q -> %d %q", req.Method, req.Target, req.Body, resp.StatusCode, respBody)
}

func (r *exchangeRecorder) Request(*capture.Request) {}
func (r *exchangeRecorder) Response(req *capture.Request, resp *capture.Response) {
	r.responses++
	if r.responses == r.n {
		panic("injected")
	}
	r.seen = append(r.seen, exchangeLine(req, resp, string(resp.Body)))
}
func (r *exchangeRecorder) SSEEvent(*capture.Request, *capture.Response, *capture.SSEEvent) {}
func (r *exchangeRecorder) ResponseEnd(*capture.Request, *capture.Response)                 {}
func (r *exchangeRecorder) ConnEnd(*capture.Conn, *capture.ConnEnd)                         {}

// A decoder fault on an exchange read from a proxy log is written to
// --dump-failures as a one-entry HAR file that the HAR reader reads back
// as the same exchange.
func TestTapFaultWritesHAR(t *testing.T) {
	const log = "../testdata/logtap/demo.har"
	clean := &exchangeRecorder{}
	if _, err := logtap.ReadFiles(context.Background(), logtap.Config{Format: logtap.FormatHAR}, []string{log}, clean); err != nil {
		t.Fatal(err)
	}
	const n = 3
	dir := t.TempDir()
	tally := newFaultTally(slog.New(slog.DiscardHandler))
	h := capture.Contain(&exchangeRecorder{n: n}, tally.tapReporter("tap:har:demo.har", dir))
	if _, err := logtap.ReadFiles(context.Background(), logtap.Config{Format: logtap.FormatHAR}, []string{log}, h); err != nil {
		t.Fatal(err)
	}
	var s Summary
	tally.fill(&s)
	if len(s.FailureDumps) != 1 {
		t.Fatalf("dumps %v, want one", s.FailureDumps)
	}
	if _, err := os.Stat(s.FailureDumps[0]); err != nil {
		t.Fatal(err)
	}
	replayed := &exchangeRecorder{}
	if _, err := logtap.ReadFiles(context.Background(), logtap.Config{Format: logtap.FormatHAR}, s.FailureDumps, replayed); err != nil {
		t.Fatal(err)
	}
	// The exchange that panicked was the clean run's nth to answer.
	if len(replayed.seen) != 1 || len(clean.seen) < n || replayed.seen[0] != clean.seen[n-1] {
		t.Errorf("reproducer gives %q, want the exchange that panicked, %q", replayed.seen, clean.seen[min(n, len(clean.seen))-1])
	}
}
