package sink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/mcpwatch/mcpwatch/event"
)

// ClickHouseConfig configures the ClickHouse writer. Zero fields take the
// defaults documented on each; Validate fills them in.
type ClickHouseConfig struct {
	// Addr is host:port of the native protocol (usually port 9000).
	Addr string
	// Database is created if missing. Default "mcpwatch".
	Database string
	// Username defaults to "default"; Password may be empty.
	Username, Password string
	// DialTimeout bounds connecting. Default 5s.
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for the server's answer to one query.
	// Default 60s: a large insert into a busy server takes a while.
	ReadTimeout time.Duration
	// MaxOpenConns caps the connection pool. Default 4.
	MaxOpenConns int
	// RetentionDays, when positive, is how long rows are kept: a table TTL
	// on servers that have TTL (set when a table is created), and
	// DropExpiredPartitions on every server. 0 keeps everything.
	RetentionDays int
}

// Defaults of ClickHouseConfig.
const (
	DefaultClickHouseDatabase = "mcpwatch"
	defaultClickHouseUser     = "default"
	defaultDialTimeout        = 5 * time.Second
	defaultReadTimeout        = 60 * time.Second
	defaultMaxOpenConns       = 4
)

// The database name is spliced into DDL, so it is restricted to what needs no
// quoting rules beyond backquotes.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate fills in defaults and reports the first invalid setting.
func (c *ClickHouseConfig) Validate() error {
	if c.Database == "" {
		c.Database = DefaultClickHouseDatabase
	}
	if c.Username == "" {
		c.Username = defaultClickHouseUser
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = defaultDialTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = defaultReadTimeout
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = defaultMaxOpenConns
	}
	switch {
	case c.Addr == "":
		return errors.New("clickhouse: address (host:port) is required")
	case !identifier.MatchString(c.Database):
		return fmt.Errorf("clickhouse: database name %q: want letters, digits and _", c.Database)
	case c.DialTimeout < 0 || c.ReadTimeout < 0:
		return errors.New("clickhouse: timeouts must not be negative")
	case c.MaxOpenConns < 0:
		return errors.New("clickhouse: max open connections must not be negative")
	case c.RetentionDays < 0:
		return errors.New("clickhouse: retention days must not be negative")
	}
	return nil
}

// ClickHouse writes events and alerts into ClickHouse over the native
// protocol. It is safe for concurrent use.
type ClickHouse struct {
	cfg      ClickHouseConfig
	conn     driver.Conn
	version  serverVersion
	features features
	events   map[event.Kind]table[ev]
	alerts   table[al]
	dead     table[*DeadLetter]
}

var (
	_ Writer           = (*ClickHouse)(nil)
	_ DeadLetterWriter = (*ClickHouse)(nil)
)

// OpenClickHouse connects, detects the server version, creates the database
// if it is missing and applies the schema migrations.
func OpenClickHouse(ctx context.Context, cfg ClickHouseConfig) (*ClickHouse, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := connectClickHouse(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	if err := c.Migrate(ctx); err != nil {
		c.conn.Close()
		return nil, err
	}
	return c, nil
}

// connectClickHouse opens the pool with extra session settings and detects
// the server version.
func connectClickHouse(ctx context.Context, cfg ClickHouseConfig, settings clickhouse.Settings) (*ClickHouse, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol: clickhouse.Native,
		Addr:     []string{cfg.Addr},
		// No default database: it may not exist yet, and every statement
		// names it anyway.
		Auth:         clickhouse.Auth{Username: cfg.Username, Password: cfg.Password},
		Settings:     settings,
		DialContext:  dialBoundedWrites(cfg),
		DialTimeout:  cfg.DialTimeout,
		ReadTimeout:  cfg.ReadTimeout,
		MaxOpenConns: cfg.MaxOpenConns,
		MaxIdleConns: cfg.MaxOpenConns,
		ClientInfo:   clickhouse.ClientInfo{Products: []struct{ Name, Version string }{{Name: "mcpwatch"}}},
	})
	if err != nil {
		return nil, fmt.Errorf("connect to ClickHouse at %s: %w", cfg.Addr, err)
	}
	c := &ClickHouse{cfg: cfg, conn: conn, events: eventTables(), alerts: alertTable(), dead: deadLetterTable()}
	if err := c.detectVersion(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// dialBoundedWrites connects like the driver's default dialer but bounds
// every write by the read timeout. The driver sets no write deadline and
// watches the context only while an INSERT ends, not while it sends its
// earlier blocks (insertBlockRows), so a server that stopped reading would
// otherwise hold the writer forever, context or not.
func dialBoundedWrites(cfg ClickHouseConfig) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: cfg.DialTimeout}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		// Embedding the *net.TCPConn keeps its SyscallConn, which the
		// driver uses to find dead idle connections.
		return &boundedWriteConn{TCPConn: conn.(*net.TCPConn), timeout: cfg.ReadTimeout}, nil
	}
}

