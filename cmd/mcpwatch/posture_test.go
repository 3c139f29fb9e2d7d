package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
	"github.com/mcpwatch/mcpwatch/internal/testenv"
)

// newcomerCapture records what the newcomer captured: real go-sdk
// servers, one with OAuth (PRM, audience checks) and a PKCE S256
// authorization server, a gateway that accepts a token minted for another
// server, an open one, and a rug pull.
func newcomerCapture(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := &tcprec.Recorder{}
	conformant := scenario.AuthConformant()
	conformant.Authorize = &scenario.OAuthFlow{PKCEMethod: "S256"}
	conformant.AuthorizationServer.CodeChallengeMethods = []string{"S256"}
	open := scenario.AuthScenario{
		Server:   scenario.AuthServerSpec{Resource: "http://open.corp.example:9200/mcp", As: netip.MustParseAddrPort("10.0.0.33:9200"), Open: true, OmitResourceMetadata: true},
		ClientIP: netip.MustParseAddr("10.0.1.55"),
		Attempts: []scenario.AuthAttempt{{Accepted: true}},
	}
	for _, s := range []scenario.AuthScenario{conformant, scenario.AuthPassthrough(), open} {
		if _, err := scenario.RunAuthScenario(ctx, rec, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := scenario.RunRugPull(ctx, rec); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "newcomer.pcap")
	if err := scenario.WriteCapture(path, rec); err != nil {
		t.Fatal(err)
	}
	return path
}

// scorecardLine is what `posture --json` must print per server.
type scorecardLine struct {
	ServerKey string `json:"server_key"`
	Grade     string `json:"grade"`
	Checks    []struct {
		ID       string   `json:"id"`
		Status   string   `json:"status"`
		Evidence []string `json:"evidence"`
	} `json:"checks"`
}

func parseScorecards(t *testing.T, r result) map[string]scorecardLine {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	out := map[string]scorecardLine{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var sc scorecardLine
		if err := json.Unmarshal([]byte(line), &sc); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out[sc.ServerKey] = sc
	}
	return out
}

func status(sc scorecardLine, id string) string {
	for _, c := range sc.Checks {
		if c.ID == id {
			return c.Status
		}
	}
	return "missing"
}

// TestPostureCommand runs the newcomer's capture through run, then grades
// it from the events file, from the capture itself and from ClickHouse:
// the three agree, and the grades are the expected answers. Then
// it lists the inventory (checkInventoryCommands).
func TestPostureCommand(t *testing.T) {
	addr := testenv.ClickHouseAddr(t)
	db := fmt.Sprintf("mcpwatch_posture_%d", time.Now().UnixNano())
	ch := []string{"--clickhouse", addr, "--clickhouse-database", db}
	pcap := newcomerCapture(t)
	events := filepath.Join(t.TempDir(), "events.jsonl")
	if r := mcpwatch(t, nil, append([]string{"run", "--pcap", pcap, "--events-out", events, "--alerts-out", ""}, ch...)...); r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	fromEvents := parseScorecards(t, mcpwatch(t, nil, "posture", "--events", events, "--json"))
	want := map[string]struct {
		grade string
		check string
		st    string
	}{
		scenario.AuthResource:               {"D", "pkce-s256", "pass"}, // plaintext to 10.0.0.30: D
		scenario.AuthGateway:                {"F", "audience-enforced", "fail"},
		"http://open.corp.example:9200/mcp": {"F", "auth-required", "fail"},
		"http://docs.corp.example:8080/mcp": {"F", "manifest-stable", "fail"},
	}
	if len(fromEvents) != len(want) {
		t.Errorf("%d scorecards, want %d: %v", len(fromEvents), len(want), fromEvents)
	}
	for key, w := range want {
		sc := fromEvents[key]
		if sc.Grade != w.grade || status(sc, w.check) != w.st {
			t.Errorf("%s: grade %s, %s %s; want %s, %s %s", key, sc.Grade, w.check, status(sc, w.check), w.grade, w.check, w.st)
		}
		for _, c := range sc.Checks {
			if (c.Status == "not_observed") != (len(c.Evidence) == 0) {
				t.Errorf("%s: %s %s with evidence %v", key, c.ID, c.Status, c.Evidence)
			}
		}
	}
	if fromPcap := parseScorecards(t, mcpwatch(t, nil, "posture", "--pcap", pcap, "--json")); !sameGrades(fromPcap, fromEvents) {
		t.Errorf("from the capture:\n%v\nfrom the events:\n%v", fromPcap, fromEvents)
	}
	fromCH := parseScorecards(t, mcpwatch(t, nil, append([]string{"posture", "--json", "--save"}, ch...)...))
	if !reflect.DeepEqual(fromCH, fromEvents) {
		t.Errorf("from ClickHouse:\n%v\nfrom the events:\n%v", fromCH, fromEvents)
	}

	one := mcpwatch(t, nil, "posture", "--events", events, scenario.AuthGateway)
	if one.code != 0 || !strings.Contains(one.stdout, "grade F (audience-enforced failed)") || !strings.Contains(one.stdout, "pkce-s256") {
		t.Errorf("posture SERVER:\n%s%s", one.stdout, one.stderr)
	}
	if r := mcpwatch(t, nil, "posture", "--events", events, "http://nowhere.example/mcp"); r.code != exitUsage || !strings.Contains(r.stderr, "no MCP server") {
		t.Errorf("unknown server: exit %d %s", r.code, r.stderr)
	}
	table := mcpwatch(t, nil, "posture", "--events", events)
	if !strings.Contains(table.stdout, "GRADE") || !strings.Contains(table.stdout, "manifest-stable") {
		t.Errorf("posture table:\n%s", table.stdout)
	}
	checkInventoryCommands(t, pcap, events, ch)
}

func sameGrades(a, b map[string]scorecardLine) bool {
	if len(a) != len(b) {
		return false
	}
	for k, sc := range a {
		other, ok := b[k]
		if !ok || sc.Grade != other.Grade || len(sc.Checks) != len(other.Checks) {
			return false
		}
		for i, c := range sc.Checks {
			if c.Status != other.Checks[i].Status {
				return false
			}
		}
	}
	return true
}

// TestReadOnlyCommandsCreateNothing: a mistyped database is an error that
// names it, and is not created.
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	addr := testenv.ClickHouseAddr(t)
	db := fmt.Sprintf("mcpwatch_typo_%d", time.Now().UnixNano())
	for _, command := range []string{"servers", "posture", "alerts", "tools", "clients", "manifests"} {
		r := mcpwatch(t, nil, command, "--clickhouse", addr, "--clickhouse-database", db)
		if r.code != exitUsage || !strings.Contains(r.stderr, "database "+db+" not found") {
			t.Errorf("%s on a missing database: exit %d, %s", command, r.code, r.stderr)
		}
	}
	// Asked again: still not there.
	if r := mcpwatch(t, nil, "servers", "--clickhouse", addr, "--clickhouse-database", db); !strings.Contains(r.stderr, "not found") {
		t.Errorf("the database was created: %s", r.stderr)
	}
}

