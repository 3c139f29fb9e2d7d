package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/mcpwatch/mcpwatch/event"
)

func TestClickHouseMigrateIsIdempotent(t *testing.T) {
	c := openTestClickHouse(t) // first pass, on an empty database
	ctx := context.Background()
	if err := c.Migrate(ctx); err != nil {
		t.Fatalf("second migration pass: %v", err)
	}
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	db := quoteIdent(c.Database())
	if got := queryUint64(t, c, "SELECT uniqExact(version) FROM "+db+".schema_migrations"); got != uint64(len(ms)) {
		t.Errorf("schema_migrations has %d versions, want %d", got, len(ms))
	}
	if got := queryUint64(t, c, "SELECT count() FROM "+db+".schema_migrations FINAL"); got != uint64(len(ms)) {
		t.Errorf("schema_migrations has %d rows after FINAL, want %d: a pass re-recorded applied migrations", got, len(ms))
	}
	var tables []string
	rows, err := c.conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ? ORDER BY name", c.Database())
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	for _, want := range []string{"alerts", "auth", "flows", "manifests", "messages", "schema_migrations", "sessions"} {
		if !slices.Contains(tables, want) {
			t.Errorf("table %s missing; have %v", want, tables)
		}
	}
}

func TestClickHouseWritesEveryColumn(t *testing.T) {
	c := openTestClickHouse(t)
	ctx := context.Background()
	evs := sampleEvents(0)
	als := sampleAlerts(0)
	if err := c.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteAlerts(ctx, als); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		checkStoredRow(t, c, c.events[e.Kind], "event_id", e.EventID, e)
	}
	for _, a := range als {
		checkStoredRow(t, c, c.alerts, "alert_id", a.AlertID, a)
	}
	// The inventory views and the posture read LowCardinality columns.
	if servers, err := c.Servers(ctx); err != nil || len(servers) == 0 {
		t.Errorf("servers on a LowCardinality schema: %d, %v", len(servers), err)
	}
	if _, err := c.Clients(ctx); err != nil {
		t.Error(err)
	}
	if _, err := c.Manifests(ctx); err != nil {
		t.Error(err)
	}
	if cards, err := c.AssessPosture(ctx); err != nil || len(cards) == 0 {
		t.Errorf("posture on a LowCardinality schema: %d, %v", len(cards), err)
	}
}

// A server that stops reading makes a write fail after the timeout instead
// of holding the writer for ever.
func TestClickHouseWritesTimeOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- c // and never read from
		}
	}()
	dial := dialBoundedWrites(ClickHouseConfig{DialTimeout: time.Second, ReadTimeout: 100 * time.Millisecond})
	conn, err := dial(context.Background(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer func() { (<-accepted).Close() }()
	block := make([]byte, 1<<20)
	for start := time.Now(); time.Since(start) < 10*time.Second; {
		if _, err := conn.Write(block); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("write: %v, want a deadline error", err)
			}
			return
		}
	}
	t.Error("writes to a peer that reads nothing did not time out in 10s")
}

// An INSERT larger than one data block (insertBlockRows) is sent in several
// blocks: every row of every block must arrive, each in its own columns.
func TestClickHouseWritesBatchesOfSeveralBlocks(t *testing.T) {
	c := openTestClickHouse(t)
	evs := benchEvents(2*insertBlockRows + 100)
	if err := c.WriteEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	perTable := map[string]uint64{}
	for _, e := range evs {
		perTable[c.events[e.Kind].name]++
	}
	for tbl, want := range perTable {
		if got := queryUint64(t, c, fmt.Sprintf("SELECT uniqExact(event_id) FROM %s.%s", quoteIdent(c.Database()), tbl)); got != want {
			t.Errorf("%s: %d distinct ids, want %d", tbl, got, want)
		}
	}
	for _, e := range []*event.Event{evs[0], evs[insertBlockRows], evs[len(evs)-1]} {
		checkStoredRow(t, c, c.events[e.Kind], "event_id", e.EventID, e)
	}
}

