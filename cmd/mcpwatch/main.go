// Command mcpwatch is the passive MCP sensor and detection pipeline: one
// binary whose subcommands run the stages together (run) or apart.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/pipeline"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal stops the reading and delivers what was read (up to
	// the drain timeout); a second one ends the process at once, as signals
	// do by default.
	go func() {
		<-ctx.Done()
		stop()
	}()
	root := newRootCommand()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mcpwatch:", err)
		os.Exit(exitStatus(err))
	}
}

// checkInputLoss turns a capture file whose reading failed part way into
// status 1, and records skipped in inputs read to their end — damaged
// capture records, a file cut short, bad log records — into status 3, after
// the summary has said which.
func checkInputLoss(s *pipeline.Summary) error {
	if n := len(s.FailedInputs); n > 0 {
		return fmt.Errorf("reading %d input(s) failed part way (see the summary above); what was read before, and the other inputs, were delivered", n)
	}
	if n := len(s.DamagedInputs); n > 0 {
		return exitError{exitBadLogRecords, fmt.Errorf("%d capture file(s) damaged or cut short, their bad records skipped (see the summary above); every other record was read and delivered", n)}
	}
	if s.BadLogRecordsRead > 0 {
		return exitError{exitBadLogRecords, fmt.Errorf("%d log records skipped as bad (see the warnings above); every other record was read and delivered", s.BadLogRecordsRead)}
	}
	return nil
}

// checkFindings turns alerts of severity failOn or higher into status 6
// (--fail-on); an empty failOn never does.
func checkFindings(failOn string, s *pipeline.Summary) error {
	if failOn == "" {
		return nil
	}
	var n int64
	for _, sev := range event.Severities[slices.Index(event.Severities, failOn):] {
		n += s.AlertsBySeverity[sev]
	}
	if n == 0 {
		return nil
	}
	return exitError{exitFindings, fmt.Errorf("%d alerts of severity %s or higher (--fail-on)", n, failOn)}
}

// checkResumed turns a completed resume into exit status 4.
func checkResumed(s *pipeline.Summary) error {
	if s.Resumed == nil {
		return nil
	}
	var skipped int64
	for _, n := range s.Deduplicated {
		skipped += n
	}
	return exitError{exitResumed, fmt.Errorf("resumed run %s (pid %d): %s, %d already written events and alerts skipped; every event and alert is now delivered once", s.Resumed.RunID, s.Resumed.PID, s.Resumed.How(), skipped)}
}

// checkFeedLoss turns alerts a feed did not deliver into exit status 5
// when the input was files; a live capture's feeds are watched through
// their metrics and dead-letter files instead.
func checkFeedLoss(cfg *pipeline.Config, s *pipeline.Summary) error {
	n := s.FeedUndelivered()
	if n == 0 || len(cfg.Ifaces) > 0 || cfg.TapFollow {
		return nil
	}
	return exitError{exitFeedUndelivered, fmt.Errorf("%d alerts not delivered to an alert feed: they are in the dead-letter files named above", n)}
}
