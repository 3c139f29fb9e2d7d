package pipeline

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// End-to-end scenarios: real go-sdk servers and clients play an attack (or
// its harmless twin), the recording goes through the whole pipeline, and the
// test asserts every alert raised.

// scenarioAllowlist approves every scenario server (they sit in
// 10.0.0.0/24), so unexpected-server stays out of the way.
const scenarioAllowlist = "servers:\n  - 10.0.0.0/24\n"

// record plays a scenario into a fresh Recorder and writes the pcap to a
// temp dir.
func record(t *testing.T, play func(context.Context, *tcprec.Recorder) error) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rec := &tcprec.Recorder{}
	if err := play(ctx, rec); err != nil {
		t.Fatal(err)
	}
	return writePcap(t, rec)
}

func writePcap(t *testing.T, rec *tcprec.Recorder) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scenario.pcap")
	if err := scenario.WriteCapture(path, rec); err != nil {
		t.Fatal(err)
	}
	return path
}

// analyse runs the pipeline on pcap with the given allowlist file content
// and returns its configuration (for the events file) and alerts. It runs
// it again with two capture shards, which must give the same alerts: the
// shards' events reach detect in the order of the input.
func analyse(t *testing.T, pcap, allowlist string) (Config, []*event.Alert) {
	t.Helper()
	var cfgs []Config
	var alerts [][]*event.Alert
	tokenKey := filepath.Join(t.TempDir(), "token.key") // token ids are alert groups
	for _, shards := range []int{1, 2} {
		cfg := testConfig(t, pcap)
		cfg.CaptureShards = shards
		cfg.TokenKeyFile = tokenKey
		cfg.AllowlistPath = filepath.Join(t.TempDir(), "scenario-allow.yaml")
		if err := os.WriteFile(cfg.AllowlistPath, []byte(allowlist), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, cfg)
		alerts = append(alerts, readAlerts(t, cfg.AlertsOut))
	}
	if one, two := alertIDs(alerts[0]), alertIDs(alerts[1]); !slices.Equal(one, two) {
		t.Errorf("alerts with 1 shard:\n%v\nwith 2 shards:\n%v", one, two)
	}
	return cfgs[0], alerts[0]
}

// alertIDs lists the rule and id of every alert, sorted.
func alertIDs(as []*event.Alert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.RuleID + " " + a.AlertID
	}
	slices.Sort(out)
	return out
}

// plaintextRule alerts on every scenario server by construction: scenarios
// speak plain HTTP to addresses that are not loopback. The scenario tests
// assert the alerts of every other rule.
const plaintextRule = "plaintext-transport"

// alertWant is what a scenario asserts of every alert: the rule and its
// subject. Session ids are random per recording, so only whether the alert
// names a session is compared.
type alertWant struct {
	rule, server, client, tool string
	count                      int64
	session                    bool
}

func (w alertWant) String() string {
	return fmt.Sprintf("%s server=%s client=%s tool=%s count=%d session=%v", w.rule, w.server, w.client, w.tool, w.count, w.session)
}

func wantOf(a *event.Alert) alertWant {
	return alertWant{rule: a.RuleID, server: a.ServerKey, client: a.ClientAddress, tool: a.ToolName, count: a.Count, session: a.SessionID != ""}
}

// assertAlerts checks that the alerts, apart from plaintextRule's, are
// exactly want, in any order.
func assertAlerts(t *testing.T, alerts []*event.Alert, want ...alertWant) {
	t.Helper()
	var got, wanted []string
	for _, a := range alerts {
		if a.RuleID != plaintextRule {
			got = append(got, wantOf(a).String())
		}
	}
	for _, w := range want {
		wanted = append(wanted, w.String())
	}
	slices.Sort(got)
	slices.Sort(wanted)
	if !slices.Equal(got, wanted) {
		t.Errorf("alerts differ\ngot:\n%swant:\n%s", lines(got), lines(wanted))
	}
}

// assertAttributes checks some attributes of the only alert of rule.
func assertAttributes(t *testing.T, alerts []*event.Alert, rule string, want map[string]string) {
	t.Helper()
	a := alertOf(t, alerts, rule)
	for k, v := range want {
		if a.Attributes[k] != v {
			t.Errorf("%s: attribute %s = %q, want %q", rule, k, a.Attributes[k], v)
		}
	}
}