func TestClickHouseRedeliveryLeavesOneRowPerID(t *testing.T) {
	c := openTestClickHouse(t)
	ctx := context.Background()
	evs := append(sampleEvents(0), sampleEvents(1)...)
	als := sampleAlerts(0)
	for range 2 {
		if err := c.WriteEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteAlerts(ctx, als); err != nil {
			t.Fatal(err)
		}
	}
	db := quoteIdent(c.Database())
	perTable := map[string]uint64{"alerts": uint64(len(als))}
	for _, e := range evs {
		perTable[c.events[e.Kind].name]++
	}
	for tbl, want := range perTable {
		id := "event_id"
		if tbl == "alerts" {
			id = "alert_id"
		}
		if got := queryUint64(t, c, fmt.Sprintf("SELECT uniqExact(%s) FROM %s.%s", id, db, tbl)); got != want {
			t.Errorf("%s: %d distinct ids, want %d", tbl, got, want)
		}
		if got := queryUint64(t, c, fmt.Sprintf("SELECT count() FROM %s.%s FINAL", db, tbl)); got != want {
			t.Errorf("%s: %d rows with FINAL, want %d", tbl, got, want)
		}
		// After a merge the duplicates are gone from storage too, which is
		// what keeps redelivery from inflating the tables.
		if err := c.conn.Exec(ctx, fmt.Sprintf("OPTIMIZE TABLE %s.%s FINAL", db, tbl)); err != nil {
			t.Fatal(err)
		}
		if got := queryUint64(t, c, fmt.Sprintf("SELECT count() FROM %s.%s", db, tbl)); got != want {
			t.Errorf("%s: %d rows after merge, want %d", tbl, got, want)
		}
	}
}

func TestClickHouseRefusesRowsItCannotHold(t *testing.T) {
	c := openTestClickHouse(t)
	ctx := context.Background()
	mutations := map[string]func(*event.Event){
		"ts after 2106":  func(e *event.Event) { e.TS = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC) },
		"ts before 1970": func(e *event.Event) { e.TS = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) },
		"port too large": func(e *event.Event) { e.ServerPort = 70000 },
		"unknown kind":   func(e *event.Event) { e.Kind = "telepathy" },
		"no event_id":    func(e *event.Event) { e.EventID = "" },
	}
	for name, mutate := range mutations {
		t.Run(name, func(t *testing.T) {
			evs := sampleEvents(2)
			mutate(evs[len(evs)-1])
			err := c.WriteEvents(ctx, evs)
			if !errors.Is(err, ErrBadData) {
				t.Fatalf("WriteEvents = %v, want ErrBadData", err)
			}
		})
	}
	// The batch is refused before anything is sent.
	if n := queryUint64(t, c, "SELECT count() FROM "+quoteIdent(c.Database())+".messages"); n != 0 {
		t.Errorf("%d messages stored from refused batches", n)
	}

	bad := sampleAlerts(0)
	bad[1].Severity = "apocalyptic"
	if err := c.WriteAlerts(ctx, bad); !errors.Is(err, ErrBadData) {
		t.Errorf("WriteAlerts with an unknown severity = %v, want ErrBadData", err)
	}
}

func TestOpenClickHouseUnreachable(t *testing.T) {
	// Port 1 on loopback: nothing listens there, so the dial is refused.
	_, err := OpenClickHouse(context.Background(), ClickHouseConfig{Addr: "127.0.0.1:1", DialTimeout: 2 * time.Second})
	if err == nil {
		t.Fatal("OpenClickHouse succeeded against a closed port")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "connect to ClickHouse at 127.0.0.1:1: ") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line starting with %q", msg, "connect to ClickHouse at 127.0.0.1:1: ")
	}
}

// checkStoredRow reads back the row with the given id and checks every column
// of t against the field of the same name in the schema's JSON encoding of
// want: column names are schema names, so this catches a field written to the
// wrong column as well as a value that does not survive storage.
func checkStoredRow[R any](t *testing.T, c *ClickHouse, tbl table[R], idCol, id string, want R) {
	t.Helper()
	names := make([]string, len(tbl.columns))
	dest := make([]any, len(tbl.columns))
	var zero []R
	for i, col := range tbl.columns {
		names[i] = quoteIdent(col.name)
		elem := reflect.TypeOf(col.newValues()(zero)).Elem()
		dest[i] = reflect.New(elem).Interface()
	}
	q := fmt.Sprintf("SELECT %s FROM %s.%s FINAL WHERE %s = ?", strings.Join(names, ", "), quoteIdent(c.Database()), tbl.name, idCol)
	if err := c.conn.QueryRow(context.Background(), q, id).Scan(dest...); err != nil {
		t.Fatalf("read back %s %s: %v", tbl.name, id, err)
	}
	raw, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for i, col := range tbl.columns {
		got := reflect.ValueOf(dest[i]).Elem().Interface()
		exp, err := expectedColumn(col.name, fields)
		if err != nil {
			t.Errorf("%s.%s: %v", tbl.name, col.name, err)
			continue
		}
		if !sameValue(got, exp) {
			t.Errorf("%s %s: column %s = %#v, want %#v", tbl.name, id, col.name, got, exp)
		}
	}
}

