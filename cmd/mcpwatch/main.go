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

// exitBadLogRecords is the exit status of a run that read its logs to the
// end but skipped records in them: everything else was delivered.
const exitBadLogRecords = 3

// exitError ends the process with code instead of 1.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// checkLogLoss turns records skipped in logs read to their end into exit
// status 3, after the summary has said which.
func checkLogLoss(s *pipeline.Summary) error {
	if s.BadLogRecordsRead == 0 {
		return nil
	}
	return exitError{exitBadLogRecords, fmt.Errorf("%d log records skipped as bad (see the warnings above); every other record was read and delivered", s.BadLogRecordsRead)}
}

// exitFeedUndelivered is the exit status of a run over files whose alert
// feeds did not deliver every alert: the rest is in their dead-letter files.
const exitFeedUndelivered = 4

// checkFeedLoss turns alerts a feed did not deliver into exit status 4
// when the input was files; a live capture's feeds are watched through
// their metrics and dead-letter files instead.
func checkFeedLoss(cfg *pipeline.Config, s *pipeline.Summary) error {
	n := s.FeedUndelivered()
	if n == 0 || len(cfg.Ifaces) > 0 || cfg.TapFollow {
		return nil
	}
	return exitError{exitFeedUndelivered, fmt.Errorf("%d alerts not delivered to an alert feed : they are in the dead-letter files named above", n)}
}
