package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Defaults of Config and ConsumerConfig.
const (
	DefaultPartitions       = 16
	DefaultReplicas         = 1
	DefaultMaxAge           = 24 * time.Hour
	DefaultMaxBytes         = 1 << 30
	DefaultPublishAsyncMax  = 4096
	DefaultDuplicateWindow  = 2 * time.Minute
	DefaultPublishTimeout   = 5 * time.Second
	DefaultOutageLimit      = 2 * time.Minute
	DefaultConnectTimeout   = 3 * time.Second
	DefaultPublishLinger    = 20 * time.Millisecond
	DefaultEventsPerMessage = 32
	MaxEventsPerMessage     = 256

	DefaultBatchSize = 256
	DefaultMaxWait   = time.Second
	DefaultAckWait   = 30 * time.Second
)

// Config says where NATS is and how the streams and the publisher behave.
// Zero fields take the defaults above (see WithDefaults).
type Config struct {
	// URL of an external NATS server or cluster (comma-separated seeds). The
	// all-in-one mode passes Embedded.ClientURL.
	URL string
	// Partitions is N in mcpwatch.events.<kind>.<hash(server_key) mod N>.
	Partitions int
	// Replicas of both streams: 1 on a single server, 3 in a cluster.
	// Zero keeps what an existing stream has and creates a new one with
	// DefaultReplicas, so a process started without it does not shrink a
	// cluster's R3 streams.
	Replicas int
	// MaxAge and MaxBytes bound each stream; the oldest messages go first.
	MaxAge   time.Duration
	MaxBytes int64
	// PublishAsyncMax caps unacked publishes; Publish blocks beyond it.
	PublishAsyncMax int
	// DuplicateWindow is how long the streams remember Nats-Msg-Id values.
	// It must cover the longest retry of a publish.
	DuplicateWindow time.Duration
	// PublishTimeout is how long a publish waits for its ack before it is
	// retried.
	PublishTimeout time.Duration
	// PublishRetries is how often a failed publish is retried before it is
	// counted as failed; 0 means without limit: a message is retried until
	// it is stored, the Bus closes or OutageLimit ends the wait.
	PublishRetries int
	// OutageLimit is how long the Bus may wait without any publish being
	// acknowledged while messages are waiting for an ack (NATS unreachable,
	// a stream that cannot store). Past it the Bus fails: every waiting
	// message is counted as failed, Publish and Flush return ErrOutage at
	// once, and WaitDrained gives up once Backlog has failed that long. A
	// publisher blocked on PublishAsyncMax is so never stuck for longer.
	// Default 2m; negative means no limit.
	OutageLimit time.Duration
	// MsgIDScope, when set, is put in front of every Nats-Msg-Id, so the
	// stream's duplicate window drops the retries of this scope only.
	// `mcpwatch run` names each run so: a run that replays the input of an
	// interrupted one must have every event stored again for its own
	// consumers, and deduplicates at its outputs instead.
	MsgIDScope string
	// LocalEvents hands events to this process's own ConsumeEvents in
	// memory instead of through the events stream (bus/local.go): for a
	// job whose one events consumer runs in the publishing process, with a
	// server nobody else can reach. Alerts still go through their stream.
	// The consumer gets the published *event.Event itself, so a publisher
	// must not change an event once it is published.
	LocalEvents bool
	// InProcess, when set, connects to an in-process server (Embedded)
	// without a network listener; URL is then only a name for errors.
	InProcess nats.InProcessConnProvider
	// Auth is how the Bus proves who it is to an external server and
	// checks the server's certificate.
	Auth Auth
	// ConnectTimeout bounds the first connection attempt.
	ConnectTimeout time.Duration
	// EventsPerMessage is how many events of one subject share a JetStream
	// message at most (1..MaxEventsPerMessage; 1 sends each alone).
	EventsPerMessage int
	// PublishLinger is how long an event may wait for others of its subject
	// to share its message. It adds at most that much latency; under load
	// messages fill up before it passes.
	PublishLinger time.Duration
	// Logger receives malformed-message and retry logs; nil means
	// slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.PublishAsyncMax == 0 {
		c.PublishAsyncMax = DefaultPublishAsyncMax
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.OutageLimit == 0 {
		c.OutageLimit = DefaultOutageLimit
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.EventsPerMessage == 0 {
		c.EventsPerMessage = DefaultEventsPerMessage
	}
	if c.PublishLinger == 0 {
		c.PublishLinger = DefaultPublishLinger
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first invalid field of c after defaults are applied.
func (c *Config) Validate() error {
	d := c.WithDefaults()
	switch {
	case d.URL == "" && d.InProcess == nil:
		return errors.New("bus config: no NATS URL (start the embedded server or set one)")
	case d.Partitions < 1 || d.Partitions > 1024:
		return fmt.Errorf("bus config: partitions %d, want 1..1024", d.Partitions)
	case d.Replicas < 0 || d.Replicas > 5:
		return fmt.Errorf("bus config: replicas %d, want 1..5", d.Replicas)
	case d.MaxAge < 0:
		return fmt.Errorf("bus config: max age %s is negative", d.MaxAge)
	case d.MaxBytes < 0:
		return fmt.Errorf("bus config: max bytes %d is negative", d.MaxBytes)
	case d.PublishAsyncMax < 1:
		return fmt.Errorf("bus config: publish async max %d, want ≥ 1", d.PublishAsyncMax)
	case d.DuplicateWindow < 0 || (d.MaxAge > 0 && d.DuplicateWindow > d.MaxAge):
		return fmt.Errorf("bus config: duplicate window %s, want 0..max age %s", d.DuplicateWindow, d.MaxAge)
	case d.PublishTimeout < 0:
		return fmt.Errorf("bus config: publish timeout %s is negative", d.PublishTimeout)
	case d.PublishRetries < 0:
		return fmt.Errorf("bus config: publish retries %d is negative", d.PublishRetries)
	case d.MsgIDScope != "" && strings.ContainsAny(d.MsgIDScope, " \t\r\n"):
		return fmt.Errorf("bus config: message id scope %q has white space", d.MsgIDScope)
	case d.ConnectTimeout < 0:
		return fmt.Errorf("bus config: connect timeout %s is negative", d.ConnectTimeout)
	case d.EventsPerMessage < 1 || d.EventsPerMessage > MaxEventsPerMessage:
		return fmt.Errorf("bus config: events per message %d, want 1..%d", d.EventsPerMessage, MaxEventsPerMessage)
	case d.PublishLinger < 0 || d.PublishLinger > time.Second:
		return fmt.Errorf("bus config: publish linger %s, want 0..1s", d.PublishLinger)
	}
	return d.Auth.validate()
}

// ConsumerConfig describes one durable pull consumer. Processes sharing a
// durable must pass the same values.
type ConsumerConfig struct {
	// Durable names the consumer; it survives restarts and is shared by every
	// process that uses the same name.
	Durable string
	// FilterSubjects restricts the consumer to these subjects (see
	// EventSubjects, AlertSubjects); empty means the whole stream.
	FilterSubjects []string
	// BatchSize is about the most events handed to one handler call: the
	// consumer fetches as many messages as, at the events per message seen so
	// far, hold that many events (at most EventsPerMessage times more).
	BatchSize int
	// MaxWait is how long a fetch waits for a first message when none is
	// waiting; waiting messages are handed over at once, up to BatchSize.
	MaxWait time.Duration
	// AckWait is how long the server waits for an ack before redelivering to
	// any process sharing the durable; handlers running longer keep their
	// messages alive.
	AckWait time.Duration
	// MaxDeliver caps deliveries per message; 0 means unlimited, so a
	// downstream outage never drops events.
	MaxDeliver int
	// StartAt, when set, starts a new durable at the messages stored since
	// then instead of everything the stream retains; StartSeq at that
	// stream sequence (see NextSeq). They apply only when the durable is
	// created; an existing durable goes on where it is. The server stamps
	// messages with a clock that may lag by a fraction of a second, so a
	// job that must see everything it publishes itself uses StartSeq.
	StartAt  time.Time
	StartSeq uint64
}

// WithDefaults returns c with zero fields set to their defaults.
func (c ConsumerConfig) WithDefaults() ConsumerConfig {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	return c
}

// Validate reports the first invalid field of c after defaults are applied.
func (c *ConsumerConfig) Validate() error {
	d := c.WithDefaults()
	switch {
	case d.Durable == "" || !validToken(d.Durable):
		return fmt.Errorf("consumer config: durable name %q must be a non-empty token without spaces, dots or wildcards", d.Durable)
	case d.BatchSize < 1:
		return fmt.Errorf("consumer %s: batch size %d, want ≥ 1", d.Durable, d.BatchSize)
	case d.MaxWait < 10*time.Millisecond:
		return fmt.Errorf("consumer %s: max wait %s, want ≥ 10ms", d.Durable, d.MaxWait)
	case d.AckWait < time.Second/2:
		return fmt.Errorf("consumer %s: ack wait %s, want ≥ 500ms", d.Durable, d.AckWait)
	case d.MaxDeliver < 0:
		return fmt.Errorf("consumer %s: max deliver %d is negative", d.Durable, d.MaxDeliver)
	case !d.StartAt.IsZero() && d.StartSeq > 0:
		return fmt.Errorf("consumer %s: both a start time and a start sequence", d.Durable)
	}
	return nil
}
