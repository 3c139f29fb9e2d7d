package logtap

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Format is the kind of log a Reader reads.
type Format string

// Formats.
const (
	// FormatEnvoyTap is Envoy HTTP tap output (envoy.data.tap.v3
	// TraceWrapper): buffered traces and streamed trace segments, as one
	// JSON document per file (file_per_tap), concatenated documents or
	// JSON lines; bodies as_bytes (base64) or as_string.
	FormatEnvoyTap Format = "envoy-tap"
	// FormatHAR is an HTTP Archive 1.2 file (browsers, mitmproxy, Charles,
	// Fiddler).
	FormatHAR Format = "har"
	// FormatAccessLog is a header-only JSON access log, one object per
	// line (Envoy json_format, nginx log_format escape=json), read through
	// Config.AccessLogFields.
	FormatAccessLog Format = "access-log"
)

// Formats lists the formats a Reader understands, for flag help.
func Formats() []Format { return []Format{FormatEnvoyTap, FormatHAR, FormatAccessLog} }

// Defaults for Config.
const (
	DefaultMaxBodyBytes    = 16 << 20
	DefaultMaxRecordBytes  = 64 << 20
	DefaultMaxConns        = 10_000
	DefaultMaxOpenTraces   = 10_000
	DefaultConnIdleTimeout = 10 * time.Minute
	DefaultReorderWindow   = 5 * time.Second
	DefaultMaxReorder      = 10_000
	DefaultPollInterval    = 250 * time.Millisecond
	DefaultCheckpointEvery = 1000
)

// Config configures a Reader and Follow. The zero value of a field means
// its default.
type Config struct {
	Format Format
	// MaxBodyBytes caps the body kept per request or response (after
	// base64 and content-encoding are removed); longer bodies are cut and
	// flagged Truncated, BodyLen still counting every byte. It is also the
	// inflate cap, so a compression bomb costs no more than the cap.
	MaxBodyBytes int64
	// MaxRecordBytes caps one JSON record (a tap trace, a HAR entry, an
	// access-log line). A longer record is skipped without being buffered
	// and counted as a bad record.
	MaxRecordBytes int64
	// AccessLogFields maps access-log JSON keys to HTTP fields; the zero
	// value means EnvoyAccessLogFields.
	AccessLogFields FieldMap
	// ConnIdleTimeout ends a synthetic connection that has had no record
	// for this long in log time. It is longer than decode's session idle
	// timeout so that a quiet session ends for idleness, as on the wire,
	// rather than for its connection closing.
	ConnIdleTimeout time.Duration
	// MaxConns caps the synthetic connections open at once; beyond it the
	// least recently used one ends with capture.ConnEndEvicted.
	MaxConns int
	// ReorderWindow is how long (log time) an exchange is held so that
	// exchanges are handed on in the order they started, not the order the
	// proxy logged them (at completion); see reorder.go. Negative turns
	// reordering off.
	ReorderWindow time.Duration
	// MaxReorder caps the exchanges held for reordering; beyond it the
	// earliest is handed on at once.
	MaxReorder int
	// MaxOpenTraces caps Envoy streamed traces being assembled at once;
	// beyond it the oldest is delivered as it stands, flagged Truncated.
	MaxOpenTraces int
	// OnBadRecord, when set, is called for every record that is skipped.
	// Bad records are counted in Stats either way.
	OnBadRecord func(BadRecord)

	// PollInterval is how often Follow looks for appended data, rotation
	// and truncation once it has caught up.
	PollInterval time.Duration
	// CheckpointEvery is how many records Follow hands on between
	// checkpoints; it also checkpoints whenever it catches up and when it
	// stops.
	CheckpointEvery int
	// Flush, when set, is called by Follow before each checkpoint is
	// written, so that whatever the Handler buffers downstream (events not
	// yet acknowledged by the bus) is delivered before the checkpoint says
	// the records are done. An error stops Follow without checkpointing.
	Flush func(ctx context.Context) error
}

// BadRecord describes a skipped record.
type BadRecord struct {
	Name   string // input name given to NewReader, or the followed path
	Line   int    // line of the record's first byte, from 1
	Offset int64  // byte offset of the record's first byte
	Err    error
	// Panicked is set when reading the record, or handing on its
	// exchange, panicked; Record is the record as read when it is at hand
	// (a record that could not be parsed), for a reproducer; it is valid
	// only during the OnBadRecord call.
	Panicked bool
	Record   []byte
}

func (b BadRecord) String() string { return fmt.Sprintf("%s:%d: %v", b.Name, b.Line, b.Err) }

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.AccessLogFields.empty() {
		c.AccessLogFields = EnvoyAccessLogFields()
	}
	if c.ConnIdleTimeout == 0 {
		c.ConnIdleTimeout = DefaultConnIdleTimeout
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.ReorderWindow == 0 {
		c.ReorderWindow = DefaultReorderWindow
	}
	if c.MaxReorder == 0 {
		c.MaxReorder = DefaultMaxReorder
	}
	if c.MaxOpenTraces == 0 {
		c.MaxOpenTraces = DefaultMaxOpenTraces
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = DefaultCheckpointEvery
	}
	return c
}

// Validate reports every field out of range, after defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	switch c.Format {
	case FormatEnvoyTap, FormatHAR, FormatAccessLog:
	default:
		errs = append(errs, fmt.Errorf("logtap config: unknown format %q (want %v)", c.Format, Formats()))
	}
	if c.MaxBodyBytes < 0 || c.MaxRecordBytes < 0 || c.MaxConns < 0 || c.MaxOpenTraces < 0 || c.MaxReorder < 0 || c.CheckpointEvery < 0 {
		errs = append(errs, fmt.Errorf("logtap config: negative limit (body %d, record %d, conns %d, traces %d, reorder %d, checkpoint every %d)",
			c.MaxBodyBytes, c.MaxRecordBytes, c.MaxConns, c.MaxOpenTraces, c.MaxReorder, c.CheckpointEvery))
	}
	if c.ConnIdleTimeout < 0 || c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("logtap config: negative duration (conn idle %s, poll %s)", c.ConnIdleTimeout, c.PollInterval))
	}
	if c.Format == FormatAccessLog {
		if err := c.AccessLogFields.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
