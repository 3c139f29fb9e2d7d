// Package testenv gives integration tests the external services the test
// command (scripts/test.sh) starts or installs: a NATS server, Debian's
// nats-server 2.9 (the oldest release supported) and a ClickHouse server.
// Under CI a missing service fails the test; elsewhere the test is skipped
// with the command that provides the service.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
	msg := env + " is not set; run scripts/test.sh, or provide it with\n\t" + start
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
