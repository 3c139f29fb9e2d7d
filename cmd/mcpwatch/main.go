// Command mcpwatch is the passive MCP sensor and detection pipeline: one
// binary whose subcommands run the stages together (run) or apart.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

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
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// exitBadLogRecords is the exit status of a run that read its logs or
// capture files to the end but skipped bad records in them: everything else
// was delivered.
const exitBadLogRecords = 3

// exitResumed is the exit status of a run that completed after resuming one
// on the same data dir that had stopped before delivering everything: the
// input was replayed and the outputs skipped what they already had, so
// together the runs delivered every event and alert once.
const exitResumed = 4

// exitError ends the process with code instead of 1.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// checkLogLoss turns records skipped in logs read to their end, and
// damaged records skipped in capture files, into exit status 3, and a
// capture file whose reading failed part way into 1, after the summary has
// said which.
func checkLogLoss(s *pipeline.Summary) error {
	if n := len(s.FailedInputs); n > 0 {
		return fmt.Errorf("reading %d input(s) failed part way (see the summary above); what was read before, and the other inputs, were delivered", n)
	}
	if n := len(s.DamagedInputs); n > 0 {
		return exitError{exitBadLogRecords, fmt.Errorf("%d capture file(s) damaged, damaged records skipped (see the summary above); every other record was read and delivered", n)}
	}
	if s.BadLogRecordsRead == 0 {
		return checkResumed(s)
	}
	return exitError{exitBadLogRecords, fmt.Errorf("%d log records skipped as bad (see the warnings above); every other record was read and delivered", s.BadLogRecordsRead)}
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

// exitFeedUndelivered is the exit status of a run over files whose alert
// feeds did not deliver every alert: the rest is in their dead-letter files.
const exitFeedUndelivered = 5

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
