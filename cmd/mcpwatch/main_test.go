package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
)

// mcpwatchBin is the binary under test, built once in TestMain, so exit codes
// and stderr are checked exactly as a user sees them.
var mcpwatchBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mcpwatch-bin-")
	if err != nil {
		panic(err)
	}
	mcpwatchBin = filepath.Join(dir, "mcpwatch")
	build := exec.Command("go", "build", "-o", mcpwatchBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("build mcpwatch: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func mcpwatch(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(mcpwatchBin, args...)
	cmd.Env = append(os.Environ(), "MCPWATCH_TOKEN_KEY_FILE="+filepath.Join(t.TempDir(), "token.key"))
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, stdout.String(), stderr.String()}
}

func repoFile(name string) string { return filepath.Join("..", "..", "testdata", name) }

func TestDemoRunPrintsServersAndAlert(t *testing.T) {
	r := mcpwatch(t, nil, "run", "--pcap", repoFile("demo.pcap"), "--allowlist", repoFile("demo-allowlist.yaml"))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"http://files.corp.example:8080/mcp", "files 1.4.0", "2025-11-25", "http://10.0.0.9:3000/mcp", "shadow-db 0.3.1", "2025-06-18", "unexpected-server"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stderr)
		}
	}
	var unexpected []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		a, err := event.DecodeAlert([]byte(line))
		if err != nil {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		if a.RuleID == "unexpected-server" {
			unexpected = append(unexpected, a.ServerKey)
		}
	}
	if len(unexpected) != 1 || unexpected[0] != "http://10.0.0.9:3000/mcp" {
		t.Errorf("unexpected-server alerts on stdout for %v, want exactly shadow-db", unexpected)
	}
}

// Each bad input gives one line naming the problem and the exit status of
// the table in exit.go: 2 when the job could not start with what it was
// given, 1 when it failed while running.
func TestBadInputOneLineErrors(t *testing.T) {
	dir := t.TempDir()
	notPcap := filepath.Join(dir, "notes.txt")
	os.WriteFile(notPcap, []byte("this is not a capture file\n"), 0o644)
	badAllow := filepath.Join(dir, "allow.yaml")
	os.WriteFile(badAllow, []byte("servers: [\n"), 0o644)
	cases := []struct {
		name string
		env  []string
		args []string
		want string
		code int
	}{
		{"missing file", nil, []string{"run", "--pcap", filepath.Join(dir, "nope.pcap")}, "nope.pcap", exitUsage},
		{"missing positional file", nil, []string{"run", filepath.Join(dir, "nope.pcap")}, "nope.pcap", exitUsage},
		{"not a pcap", nil, []string{"run", "--pcap", notPcap}, "not a pcap", exitUsage},
		{"no input", nil, []string{"run"}, "--pcap", exitUsage},
		{"unknown flag", nil, []string{"run", "--pcpa", "x"}, "unknown flag: --pcpa", exitUsage},
		{"bad flag value", nil, []string{"run", "--pcap", repoFile("demo.pcap"), "--port", "70000"}, "--port 70000", exitUsage},
		{"unknown severity", nil, []string{"run", "--pcap", repoFile("demo.pcap"), "--fail-on", "severe"}, "--fail-on", exitUsage},
		{"unknown command", nil, []string{"rnu"}, "unknown command", exitUsage},
		{"log of another format", nil, []string{"tap", "--format", "access-log", repoFile("logtap/demo.har")}, "is a har log, not access-log", exitUsage},
		{"log of no format", nil, []string{"tap", notPcap}, "cannot tell its log format", exitUsage},
		{"no command", nil, nil, "a command is required", exitUsage},
		{"extra argument", nil, []string{"version", "x"}, "unknown command", exitUsage},
		{"unreachable NATS", nil, []string{"run", "--pcap", repoFile("demo.pcap"), "--nats", "nats://127.0.0.1:1"}, "NATS", exitFailure},
		{"unreachable ClickHouse", nil, []string{"run", "--pcap", repoFile("demo.pcap"), "--clickhouse", "127.0.0.1:1"}, "ClickHouse", exitFailure},
		{"broken allowlist", nil, []string{"run", "--pcap", repoFile("demo.pcap"), "--allowlist", badAllow}, "allow.yaml", exitUsage},
		{"bad env value", []string{"MCPWATCH_LOG_LEVEL=loud"}, []string{"run", "--pcap", repoFile("demo.pcap")}, "log-level", exitUsage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mcpwatch(t, c.env, c.args...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, c.code, r.stderr)
			}
			// One line says what is wrong; a missing command prints the
			// help before it, a mistyped one suggestions after it.
			var errLines []string
			for _, l := range strings.Split(r.stderr, "\n") {
				if strings.HasPrefix(l, "mcpwatch: ") {
					errLines = append(errLines, l)
				}
			}
			if len(errLines) != 1 || !strings.Contains(errLines[0], c.want) {
				t.Errorf("want one line 'mcpwatch: …' naming %q, got:\n%s", c.want, r.stderr)
			}
		})
	}
}

