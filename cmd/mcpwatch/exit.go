package main

import (
	"errors"
	"strings"

	"github.com/mcpwatch/mcpwatch/pipeline"
)

// Exit statuses, the same for every command (README, "Exit status"). When
// several apply, the first of 1, 2, 3, 5, 6, 4 is given.
const (
	// exitFailure: a failure stopped the job (NATS or ClickHouse gone past
	// their limits, events lost, a file whose reading failed part way).
	exitFailure = 1
	// exitUsage: the job could not start with what it was given: a bad
	// command line, flag, config, rule file or allowlist, no input, or an
	// input that cannot be read at all.
	exitUsage = 2
	// exitBadLogRecords: the inputs were read to their end but damaged
	// capture records, a capture file cut short, or bad log records were
	// skipped; everything else was delivered.
	exitBadLogRecords = 3
	// exitResumed: the run completed after resuming one on the same data
	// dir that had stopped before delivering everything; together the runs
	// delivered every event and alert once.
	exitResumed = 4
	// exitFeedUndelivered: over files, an alert feed did not deliver every
	// alert; the rest is in its dead-letter file.
	exitFeedUndelivered = 5
	// exitFindings: --fail-on SEVERITY, and alerts of that severity or
	// higher were raised (a CI gate).
	exitFindings = 6
)

// exitError ends the process with code instead of 1.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// usage marks err as a usage error (exit status 2).
func usage(err error) error { return exitError{exitUsage, err} }

// exitStatus is the status the process ends with after err.
func exitStatus(err error) int {
	var ee exitError
	var ue *pipeline.UsageError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		return exitUsage
	// cobra's own errors for a command line it cannot place are untyped.
	case strings.HasPrefix(err.Error(), "unknown command "), strings.HasPrefix(err.Error(), "unknown flag"):
		return exitUsage
	}
	return exitFailure
}
