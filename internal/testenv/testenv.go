// Package testenv gives integration tests the external services the test
// command (scripts/test.sh) starts or installs: a NATS server, Debian's
// nats-server 2.9 (the oldest release supported), a ClickHouse server and a
// Chromium browser.
// Under CI a missing service fails the test; elsewhere the test is skipped
// with the command that provides the service.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// NATSURL is the external NATS server (MCPWATCH_TEST_NATS_URL).
func NATSURL(t testing.TB) string {
	t.Helper()
	return require(t, "MCPWATCH_TEST_NATS_URL", `export MCPWATCH_TEST_NATS_URL=$(scripts/nats.sh start "$(mktemp -d)")`)
}

// OldestNATSServer is the path of a nats-server binary of the oldest
// release mcpwatch supports, Debian's 2.9 (MCPWATCH_TEST_NATS_OLDEST_BIN).
func OldestNATSServer(t testing.TB) string {
	t.Helper()
	return require(t, "MCPWATCH_TEST_NATS_OLDEST_BIN", `apt-get install nats-server && export MCPWATCH_TEST_NATS_OLDEST_BIN=/usr/sbin/nats-server`)
}

// StartNATS starts a nats-server of the test's own with scripts/nats.sh —
// the binary at bin, or the current release built from the module cache
// when bin is empty — and returns its URL; it is stopped when the test ends.
func StartNATS(t testing.TB, bin string) string {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(RepoRoot(t), "scripts", "nats.sh")
	cmd := exec.Command(script, "start", dir)
	if bin != "" {
		cmd.Env = append(os.Environ(), "NATS_BIN="+bin)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	t.Cleanup(func() { exec.Command(script, "stop", dir).Run() })
	return strings.TrimSpace(string(out))
}

// RepoRoot is the directory of the repository's go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
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
	msg := env + " is not set; run scripts/test.sh, or start or install the service with\n\t" + start
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Chromium is the path of a Chromium browser (Debian's chromium package;
// MCPWATCH_TEST_CHROMIUM names another), for tests that open pages in a
// real browser.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("MCPWATCH_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return require(t, "MCPWATCH_TEST_CHROMIUM", "apt-get install chromium")
}

// Artefacts is the directory where tests keep what a person may want to
// look at afterwards (screenshots): MCPWATCH_TEST_ARTEFACTS, else a
// directory under the system's temporary directory.
func Artefacts(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("MCPWATCH_TEST_ARTEFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "mcpwatch-test-artefacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ClickHouseDatabase creates a database of the test's own, named
// prefix_<nanoseconds>, on the test ClickHouse and drops it when the test
// ends. It returns the server's address and the database.
func ClickHouseDatabase(t testing.TB, prefix string) (addr, db string) {
	t.Helper()
	addr = ClickHouseAddr(t)
	db = fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}})
	if err != nil {
		t.Fatalf("connect to ClickHouse at %s: %v", addr, err)
	}
	t.Cleanup(func() {
		if err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("drop database %s: %v", db, err)
		}
		conn.Close()
	})
	if err := conn.Exec(context.Background(), "CREATE DATABASE "+db); err != nil {
		t.Fatalf("create database %s: %v", db, err)
	}
	return addr, db
}
