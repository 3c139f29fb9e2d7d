package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/internal/testenv"
)

// reportJSON is the part of mcpwatch report --format json the tests read.
type reportJSON struct {
	Servers []struct {
		ServerKey    string `json:"server_key"`
		Allowlisted  bool   `json:"allowlisted"`
		Grade        string `json:"grade"`
		FailedChecks []struct {
			ID string `json:"id"`
		} `json:"failed_checks"`
		Alerts struct {
			Count int `json:"count"`
		} `json:"alerts"`
	} `json:"servers"`
	Alerts struct {
		Count int `json:"count"`
	} `json:"alerts"`
	Capture []struct {
		Packets int `json:"packets"`
	} `json:"capture"`
}

func decodeReport(t *testing.T, r result) reportJSON {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep reportJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v: %.300s", err, r.stdout)
	}
	return rep
}

// TestReportInputs makes the demo capture's report from the capture, from
// the JSONL files a run wrote, and from ClickHouse after a run stored it:
// the same servers and alerts each time, the shadow server first.
func TestReportInputs(t *testing.T) {
	dir := t.TempDir()
	events, alerts := filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "alerts.jsonl")
	allow := repoFile("demo-allowlist.yaml")
	if r := mcpwatch(t, nil, "run", "--pcap", repoFile("demo.pcap"), "--allowlist", allow, "--events-out", events, "--alerts-out", alerts); r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	fromPcap := decodeReport(t, mcpwatch(t, nil, "report", "--pcap", repoFile("demo.pcap"), "--allowlist", allow, "--format", "json"))
	fromFiles := decodeReport(t, mcpwatch(t, nil, "report", "--events", events, "--alerts", alerts, "--format", "json"))
	// One record stream of events and alerts, as --events-out - --alerts-out - writes it.
	stream := filepath.Join(dir, "records.jsonl")
	if r := mcpwatch(t, nil, "run", "--pcap", repoFile("demo.pcap"), "--allowlist", allow, "--events-out", "-", "--alerts-out", "-"); r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	} else if err := os.WriteFile(stream, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	fromStream := decodeReport(t, mcpwatch(t, nil, "report", "--events", stream, "--format", "json"))

	addr, db := testenv.ClickHouseDatabase(t, "mcpwatch_report")
	if r := mcpwatch(t, nil, "run", "--pcap", repoFile("demo.pcap"), "--allowlist", allow, "--clickhouse", addr, "--clickhouse-database", db); r.code != 0 {
		t.Fatalf("run --clickhouse: exit %d: %s", r.code, r.stderr)
	}
	fromStore := decodeReport(t, mcpwatch(t, nil, "report", "--clickhouse", addr, "--clickhouse-database", db, "--format", "json"))

	for name, rep := range map[string]reportJSON{"pcap": fromPcap, "files": fromFiles, "stream": fromStream, "clickhouse": fromStore} {
		if rep.Alerts.Count != 5 || len(rep.Servers) != 2 {
			t.Errorf("%s: %d alerts, %d servers; want demo.pcap's 5 and 2", name, rep.Alerts.Count, len(rep.Servers))
			continue
		}
		first := rep.Servers[0]
		if first.ServerKey != "http://10.0.0.9:3000/mcp" || first.Allowlisted || first.Alerts.Count != 3 {
			t.Errorf("%s: first server %+v, want the shadow server off the allowlist with 3 alerts", name, first)
		}
		// Posture grades it the same from every input: plaintext, no auth.
		if first.Grade != fromPcap.Servers[0].Grade || first.Grade == "" || len(first.FailedChecks) == 0 {
			t.Errorf("%s: grade %q with failed checks %+v; from the capture %q", name, first.Grade, first.FailedChecks, fromPcap.Servers[0].Grade)
		}
	}
	if len(fromPcap.Capture) != 1 || fromPcap.Capture[0].Packets != 50 || len(fromFiles.Capture) != 0 {
		t.Errorf("capture health from the pcap %+v, from files %+v; want demo.pcap's 50 packets, nothing from files", fromPcap.Capture, fromFiles.Capture)
	}
	one := decodeReport(t, mcpwatch(t, nil, "report", "--clickhouse", addr, "--clickhouse-database", db, "--server", "http://10.0.0.9:3000/mcp", "--format", "json"))
	if len(one.Servers) != 1 || one.Alerts.Count != 3 {
		t.Errorf("--server: %d servers, %d alerts; want 1 and 3", len(one.Servers), one.Alerts.Count)
	}
}

// TestReportOutput writes HTML and Markdown files with -o, and refuses
// what it cannot do with one line on stderr.
func TestReportOutput(t *testing.T) {
	dir := t.TempDir()
	html, md := filepath.Join(dir, "r.html"), filepath.Join(dir, "r.md")
	for _, c := range []struct{ path, format, want string }{
		{html, "html", `data-server="http://10.0.0.9:3000/mcp"`},
		{md, "md", "| http://10.0.0.9:3000/mcp | shadow-db 0.3.1 | **not on allowlist** |"},
	} {
		r := mcpwatch(t, nil, "report", "--pcap", repoFile("demo.pcap"), "--allowlist", repoFile("demo-allowlist.yaml"), "--format", c.format, "-o", c.path)
		if r.code != 0 || r.stdout != "" {
			t.Fatalf("%s: exit %d, stdout %q: %s", c.format, r.code, r.stdout, r.stderr)
		}
		b, err := os.ReadFile(c.path)
		if err != nil || !strings.Contains(string(b), c.want) {
			t.Errorf("%s: %v, want %q in %.200s", c.path, err, c.want, b)
		}
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"report", "--clickhouse", "127.0.0.1:1"}, 1, "127.0.0.1:1"},
		{[]string{"report", "--events", "x.jsonl", "--format", "pdf"}, 2, `--format "pdf": want html, md or json`},
		{[]string{"report", "--pcap", "x.pcap", "--clickhouse", "127.0.0.1:9000"}, 2, "--clickhouse reads stored data"},
		{[]string{"report", "--events", filepath.Join(dir, "missing.jsonl")}, 1, "missing.jsonl"},
	} {
		r := mcpwatch(t, nil, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d with %q", c.args, r.code, r.stderr, c.code, c.want)
		}
	}
}
