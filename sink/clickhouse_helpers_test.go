package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// testClickHouseAddr is the server integration tests write to. CI must
// provide one: a missing server there is a failure, never a skip.
func testClickHouseAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("MCPWATCH_TEST_CLICKHOUSE")
	if addr != "" {
		return addr
	}
	const how = `MCPWATCH_TEST_CLICKHOUSE (host:port) is not set; start a server with
	export MCPWATCH_TEST_CLICKHOUSE=$(scripts/clickhouse.sh start "$(mktemp -d)")`
	if os.Getenv("CI") != "" {
		t.Fatal(how)
	}
	t.Skip(how)
	return ""
}

// openTestClickHouse opens a writer on a fresh database of its own, dropped
// when the test ends, so tests may run against a shared server.
func openTestClickHouse(t testing.TB) *ClickHouse {
	t.Helper()
	c, err := OpenClickHouse(context.Background(), ClickHouseConfig{Addr: testClickHouseAddr(t), Database: testDatabaseName(t)})
	if err != nil {
		t.Fatal(err)
	}
	dropTestDatabaseAtCleanup(t, c)
	return c
}

func dropTestDatabaseAtCleanup(t testing.TB, c *ClickHouse) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(c.Database())); err != nil {
			t.Errorf("drop test database: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
}

func testDatabaseName(t testing.TB) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("mcpwatch_test_%s_%s", name, hex.EncodeToString(b[:]))
}

// queryUint64 runs a query returning one UInt64 (count(), uniqExact()).
func queryUint64(t testing.TB, c *ClickHouse, query string) uint64 {
	t.Helper()
	var n uint64
	if err := c.conn.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