type boundedWriteConn struct {
	*net.TCPConn
	timeout time.Duration
}

func (c *boundedWriteConn) Write(p []byte) (int, error) {
	if err := c.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.TCPConn.Write(p)
}

func (c *ClickHouse) detectVersion(ctx context.Context) error {
	var text string
	if err := c.conn.QueryRow(ctx, "SELECT version()").Scan(&text); err != nil {
		return fmt.Errorf("connect to ClickHouse at %s: %w", c.cfg.Addr, err)
	}
	v, err := parseServerVersion(text)
	if err != nil {
		return fmt.Errorf("ClickHouse at %s: %w", c.cfg.Addr, err)
	}
	c.version, c.features = v, featuresOf(v)
	return nil
}

func (c *ClickHouse) schemaParams() schemaParams {
	return schemaParams{database: c.cfg.Database, features: c.features, retentionDays: c.cfg.RetentionDays}
}

// ServerVersion is the server's version() string, e.g. "18.16.1".
func (c *ClickHouse) ServerVersion() string { return c.version.text }

// Database is the database the tables live in.
func (c *ClickHouse) Database() string { return c.cfg.Database }

// Conn is the underlying connection pool, for queries (inventory, alerts).
// Statements must name the database: the pool has no default database.
func (c *ClickHouse) Conn() driver.Conn { return c.conn }

