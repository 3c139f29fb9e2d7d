// Package testenv gives integration tests the external services the test
// command (scripts/test.sh) starts: a NATS server and a ClickHouse server.
// Under CI a missing service fails the test; elsewhere the test is skipped
// with the command that starts the service.
package testenv

import (
	"os"
	"testing"
)

// NATSURL is the external NATS server (MCPWATCH_TEST_NATS_URL).
func NATSURL(t testing.TB) string {
	t.Helper()
	return require(t, "MCPWATCH_TEST_NATS_URL", `export MCPWATCH_TEST_NATS_URL=$(scripts/nats.sh start "$(mktemp -d)")`)
}

// ClickHouseAddr is the ClickHouse server's native host:port
// (MCPWATCH_TEST_CLICKHOUSE).
func ClickHouseAddr(t testing.TB) string {
	t.Helper()
	return require(t, "MCPWATCH_TEST_CLICKHOUSE", `export MCPWATCH_TEST_CLICKHOUSE=$(scripts/clickhouse.sh start "$(mktemp -d)")`)
}

func require(t testing.TB, env, start string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	msg := env + " is not set; run scripts/test.sh, or start the service with\n\t" + start
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