// alertOf returns the only alert of rule, failing the test when there is
// not exactly one.
func alertOf(t *testing.T, alerts []*event.Alert, rule string) *event.Alert {
	t.Helper()
	var found []*event.Alert
	for _, a := range alerts {
		if a.RuleID == rule {
			found = append(found, a)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s alerts, want 1", len(found), rule)
	}
	return found[0]
}

func playAuth(s scenario.AuthScenario) func(context.Context, *tcprec.Recorder) error {
	return func(ctx context.Context, rec *tcprec.Recorder) error {
		_, err := scenario.RunAuthScenario(ctx, rec, s)
		return err
	}
}

// TestScenarioAuth plays clients against go-sdk servers behind
// auth.RequireBearerToken and asserts the auth rules: each attack raises
// its alert and nothing else, the conformant client raises nothing.
func TestScenarioAuth(t *testing.T) {
	const secure = "http://secure.corp.example:9000/mcp"
	cases := []struct {
		name     string
		scenario scenario.AuthScenario
		want     []alertWant
		// attributes are checked on the alert of the rule named by the key.
		attributes map[string]map[string]string
	}{
		{
			name:     "conformant client: 401, PRM, token for the server",
			scenario: scenario.AuthConformant(),
		},
		{
			// One token, so credential-stuffing stays quiet; the challenges
			// name the PRM, so missing-resource-metadata does too.
			name:     "client retrying a revoked token 12 times",
			scenario: scenario.AuthRetryLoop(12),
			want:     []alertWant{{rule: "auth-failure-burst", server: secure, client: "10.0.1.51", count: 10}},
		},
		{
			// Six refusals are fewer than the burst threshold of ten.
			name:     "six different stolen tokens",
			scenario: scenario.CredentialStuffing(6),
			want:     []alertWant{{rule: "credential-stuffing", server: secure, count: 5}},
		},
		{
			name:     "401 without resource_metadata, PRM document missing",
			scenario: scenario.AuthWithoutResourceMetadata(),
			want:     []alertWant{{rule: "missing-resource-metadata", server: secure, client: "10.0.1.53"}},
			attributes: map[string]map[string]string{
				"missing-resource-metadata": {"auth_event": "challenge", "www_authenticate": `Bearer scope="files:read"`},
			},
		},
		{
			name:     "gateway accepting a token minted for another server",
			scenario: scenario.AuthPassthrough(),
			want:     []alertWant{{rule: "token-audience-accepted", server: scenario.AuthGateway, client: "10.0.1.54", session: true}},
			attributes: map[string]map[string]string{
				"token-audience-accepted": {"token_aud": secure, "token_iss": scenario.AuthIssuer, "token_client_id": "dyn-client-1", "outcome": "accepted", "http_status": "200"},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pcap := record(t, playAuth(c.scenario))
			_, alerts := analyse(t, pcap, scenarioAllowlist)
			assertAlerts(t, alerts, c.want...)
			for rule, attrs := range c.attributes {
				assertAttributes(t, alerts, rule, attrs)
			}
		})
	}
}

// TestScenarioBulkResourceRead has a go-sdk client read a 100 KB and then a
// 20 MiB text resource in one session, with the server answering in either
// framing go-sdk offers. The 20 MiB response is oversized and brings the
// session's resource output over the bulk-tool-output threshold; the 100 KB
// one raises nothing.
func TestScenarioBulkResourceRead(t *testing.T) {
	const server = "http://exports.corp.example:8080/mcp"
	for _, framing := range []struct {
		name string
		json bool
	}{
		// Over capture's MaxBodyBytes (16 MiB) an SSE event is cut; its
		// message event must still count every byte (SSEEvent.DataLen), as
		// one from a cut JSON body counts BodyLen, or bulk-tool-output
		// sees 16 MiB of the 20.
		{"SSE (go-sdk default)", false},
		{"JSON", true},
	} {
		t.Run(framing.name, func(t *testing.T) {
			spec := scenario.BulkServer
			spec.Options.JSONResponse = framing.json
			var log *scenario.Log
			pcap := record(t, func(ctx context.Context, rec *tcprec.Recorder) (err error) {
				log, err = scenario.RunBulkRead(ctx, rec, spec)
				return err
			})
			// The SDK's log says how many bytes each response had.
			msgs, err := log.Messages()
			if err != nil {
				t.Fatal(err)
			}
			var readBytes, bigResponse int64
			for _, m := range msgs {
				if m.Direction == "s2c" && m.Method == "resources/read" {
					readBytes += int64(len(m.Raw))
					bigResponse = max(bigResponse, int64(len(m.Raw)))
				}
			}
			cfg, alerts := analyse(t, pcap, scenarioAllowlist)
			assertAlerts(t, alerts,
				alertWant{rule: "oversized-response", server: server, client: scenario.BulkClient.IP.String(), session: true},
				alertWant{rule: "bulk-tool-output", server: server, count: readBytes, session: true})
			if t.Failed() {
				return
			}
			// Its evidence shows which response was oversized: the 20 MiB
			// one, not the 100 KB one before it.
			oversized := alertOf(t, alerts, "oversized-response")
			evidence := map[string]bool{}
			for _, id := range oversized.EvidenceEventIDs {
				evidence[id] = true
			}
			var found bool
			for _, ev := range readEvents(t, cfg.EventsOut) {
				if evidence[ev.EventID] {
					found = true
					if ev.ResourceURI != scenario.BulkExportURI || ev.Bytes != bigResponse {
						t.Errorf("oversized-response evidence: %s response of %d bytes, want %s of %d", ev.ResourceURI, ev.Bytes, scenario.BulkExportURI, bigResponse)
					}
				}
			}
			if !found {
				t.Errorf("oversized-response evidence %v is no event of the run", oversized.EvidenceEventIDs)
			}
		})
	}
}

// TestScenarioRugPull replays a go-sdk server that redefines a read-only
// tool as destructive and adds a poisoned tool mid-session, announced with
// notifications/tools/list_changed. First without a pin, then with the
// first manifest and its tools pinned, as an operator approving the server
// from the first run's inventory would.
func TestScenarioRugPull(t *testing.T) {
	const server = "http://docs.corp.example:8080/mcp"
	pcap := record(t, scenario.RunRugPull)
	client := scenario.RugPullClient.IP.String()
	changes := []alertWant{
		// search_docs is called before anything changes.
		{rule: "unauthenticated-server", server: server, client: client, tool: scenario.RedefinedTool, session: true},
		{rule: "manifest-changed", server: server, client: client, session: true},
		{rule: "tool-became-destructive", server: server, client: client, session: true},
		{rule: "tool-poisoning", server: server, client: client, session: true},
	}

	cfg, alerts := analyse(t, pcap, scenarioAllowlist)
	var manifests []*event.Event
	for _, ev := range readEvents(t, cfg.EventsOut) {
		if ev.Kind == event.KindManifest {
			manifests = append(manifests, ev)
		}
	}
	if len(manifests) != 2 || manifests[0].AfterListChanged || !manifests[1].AfterListChanged ||
		manifests[0].ToolCount != 2 || manifests[1].ToolCount != 3 {
		t.Fatalf("want two manifests (2 tools, then 3 after list_changed), got %d: %+v", len(manifests), manifests)
	}
	first, second := manifests[0].ManifestHash, manifests[1].ManifestHash
	// Without a pin, the pin rules have nothing to compare with.
	assertAlerts(t, alerts, changes...)
	assertAttributes(t, alerts, "manifest-changed", map[string]string{"previous": first, "current": second, "after_list_changed": "true"})
	assertAttributes(t, alerts, "tool-became-destructive", map[string]string{"tools": scenario.RedefinedTool})
	assertAttributes(t, alerts, "tool-poisoning", map[string]string{"tools": scenario.PoisonedTool})

	pinned := fmt.Sprintf("servers:\n  - server: %s\n    manifest: %s\n    tools: [search_docs, read_file]\n", server, first)
	_, alerts = analyse(t, pcap, pinned)
	assertAlerts(t, alerts, append(changes,
		alertWant{rule: "manifest-pin-mismatch", server: server, client: client, session: true},
		alertWant{rule: "unapproved-tool", server: server, client: client, tool: scenario.PoisonedTool, session: true})...)
	assertAttributes(t, alerts, "manifest-pin-mismatch", map[string]string{"pinned": first})
}

// TestScenarioSessionHijack replays a go-sdk session whose Mcp-Session-Id
// is used from a second address while a bystander holds its own session
// with the same server: one session-hijack alert, for the victim's session.
func TestScenarioSessionHijack(t *testing.T) {
	const server = "http://notes.corp.example:8080/mcp"
	var victimSession string
	pcap := record(t, func(ctx context.Context, rec *tcprec.Recorder) (err error) {
		victimSession, err = scenario.RunSessionHijack(ctx, rec)
		return err
	})
	_, alerts := analyse(t, pcap, scenarioAllowlist)
	attacker, victim := scenario.HijackAttacker.String(), scenario.HijackVictim.IP.String()
	assertAlerts(t, alerts,
		// The victim's first tool call, without credentials.
		alertWant{rule: "unauthenticated-server", server: server, client: victim, tool: "search_docs", session: true},
		// The attacker's request: its address and the tool it called.
		alertWant{rule: "session-hijack", server: server, client: attacker, tool: "read_file", session: true})
	assertAttributes(t, alerts, "session-hijack", map[string]string{"previous": victim, "current": attacker})
	if a := alertOf(t, alerts, "session-hijack"); a.SessionID != victimSession {
		t.Errorf("session-hijack names session %q, want the victim's %q", a.SessionID, victimSession)
	}
}

// TestScenarioTransportPosture replays go-sdk sessions over every protocol
// revision mcpwatch tells apart, to a server on loopback and to servers on
// the network: legacy-protocol for the revisions before 2025-06-18, and
// plaintext-transport and unauthenticated-server only off loopback.
func TestScenarioTransportPosture(t *testing.T) {
	local := scenario.Conversation{
		Server: scenario.ServerSpec{Name: "local-tools", Version: "0.1.0", As: netip.MustParseAddrPort("127.0.0.1:8931"), Host: "localhost:8931", Path: "/mcp"},
		Client: scenario.ClientSpec{Name: "claude-code", Version: "2.1.0", IP: netip.MustParseAddr("127.0.0.1"), ProtocolVersion: "2025-11-25", DisableStandaloneSSE: true},
	}
	streamable := []scenario.Conversation{local}
	for i, version := range []string{"2025-03-26", "2025-06-18"} {
		streamable = append(streamable, scenario.Conversation{
			Server: scenario.ServerSpec{Name: "wiki", Version: "1.0.0", As: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(47 + i)}), 8080), Path: "/mcp"},
			Client: scenario.ClientSpec{Name: "cursor", Version: "1.7.2", IP: netip.AddrFrom4([4]byte{10, 0, 1, byte(93 + i)}), ProtocolVersion: version, DisableStandaloneSSE: true},
		})
	}
	sse := scenario.Conversation{
		Server: scenario.ServerSpec{Name: "wiki", Version: "0.9.0", As: netip.MustParseAddrPort("10.0.0.49:8080"), Path: "/sse"},
		Client: scenario.ClientSpec{Name: "old-agent", Version: "0.5", IP: netip.MustParseAddr("10.0.1.95"), ProtocolVersion: "2024-11-05"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := scenario.Run(ctx, streamable)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scenario.RunLegacy(ctx, res.Recorder, sse); err != nil {
		t.Fatal(err)
	}
	_, alerts := analyse(t, writePcap(t, res.Recorder), scenarioAllowlist+"  - http://localhost:8931/mcp\n")

	var want []alertWant
	var plaintext, wantPlaintext []string
	for _, c := range []scenario.Conversation{streamable[1], streamable[2], sse} {
		server, client := "http://"+c.Server.As.String()+c.Server.Path, c.Client.IP.String()
		wantPlaintext = append(wantPlaintext, server)
		// DemoConversation's first call is to search_docs.
		want = append(want, alertWant{rule: "unauthenticated-server", server: server, client: client, tool: "search_docs", session: true})
		if c.Client.ProtocolVersion < "2025-06-18" {
			want = append(want, alertWant{rule: "legacy-protocol", server: server, client: client, session: true})
		}
	}
	for _, a := range alerts {
		if a.RuleID == plaintextRule {
			plaintext = append(plaintext, a.ServerKey)
		}
	}
	assertAlerts(t, alerts, want...)
	slices.Sort(plaintext)
	slices.Sort(wantPlaintext)
	if !slices.Equal(plaintext, wantPlaintext) {
		t.Errorf("plaintext-transport alerts for %v, want %v", plaintext, wantPlaintext)
	}
}

// TestScenarioBaitAndSwitch replays a go-sdk server that shows a reviewer
// the clean tools and the next client poisoned ones.
func TestScenarioBaitAndSwitch(t *testing.T) {
	const server = "http://helper.corp.example:8080/mcp"
	pcap := record(t, scenario.RunBaitAndSwitch)
	_, alerts := analyse(t, pcap, scenarioAllowlist)
	user := scenario.BaitUser.IP.String()
	var want []alertWant
	// The user's manifest differs from the reviewer's as the rug pull's
	// second manifest does from its first.
	for _, rule := range []string{"manifest-bait-and-switch", "manifest-changed", "tool-became-destructive", "tool-poisoning"} {
		want = append(want, alertWant{rule: rule, server: server, client: user, session: true})
	}
	assertAlerts(t, alerts, want...)
	assertAttributes(t, alerts, "manifest-bait-and-switch", map[string]string{"other_client_address": scenario.Reviewer.IP.String()})
}