// tap tells each file's format from its content: a HAR file and an Envoy
// tap trace given together, without --format, give the events each gives
// with its format named.
func TestTapSniffsFormat(t *testing.T) {
	count := func(args ...string) string {
		r := mcpwatch(t, nil, append([]string{"tap", "--alerts-out", ""}, args...)...)
		if r.code != 0 {
			t.Fatalf("tap %v: exit %d\n%s", args, r.code, r.stderr)
		}
		return r.stderr[strings.Index(r.stderr, "events:"):][:60]
	}
	har, envoy := repoFile("logtap/demo.har"), repoFile("logtap/demo.envoy-buffered.json")
	if got, want := count(har), count("--format", "har", har); got != want {
		t.Errorf("sniffed HAR: %q, with --format har: %q", got, want)
	}
	if got, want := count(envoy), count("--format", "envoy-tap", envoy); got != want || !strings.Contains(got, "message=") {
		t.Errorf("sniffed Envoy tap: %q, with --format envoy-tap: %q", got, want)
	}
}

// A capture cut short inside its last record is read up to the cut and
// ends with status 3, as damaged records do, naming the file.
func TestTruncatedPcapExits3(t *testing.T) {
	data, err := os.ReadFile(repoFile("demo.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	os.WriteFile(cut, data[:len(data)*2/3], 0o644)
	r := mcpwatch(t, nil, "run", "--pcap", cut, "--alerts-out", "")
	if r.code != exitBadLogRecords {
		t.Fatalf("exit %d, want %d for a truncated pcap:\n%s", r.code, exitBadLogRecords, r.stderr)
	}
	if !strings.Contains(r.stderr, "damaged input: "+cut) || !strings.Contains(r.stderr, "files.corp.example") {
		t.Errorf("want the file named and the servers seen before the cut:\n%s", r.stderr)
	}
}

// --fail-on gates on the severities of the alerts raised: the demo capture
// raises high alerts (unexpected-server) and no critical one.
func TestFailOn(t *testing.T) {
	for sev, code := range map[string]int{"": 0, "high": exitFindings, "critical": 0} {
		r := mcpwatch(t, nil, "run", repoFile("demo.pcap"), "--allowlist", repoFile("demo-allowlist.yaml"), "--alerts-out", "", "--fail-on", sev)
		if r.code != code || code == exitFindings && !strings.Contains(r.stderr, "or higher (--fail-on)") {
			t.Errorf("--fail-on %q: exit %d, want %d\n%s", sev, r.code, code, r.stderr)
		}
	}
}

func TestConfigFileAndEnv(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	cfg := filepath.Join(dir, "mcpwatch.yaml")
	os.WriteFile(cfg, []byte("pcap: ["+repoFile("demo.pcap")+"]\nevents-out: "+events+"\n"), 0o644)
	r := mcpwatch(t, []string{"MCPWATCH_ALERTS_OUT="}, "run", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("MCPWATCH_ALERTS_OUT= should silence alerts on stdout, got:\n%s", r.stdout)
	}
	if fi, err := os.Stat(events); err != nil || fi.Size() == 0 {
		t.Errorf("events-out from the config file not written: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("pcaps: [x]\n"), 0o644)
	if r := mcpwatch(t, nil, "run", "--config", bad); r.code == 0 || !strings.Contains(r.stderr, `"pcaps"`) {
		t.Errorf("unknown config key accepted: exit %d\n%s", r.code, r.stderr)
	}
}

// A broken rule file stops the process before anything starts, with every
// problem named by file and line.
func TestBrokenRuleFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(`rules:
  - id: x
    name: X
    description: d
    severity: high
    category: c
    type: match
    condition: kind == "message" && bogus_field > 3
  - id: y
    name: Y
    description: d
    severity: loud
    category: c
    type: match
    condition: kind == "message"
`), 0o644)
	r := mcpwatch(t, nil, "run", "--pcap", repoFile("demo.pcap"), "--rules", dir)
	if r.code == 0 {
		t.Fatal("started with a broken rule file")
	}
	for _, want := range []string{"bad.yaml:8: rule \"x\"", "bogus_field", "bad.yaml:12: rule \"y\"", "severity \"loud\""} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "packets:") {
		t.Error("the run went ahead")
	}
	if lint := mcpwatch(t, nil, "rules", "lint", dir); lint.code == 0 || !strings.Contains(lint.stdout, "bad.yaml:8") {
		t.Errorf("rules lint: exit %d\n%s", lint.code, lint.stdout)
	}
}

// The built-in pack exported to a directory lints and runs as --rules; an
// extra pack on top of it turns a rule off (its alerts go) and its lint
// catches a disable of an unknown id.
func TestRulesExportAndExtra(t *testing.T) {
	dir := t.TempDir()
	pack := filepath.Join(dir, "pack")
	if r := mcpwatch(t, nil, "rules", "export", pack); r.code != 0 {
		t.Fatalf("export: exit %d\n%s", r.code, r.stderr)
	}
	if r := mcpwatch(t, nil, "rules", "export", pack); r.code != exitUsage {
		t.Errorf("export into a non-empty directory: exit %d, want %d", r.code, exitUsage)
	}
	if r := mcpwatch(t, nil, "rules", "lint", pack); r.code != 0 || !strings.Contains(r.stdout, "no problems") {
		t.Errorf("lint of the exported pack: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	site := filepath.Join(dir, "site")
	os.Mkdir(site, 0o755)
	os.WriteFile(filepath.Join(site, "site.yaml"), []byte("disable: [unexpected-server]\n"), 0o644)
	args := []string{"run", repoFile("demo.pcap"), "--allowlist", repoFile("demo-allowlist.yaml"), "--alerts-out", "", "--rules", pack}
	if r := mcpwatch(t, nil, args...); !strings.Contains(r.stderr, "unexpected-server") {
		t.Fatalf("the exported pack raises no unexpected-server alert:\n%s", r.stderr)
	}
	if r := mcpwatch(t, nil, append(args, "--rules-extra", site)...); r.code != 0 || strings.Contains(r.stderr, "unexpected-server") {
		t.Errorf("with the rule disabled: exit %d\n%s", r.code, r.stderr)
	}
	os.WriteFile(filepath.Join(site, "site.yaml"), []byte("disable: [unexpected-servr]\n"), 0o644)
	if r := mcpwatch(t, nil, "rules", "lint", "--extra", site); r.code != exitFailure || !strings.HasPrefix(r.stdout, filepath.Join(site, "site.yaml")+`: disable "unexpected-servr"`) {
		t.Errorf("lint of a misspelt disable: exit %d\n%s", r.code, r.stdout)
	}
	if r := mcpwatch(t, nil, "rules", "lint", filepath.Join(dir, "nope")); r.code != exitUsage || !strings.Contains(r.stderr, "no such file or directory") {
		t.Errorf("lint of a missing directory: exit %d\n%s", r.code, r.stderr)
	}
}

// --summary-json writes what the text summary says as one JSON object of
// kind "summary", for scripts.
func TestSummaryJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "summary.json")
	r := mcpwatch(t, nil, "run", repoFile("demo.pcap"), "--allowlist", repoFile("demo-allowlist.yaml"), "--alerts-out", "", "--summary-json", path)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var s struct {
		Kind     string           `json:"kind"`
		Packets  int64            `json:"packets"`
		Sessions int64            `json:"sessions"`
		Events   map[string]int64 `json:"events"`
		Servers  []struct {
			ServerKey string `json:"server_key"`
			Messages  int64  `json:"messages"`
		} `json:"servers"`
		AlertsBySeverity map[string]int64 `json:"alerts_by_severity"`
	}
	if err := json.Unmarshal([]byte(readFile(t, path)), &s); err != nil {
		t.Fatal(err)
	}
	if s.Kind != "summary" || !strings.Contains(r.stderr, fmt.Sprintf("packets: %d ", s.Packets)) ||
		!strings.Contains(r.stderr, fmt.Sprintf("MCP sessions: %d ", s.Sessions)) || len(s.Servers) != 2 || s.AlertsBySeverity["high"] == 0 {
		t.Errorf("summary JSON %+v does not say what the text summary says:\n%s", s, r.stderr)
	}
}