// expectedColumn derives a column's value from the schema JSON of a row.
func expectedColumn(name string, fields map[string]any) (any, error) {
	switch {
	case strings.HasSuffix(name, "_ns"):
		base, _ := fields[strings.TrimSuffix(name, "_ns")].(string)
		if base == "" {
			return uint64(0), nil
		}
		ts, err := time.Parse(time.RFC3339Nano, base)
		return uint64(ts.UnixNano()), err
	case strings.HasPrefix(name, "tools."):
		tools, _ := fields["tools"].([]any)
		out := []any{}
		for _, tool := range tools {
			out = append(out, tool.(map[string]any)[strings.TrimPrefix(name, "tools.")])
		}
		return out, nil
	case name == "attributes.key" || name == "attributes.value":
		attrs, _ := fields["attributes"].(map[string]any)
		keys := make([]string, 0, len(attrs))
		for k := range attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := []any{}
		for _, k := range keys {
			if name == "attributes.key" {
				out = append(out, k)
			} else {
				out = append(out, attrs[k])
			}
		}
		return out, nil
	}
	return fields[name], nil
}

// sameValue compares a scanned column value with a JSON value: absent JSON
// means the column default, booleans are 0/1, timestamps are compared to the
// second a DateTime holds.
func sameValue(got, want any) bool {
	switch g := got.(type) {
	case time.Time:
		if want == nil {
			return g.Unix() == 0
		}
		ts, err := time.Parse(time.RFC3339Nano, want.(string))
		return err == nil && g.Unix() == ts.Unix()
	case string:
		w, _ := want.(string)
		return g == w
	case []string:
		w, _ := want.([]any)
		if len(g) != len(w) {
			return false
		}
		for i := range g {
			if g[i] != w[i] {
				return false
			}
		}
		return true
	case []uint8:
		w, _ := want.([]any)
		if len(g) != len(w) {
			return false
		}
		for i := range g {
			if !sameValue(g[i], w[i]) {
				return false
			}
		}
		return true
	}
	g := reflect.ValueOf(got)
	if w, ok := want.(uint64); ok { // nanoseconds: exact, beyond float64's precision
		return g.CanUint() && g.Uint() == w
	}
	// Numbers (JSON float64) and booleans.
	var gf float64
	switch {
	case g.CanInt():
		gf = float64(g.Int())
	case g.CanUint():
		gf = float64(g.Uint())
	case g.CanFloat():
		gf = g.Float()
	default:
		return false
	}
	switch w := want.(type) {
	case nil:
		return gf == 0
	case bool:
		return (gf == 1) == w && (gf == 0 || gf == 1)
	case float64:
		return gf == w
	}
	return false
}

// The LowCardinality variant of the schema, which servers from 19.3 get, on
// 18.16 where the type exists behind a setting: the DDL applies and every
// column still round-trips through the driver.
func TestClickHouseLowCardinalitySchema(t *testing.T) {
	cfg := ClickHouseConfig{Addr: testClickHouseAddr(t), Database: testDatabaseName(t)}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := connectClickHouse(ctx, cfg, clickhouse.Settings{"allow_experimental_low_cardinality_type": 1})
	if err != nil {
		t.Fatal(err)
	}
	dropTestDatabaseAtCleanup(t, c)
	c.features.lowCardinality = true
	if err := c.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var typ string
	if err := c.conn.QueryRow(ctx, "SELECT type FROM system.columns WHERE database = ? AND table = 'messages' AND name = 'method'", c.Database()).Scan(&typ); err != nil {
		t.Fatal(err)
	}
	if typ != "LowCardinality(String)" {
		t.Fatalf("messages.method is %s, want LowCardinality(String)", typ)
	}
	evs, als := sampleEvents(0), sampleAlerts(0)
	if err := c.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteAlerts(ctx, als); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		checkStoredRow(t, c, c.events[e.Kind], "event_id", e.EventID, e)
	}
	for _, a := range als {
		checkStoredRow(t, c, c.alerts, "alert_id", a.AlertID, a)
	}
}

func TestChunkByDayKeepsInsertsUnderThePartitionLimit(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 23, 59, 0, 0, time.UTC)
	var evs []*event.Event
	for i := range 250 { // 250 days, each twice
		for range 2 {
			e := *sampleEvents(0)[0]
			e.TS = t0.AddDate(0, 0, i)
			evs = append(evs, &e)
		}
	}
	chunks := chunkByDay(evs, func(e *event.Event) time.Time { return e.TS })
	total := 0
	for _, c := range chunks {
		days := map[string]bool{}
		for _, e := range c {
			days[e.TS.Format("20060102")] = true
			if e != evs[total] {
				t.Fatalf("row %d out of order", total)
			}
			total++
		}
		if len(days) > maxPartitionsPerInsert {
			t.Errorf("chunk spans %d days, limit %d", len(days), maxPartitionsPerInsert)
		}
	}
	if total != len(evs) || len(chunks) != 3 {
		t.Errorf("%d rows in %d chunks, want %d in 3", total, len(chunks), len(evs))
	}
}