// WriteEvents inserts events into the table of their kind, one INSERT per
// kind present. A batch with an event no table can hold (invalid envelope,
// timestamp or port out of range) is refused whole with ErrBadData before
// anything is sent.
func (c *ClickHouse) WriteEvents(ctx context.Context, evs []*event.Event) error {
	byKind := map[event.Kind][]*event.Event{}
	for _, e := range evs {
		if err := checkEvent(e); err != nil {
			return err
		}
		byKind[e.Kind] = append(byKind[e.Kind], e)
	}
	// Schema order, so a failing batch always fails at the same table.
	for _, k := range event.Kinds {
		for _, rows := range chunkByDay(byKind[k], func(e *event.Event) time.Time { return e.TS }) {
			if err := insert(ctx, c, c.events[k], rows); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteAlerts inserts alerts, refusing the batch with ErrBadData if one of
// them is invalid.
func (c *ClickHouse) WriteAlerts(ctx context.Context, as []*event.Alert) error {
	for _, a := range as {
		if err := checkAlert(a); err != nil {
			return err
		}
	}
	for _, rows := range chunkByDay(as, func(a *event.Alert) time.Time { return a.TS }) {
		if err := insert(ctx, c, c.alerts, rows); err != nil {
			return err
		}
	}
	return nil
}

// maxPartitionsPerInsert stays within max_partitions_per_insert_block
// (default 100 since 19.x): the server refuses an INSERT whose rows span more
// daily partitions, and retrying it would never succeed. Replayed history or
// a sensor with a broken clock can produce such batches.
const maxPartitionsPerInsert = 100

// chunkByDay cuts rows, in order, into chunks that each span at most
// maxPartitionsPerInsert UTC days, the tables' partitions.
func chunkByDay[R any](rows []R, ts func(R) time.Time) [][]R {
	var chunks [][]R
	var cur []R
	days := map[int64]bool{}
	for _, r := range rows {
		day := ts(r).Unix() / 86400
		if !days[day] && len(days) == maxPartitionsPerInsert {
			chunks, cur = append(chunks, cur), nil
			clear(days)
		}
		days[day] = true
		cur = append(cur, r)
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

// WriteDeadLetters inserts into the dead_letters table.
func (c *ClickHouse) WriteDeadLetters(ctx context.Context, dls []*DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	return insert(ctx, c, c.dead, dls)
}

// Close closes the connection pool.
func (c *ClickHouse) Close() error {
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("close ClickHouse connection to %s: %w", c.cfg.Addr, err)
	}
	return nil
}

// insertBlockRows is how many rows an INSERT sends per data block. The
// driver keeps its column buffers from one block of an INSERT to the next, so
// they grow once to a block's size instead of by repeated doubling to the
// whole batch's, which took more client CPU and garbage than converting the
// rows (BenchmarkClickHouseInsert: client µs per row and B/op). The server
// squashes an INSERT's blocks back into one part (up to
// min_insert_block_size_rows, a million by default); an INSERT that fails is
// retried whole, and the ids collapse whatever of it had landed.
const insertBlockRows = 2048

func insert[R any](ctx context.Context, c *ClickHouse, t table[R], rows []R) error {
	batch, err := c.conn.PrepareBatch(ctx, t.insertSQL(c.cfg.Database))
	if err != nil {
		return c.insertError(t.name, len(rows), err)
	}
	values := make([]func([]R) any, len(t.columns))
	for i, col := range t.columns {
		values[i] = col.newValues()
	}
	for start := 0; start < len(rows); start += insertBlockRows {
		end := min(start+insertBlockRows, len(rows))
		for i, col := range t.columns {
			if err := batch.Column(i).Append(values[i](rows[start:end])); err != nil {
				_ = batch.Abort() // the append error is the one worth reporting
				// A Go type the column does not take: the schema and this
				// binary disagree, which no row can fix, so it is not bad data.
				return c.insertError(t.name, len(rows), fmt.Errorf("column %s: %w", col.name, err))
			}
		}
		if end == len(rows) {
			break // Send sends the last block with the end of the INSERT
		}
		if err := batch.Flush(); err != nil {
			_ = batch.Abort() // drops the connection, and the INSERT with it
			return c.insertError(t.name, len(rows), err)
		}
	}
	if err := batch.Send(); err != nil {
		return c.insertError(t.name, len(rows), err)
	}
	return nil
}

func (c *ClickHouse) insertError(table string, n int, err error) error {
	if !errors.Is(err, ErrBadData) && isBadDataException(err) {
		err = fmt.Errorf("%w: %w", err, ErrBadData)
	}
	return fmt.Errorf("insert %d rows into %s.%s at %s: %w", n, c.cfg.Database, table, c.cfg.Addr, err)
}

// isBadDataException reports server exceptions caused by the values sent,
// not by the server's state: retrying the same rows cannot succeed.
func isBadDataException(err error) bool {
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		return false
	}
	// Not TYPE_MISMATCH: over the native protocol it means the block's
	// structure and the table disagree, a schema problem every row shares.
	switch ex.Code {
	case 6, // CANNOT_PARSE_TEXT
		27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
		38,  // CANNOT_PARSE_DATE
		41,  // CANNOT_PARSE_DATETIME
		69,  // ARGUMENT_OUT_OF_BOUND
		70,  // CANNOT_CONVERT_TYPE
		72,  // CANNOT_PARSE_NUMBER
		117, // INCORRECT_DATA
		131, // TOO_LARGE_STRING_SIZE
		190, // SIZES_OF_ARRAYS_DOESNT_MATCH
		321: // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
		return true
	}
	return false
}

// OpenClickHouseReader connects for queries only: it creates nothing, and
// fails with a clear error when the database does not exist or its schema
// is older than this build's (a mistyped name must not read as "no
// data"; `mcpwatch store --migrate-only` brings a schema up to date).
func OpenClickHouseReader(ctx context.Context, cfg ClickHouseConfig) (*ClickHouse, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := connectClickHouse(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	if err := c.checkSchema(ctx); err != nil {
		c.conn.Close()
		return nil, err
	}
	return c, nil
}

// MissingSchemaError is a read-only open of a database that does not exist
// or lacks migrations: a mistyped name, or a store that never ran.
type MissingSchemaError struct{ msg string }

func (e *MissingSchemaError) Error() string { return e.msg }

func (c *ClickHouse) checkSchema(ctx context.Context) error {
	var n uint64
	if err := c.conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = ?", c.cfg.Database).Scan(&n); err != nil {
		return fmt.Errorf("look up database %s on ClickHouse at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	if n == 0 {
		return &MissingSchemaError{fmt.Sprintf("database %s not found on ClickHouse at %s (check --clickhouse-database; `mcpwatch store --migrate-only` creates it)", c.cfg.Database, c.cfg.Addr)}
	}
	if err := c.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = 'schema_migrations'", c.cfg.Database).Scan(&n); err != nil {
		return fmt.Errorf("look up the schema of %s on ClickHouse at %s: %w", c.cfg.Database, c.cfg.Addr, err)
	}
	if n == 0 {
		return &MissingSchemaError{fmt.Sprintf("database %s on ClickHouse at %s has no mcpwatch schema (`mcpwatch store --migrate-only` creates it)", c.cfg.Database, c.cfg.Addr)}
	}
	pending, err := c.pendingMigrations(ctx)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		m := pending[0]
		return &MissingSchemaError{fmt.Sprintf("the schema of %s on ClickHouse at %s lacks migration %03d_%s (`mcpwatch store --migrate-only` applies it)", c.cfg.Database, c.cfg.Addr, m.version, m.name)}
	}
	return nil
}
