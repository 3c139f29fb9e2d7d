package pipeline

// UsageError is a job that could not start because of what it was given: a
// bad setting, rule file or allowlist, no input, or an input that cannot be
// read at all (missing, not a capture file, an interface that cannot be
// opened). cmd/mcpwatch exits with status 2 for it, 1 for failures while
// the job runs.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// usageError wraps a non-nil err as a UsageError.
func usageError(err error) error {
	if err == nil {
		return nil
	}
	return &UsageError{err}
}