// checkInventoryCommands lists the newcomer's capture: the PRM fetched
// from its well-known URL counts for the server it names, the gateway's
// accepted audience is another server's, the rug pull shows as manifest
// versions with a diff, and ClickHouse gives the same servers as the file.
func checkInventoryCommands(t *testing.T, pcap, events string, ch []string) {
	type server struct {
		ServerKey         string   `json:"server_key"`
		PRMServed         bool     `json:"prm_served"`
		AuthRequired      bool     `json:"auth_required"`
		AcceptedAudiences []string `json:"accepted_audiences"`
		RefusedAudiences  []string `json:"refused_audiences"`
		AuthServers       []string `json:"authorization_servers"`
	}
	servers := func(args ...string) map[string]server {
		r := mcpwatch(t, nil, append([]string{"servers", "--json"}, args...)...)
		var list []server
		if err := jsonLines(r.stdout, &list); err != nil || r.code != 0 {
			t.Fatalf("servers %v: exit %d, %v\n%s", args, r.code, err, r.stderr)
		}
		out := map[string]server{}
		for _, s := range list {
			out[s.ServerKey] = s
		}
		return out
	}
	fromFile := servers("--events", events)
	secure, gateway := fromFile[scenario.AuthResource], fromFile[scenario.AuthGateway]
	if !secure.PRMServed || !secure.AuthRequired || len(secure.AuthServers) != 1 || secure.AuthServers[0] != scenario.AuthIssuer {
		t.Errorf("conformant server: %+v", secure)
	}
	if len(gateway.AcceptedAudiences) != 1 || gateway.AcceptedAudiences[0] != scenario.AuthResource {
		t.Errorf("gateway accepted audiences %v, want the token minted for %s", gateway.AcceptedAudiences, scenario.AuthResource)
	}
	if fromStore := servers(ch...); !reflect.DeepEqual(fromStore, fromFile) {
		t.Errorf("servers from ClickHouse:\n%+v\nfrom the file:\n%+v", fromStore, fromFile)
	}
	r := mcpwatch(t, nil, "manifests", "--events", events)
	if r.code != 0 || !strings.Contains(r.stdout, "~"+scenario.RedefinedTool) {
		t.Errorf("manifests: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = mcpwatch(t, nil, append([]string{"tools"}, ch...)...)
	if r.code != 0 || !strings.Contains(r.stdout, scenario.RedefinedTool) {
		t.Errorf("tools: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = mcpwatch(t, nil, "clients", "--pcap", pcap)
	if r.code != 0 || !strings.Contains(r.stdout, "secure-agent") {
		t.Errorf("clients: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestAccessLogFeedsInventory: an nginx access log of a revision before
// 2026-07-28 (no Mcp-Method, no bodies) gives sessions only; they make
// inventory rows and raise unexpected-server for the server not on the
// allowlist.
func TestAccessLogFeedsInventory(t *testing.T) {
	dir := t.TempDir()
	events, alerts := filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "alerts.jsonl")
	if r := mcpwatch(t, nil, "tap", "--format", "access-log", "--tap-fields", "nginx", filepath.Join("..", "..", "testdata", "logtap", "demo.nginx-access.jsonl"),
		"--allowlist", repoFile("demo-allowlist.yaml"), "--events-out", events, "--alerts-out", alerts); r.code != 0 {
		t.Fatalf("tap: exit %d %s", r.code, r.stderr)
	}
	r := mcpwatch(t, nil, "servers", "--events", events, "--json")
	var servers []struct {
		ServerKey string   `json:"server_key"`
		Sources   []string `json:"sources"`
	}
	if err := jsonLines(r.stdout, &servers); err != nil || len(servers) != 2 {
		t.Fatalf("servers from the access log: %v %+v\n%s", err, servers, r.stderr)
	}
	for _, s := range servers {
		if len(s.Sources) != 1 || s.Sources[0] != "tap" {
			t.Errorf("%s: sources %v, want [tap]", s.ServerKey, s.Sources)
		}
	}
	// With the allowlist, the file's inventory says what the rule said.
	r = mcpwatch(t, nil, "servers", "--events", events, "--allowlist", repoFile("demo-allowlist.yaml"), "--json")
	var judged []struct {
		ServerKey   string `json:"server_key"`
		Allowlisted *bool  `json:"allowlisted"`
	}
	if err := jsonLines(r.stdout, &judged); err != nil {
		t.Fatal(err)
	}
	for _, s := range judged {
		if want := s.ServerKey != "http://10.0.0.9:3000/mcp"; s.Allowlisted == nil || *s.Allowlisted != want {
			t.Errorf("%s: allowlisted %v, want %v", s.ServerKey, s.Allowlisted, want)
		}
	}
	raw, err := os.ReadFile(alerts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"rule_id":"unexpected-server"`) || !strings.Contains(string(raw), `"server_key":"http://10.0.0.9:3000/mcp"`) {
		t.Errorf("alerts from the access log:\n%s", raw)
	}
}
