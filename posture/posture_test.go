package posture_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
	"github.com/mcpwatch/mcpwatch/pipeline"
	"github.com/mcpwatch/mcpwatch/posture"
)

// Every scorecard here comes from real traffic: captures of go-sdk servers
// and clients checked in under testdata/decode, or go-sdk servers deployed
// the ways the checks grade (internal/scenario), recorded and decoded as
// the sensor does.

// decodePcap decodes a capture as the sensor does.
func decodePcap(t *testing.T, path string) []*event.Event {
	t.Helper()
	var evs []*event.Event
	if err := pipeline.DecodeCapture(context.Background(), path, "test", func(ev *event.Event) { evs = append(evs, ev) }); err != nil {
		t.Fatal(err)
	}
	return evs
}

// recordAuth plays auth scenarios against real go-sdk servers, one after
// the other into one capture, and decodes it.
func recordAuth(t *testing.T, scenarios ...scenario.AuthScenario) []*event.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := &tcprec.Recorder{}
	for _, s := range scenarios {
		if _, err := scenario.RunAuthScenario(ctx, rec, s); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "posture.pcap")
	if err := scenario.WriteCapture(path, rec); err != nil {
		t.Fatal(err)
	}
	return decodePcap(t, path)
}

func assess(evs []*event.Event) map[string]posture.Scorecard {
	a := posture.NewAssessor(posture.Config{})
	for _, ev := range evs {
		a.Observe(ev)
	}
	out := map[string]posture.Scorecard{}
	for _, sc := range a.Scorecards() {
		out[sc.ServerKey] = sc
	}
	return out
}

func statuses(sc posture.Scorecard) map[string]posture.Status {
	out := map[string]posture.Status{}
	for _, c := range sc.Checks {
		out[c.ID] = c.Status
	}
	return out
}

// expect checks the grade and the listed statuses of server's scorecard,
// and that every decided check names evidence that is one of evs about
// that server (or its PRM, authorization server) and nothing else.
func expect(t *testing.T, evs []*event.Event, server, grade string, want map[string]posture.Status) posture.Scorecard {
	t.Helper()
	sc, ok := assess(evs)[server]
	if !ok {
		t.Fatalf("no scorecard for %s", server)
	}
	got := statuses(sc)
	for id, st := range want {
		if got[id] != st {
			t.Errorf("%s: %s = %s, want %s", server, id, got[id], st)
		}
	}
	if sc.Grade != grade {
		t.Errorf("%s: grade %s (%v), want %s", server, sc.Grade, sc.GradeReasons, grade)
	}
	ids := map[string]bool{}
	for _, ev := range evs {
		ids[ev.EventID] = true
	}
	for _, c := range sc.Checks {
		if (c.Status == posture.NotObserved) != (len(c.Evidence) == 0) {
			t.Errorf("%s: %s is %s with evidence %v", server, c.ID, c.Status, c.Evidence)
		}
		for _, id := range c.Evidence {
			if !ids[id] {
				t.Errorf("%s: %s evidence %s is no event of the input", server, c.ID, id)
			}
		}
	}
	return sc
}

func byID(evs []*event.Event) map[string]*event.Event {
	m := map[string]*event.Event{}
	for _, ev := range evs {
		m[ev.EventID] = ev
	}
	return m
}

func check(sc posture.Scorecard, id string) posture.Result {
	for _, c := range sc.Checks {
		if c.ID == id {
			return c
		}
	}
	panic("no check " + id)
}

const (
	pass = posture.Pass
	fail = posture.Fail
	none = posture.NotObserved
)

// The recorded OAuth flow (testdata/decode/gosdk-auth.pcap): a go-sdk
// server behind auth.RequireBearerToken with its PRM handler, an
// authorization server, a client that is refused without a token, reads
// the PRM and the authorization server's metadata, authorizes with PKCE
// S256 and resource=, is refused with a token for another audience and
// with too little scope, and works with its token. Everything passes but
// plaintext HTTP to a server that is not loopback: D.
func TestScorecardRecordedOAuthFlow(t *testing.T) {
	evs := decodePcap(t, "../testdata/decode/gosdk-auth.pcap")
	sc := expect(t, evs, scenario.AuthResource, "D", map[string]posture.Status{
		posture.TransportEncrypted: fail, posture.TransportCurrent: pass, posture.ProtocolVersionCurrent: pass,
		posture.AuthRequired: pass, posture.ChallengeResourceMetadata: pass, posture.PRMServed: pass,
		posture.PRMResourceMatches: pass, posture.AuthorizationServers: pass, posture.ASMetadataDiscoverable: pass,
		posture.PKCES256: pass, posture.ResourceIndicator: pass, posture.AudienceEnforced: pass,
		posture.SessionIDQuality: pass, posture.OriginValidated: none, posture.ManifestStable: pass,
	})
	if !slices.Equal(sc.GradeReasons, []string{"transport-encrypted failed"}) {
		t.Errorf("grade reasons %v", sc.GradeReasons)
	}
	evByID := byID(evs)
	// The evidence is what the check says it is.
	for _, id := range check(sc, posture.AudienceEnforced).Evidence {
		ev := evByID[id]
		if ev.HTTPStatus != 401 || slices.Contains(ev.TokenAud, scenario.AuthResource) {
			t.Errorf("audience-enforced evidence %s: status %d aud %v, want a refused token for another audience", id, ev.HTTPStatus, ev.TokenAud)
		}
	}
	for _, id := range check(sc, posture.PKCES256).Evidence {
		if ev := evByID[id]; ev.AuthEvent != "authorization_request" && ev.AuthEvent != "as_metadata" {
			t.Errorf("pkce-s256 evidence %s is %s", id, ev.AuthEvent)
		}
	}
	for _, id := range check(sc, posture.PRMServed).Evidence {
		if ev := evByID[id]; ev.AuthEvent != "prm" || ev.PRMResource != scenario.AuthResource {
			t.Errorf("prm-served evidence %s is %s for %s", id, ev.AuthEvent, ev.PRMResource)
		}
	}
	// The authorization server is no MCP server.
	if _, ok := assess(evs)[scenario.AuthIssuer]; ok {
		t.Errorf("the authorization server %s got a scorecard", scenario.AuthIssuer)
	}
}

// loopbackAs puts a scenario server on loopback, where plaintext HTTP
// passes transport-encrypted.
var loopbackAs = netip.MustParseAddrPort("127.0.0.30:9000")

// conformant is a conformant deployment on loopback: a client refused
// without a token reads the PRM, authorizes with PKCE S256 and resource=,
// tries a token for another audience (refused) and works with its own.
func conformant() scenario.AuthScenario {
	return scenario.AuthScenario{
		Server:              scenario.AuthServerSpec{Resource: scenario.AuthResource, As: loopbackAs},
		ClientIP:            netip.MustParseAddr("127.0.0.50"),
		Authorize:           &scenario.OAuthFlow{PKCEMethod: "S256"},
		AuthorizationServer: scenario.AuthorizationServerSpec{CodeChallengeMethods: []string{"S256"}},
		Attempts: []scenario.AuthAttempt{
			{Token: ""},
			{Token: scenario.AuthToken("http://other.corp.example/mcp", scenario.AuthScope, "dyn-client-1")},
			{Token: scenario.AuthToken(scenario.AuthResource, scenario.AuthScope, "dyn-client-1"), Accepted: true},
		},
	}
}

// TestGrades has one real deployment per grade, and the checks that set
// it.
func TestGrades(t *testing.T) {
	cases := []struct {
		name  string
		play  func() scenario.AuthScenario
		grade string
		want  map[string]posture.Status
	}{
		{"A conformant on loopback", conformant, "A", map[string]posture.Status{
			posture.TransportEncrypted: pass, posture.AuthRequired: pass, posture.ChallengeResourceMetadata: pass,
			posture.PRMServed: pass, posture.PRMResourceMatches: pass, posture.AuthorizationServers: pass,
			posture.ASMetadataDiscoverable: pass, posture.PKCES256: pass, posture.ResourceIndicator: pass,
			posture.AudienceEnforced: pass, posture.SessionIDQuality: pass, posture.ProtocolVersionCurrent: pass,
			posture.ManifestStable: pass, posture.OriginValidated: none,
		}},
		{"B an old protocol revision", func() scenario.AuthScenario {
			s := conformant()
			s.ProtocolVersion = "2025-03-26"
			return s
		}, "B", map[string]posture.Status{posture.ProtocolVersionCurrent: fail, posture.AuthRequired: pass}},
		{"C no resource metadata", func() scenario.AuthScenario {
			s := conformant()
			s.Server.OmitResourceMetadata = true
			return s
		}, "C", map[string]posture.Status{
			posture.ChallengeResourceMetadata: fail, posture.PRMServed: fail, posture.AuthRequired: pass,
			// Nothing names the authorization server: its requests
			// cannot be tied to this server but by resource=.
			posture.ASMetadataDiscoverable: none, posture.PKCES256: pass, posture.ResourceIndicator: pass,
		}},
		{"D PKCE plain at an authorization server that offers only plain", func() scenario.AuthScenario {
			s := conformant()
			s.Authorize = &scenario.OAuthFlow{PKCEMethod: "plain"}
			s.AuthorizationServer.CodeChallengeMethods = []string{"plain"}
			return s
		}, "D", map[string]posture.Status{posture.PKCES256: fail, posture.ResourceIndicator: pass}},
		{"F a gateway accepting a token for another audience", func() scenario.AuthScenario {
			s := scenario.AuthPassthrough()
			s.Server.As = netip.MustParseAddrPort("127.0.0.32:9100")
			return s
		}, "F", map[string]posture.Status{posture.AudienceEnforced: fail}},
		{"F open", func() scenario.AuthScenario {
			return scenario.AuthScenario{
				Server:   scenario.AuthServerSpec{Resource: scenario.AuthResource, As: loopbackAs, Open: true, OmitResourceMetadata: true},
				ClientIP: netip.MustParseAddr("127.0.0.50"),
				Attempts: []scenario.AuthAttempt{{Token: "", Accepted: true}},
			}
		}, "F", map[string]posture.Status{posture.AuthRequired: fail, posture.PRMServed: none, posture.ChallengeResourceMetadata: none}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := c.play()
			expect(t, recordAuth(t, s), s.Server.Resource, c.grade, c.want)
		})
	}
}

// TestBrokenDeployments fails one check each.
func TestBrokenDeployments(t *testing.T) {
	cases := []struct {
		name   string
		modify func(*scenario.AuthScenario)
		want   map[string]posture.Status
	}{
		{"PRM names another resource", func(s *scenario.AuthScenario) { s.Server.PRMResource = "http://other.corp.example/mcp" },
			map[string]posture.Status{posture.PRMServed: pass, posture.PRMResourceMatches: fail}},
		{"no PKCE, authorization server advertises S256", func(s *scenario.AuthScenario) { s.Authorize.PKCEMethod = "" },
			map[string]posture.Status{posture.PKCES256: fail}},
		{"no resource parameter", func(s *scenario.AuthScenario) { s.Authorize.OmitResource = true },
			map[string]posture.Status{posture.ResourceIndicator: fail, posture.PKCES256: pass, posture.ASMetadataDiscoverable: pass}},
		{"authorization server without metadata", func(s *scenario.AuthScenario) { s.AuthorizationServer.OmitMetadata = true },
			map[string]posture.Status{posture.ASMetadataDiscoverable: fail, posture.PKCES256: none}},
		{"session ids a counter", func(s *scenario.AuthScenario) { s.Server.CountedSessionIDs = true },
			map[string]posture.Status{posture.SessionIDQuality: fail}},
		{"foreign Origin let in", func(s *scenario.AuthScenario) { s.Origin = "http://evil.example" },
			map[string]posture.Status{posture.OriginValidated: fail}},
		{"foreign Origin refused by CrossOriginProtection", func(s *scenario.AuthScenario) {
			s.Origin, s.Server.OriginProtection = "http://evil.example", true
			s.Attempts[len(s.Attempts)-1].Accepted = false
		}, map[string]posture.Status{posture.OriginValidated: pass}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := conformant()
			c.modify(&s)
			sc := assess(recordAuth(t, s))[s.Server.Resource]
			got := statuses(sc)
			for id, st := range c.want {
				if got[id] != st {
					t.Errorf("%s = %s, want %s", id, got[id], st)
				}
			}
		})
	}
}

// TestRecordedTransports grades the transport checks on the checked-in
// captures of real SDKs.
func TestRecordedTransports(t *testing.T) {
	cases := []struct {
		capture string
		want    map[string]posture.Status
	}{
		{"gosdk-legacy-sse", map[string]posture.Status{posture.TransportCurrent: fail, posture.AuthRequired: fail}},
		{"gosdk-2025-03-26-json", map[string]posture.Status{posture.ProtocolVersionCurrent: fail, posture.TransportCurrent: pass, posture.SessionIDQuality: pass}},
		{"gosdk-latest-stateless-json", map[string]posture.Status{posture.ProtocolVersionCurrent: pass, posture.SessionIDQuality: none}},
		{"ts-streamable", map[string]posture.Status{posture.TransportCurrent: pass, posture.SessionIDQuality: pass}},
		{"mcpgo-stateful-2025-11-25", map[string]posture.Status{posture.TransportCurrent: pass, posture.AuthRequired: fail}},
	}
	for _, c := range cases {
		t.Run(c.capture, func(t *testing.T) {
			cards := assess(decodePcap(t, filepath.Join("../testdata/decode", c.capture+".pcap")))
			if len(cards) == 0 {
				t.Fatal("no scorecard")
			}
			for key, sc := range cards {
				got := statuses(sc)
				for id, st := range c.want {
					if got[id] != st {
						t.Errorf("%s: %s = %s, want %s", key, id, got[id], st)
					}
				}
			}
		})
	}
}

// TestManifestChange grades the rug pull: a go-sdk server that redefines
// a tool mid-session.
func TestManifestChange(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := &tcprec.Recorder{}
	if err := scenario.RunRugPull(ctx, rec); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rugpull.pcap")
	if err := scenario.WriteCapture(path, rec); err != nil {
		t.Fatal(err)
	}
	evs := decodePcap(t, path)
	sc := expect(t, evs, "http://docs.corp.example:8080/mcp", "F", map[string]posture.Status{
		posture.ManifestStable: fail, posture.AuthRequired: fail,
	})
	hashes := map[string]bool{}
	evByID := byID(evs)
	for _, id := range check(sc, posture.ManifestStable).Evidence {
		hashes[evByID[id].ManifestHash] = true
	}
	if len(hashes) < 2 {
		t.Errorf("manifest-stable evidence shows %d manifests, want the versions: %v", len(hashes), check(sc, posture.ManifestStable).Evidence)
	}
}

// TestOrderDoesNotMatter: reversed and repeated events give the same
// scorecards.
func TestOrderDoesNotMatter(t *testing.T) {
	evs := decodePcap(t, "../testdata/decode/gosdk-auth.pcap")
	want := fmt.Sprint(assess(evs))
	rev := slices.Clone(evs)
	slices.Reverse(rev)
	if got := fmt.Sprint(assess(append(rev, evs...))); got != want {
		t.Errorf("reversed and repeated:\n%s\nwant\n%s", got, want)
	}
}

// TestTLSOnlyServer: a go-sdk client and server over TLS, recorded. The
// sensor sees a TLS connection whose SNI names MCP and nothing of what it
// carries: the server gets a TLS-only scorecard, every check not observed
// (encryption included: that the TLS carried MCP is not seen), graded C.
func TestTLSOnlyServer(t *testing.T) {
	h, err := scenario.AuthServerSpec{Resource: "https://mcp.corp.example:8443/mcp", Open: true, OmitResourceMetadata: true}.Handler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	rec := &tcprec.Recorder{}
	tr := &http.Transport{
		DialContext:     rec.DialContext(srv.Listener.Addr().String(), netip.MustParseAddr("10.0.1.60"), netip.MustParseAddrPort("10.0.0.60:8443")),
		TLSClientConfig: &tls.Config{ServerName: "mcp.corp.example", InsecureSkipVerify: true},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "tls-agent", Version: "1.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "https://mcp.corp.example:8443/mcp", HTTPClient: &http.Client{Transport: tr}, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := scenario.DemoConversation(ctx, cs); err != nil {
		t.Fatal(err)
	}
	cs.Close()
	tr.CloseIdleConnections()
	path := filepath.Join(t.TempDir(), "tls.pcap")
	if err := scenario.WriteCapture(path, rec); err != nil {
		t.Fatal(err)
	}
	evs := decodePcap(t, path)
	sc := expect(t, evs, "https://mcp.corp.example:8443", "C", map[string]posture.Status{})
	if !sc.TLSOnly {
		t.Error("not marked TLS-only")
	}
	for _, c := range sc.Checks {
		if c.Status != posture.NotObserved {
			t.Errorf("%s = %s, want not_observed: nothing of the MCP traffic is visible", c.ID, c.Status)
		}
	}
	if !slices.Equal(sc.GradeReasons, []string{"auth-required not observed"}) {
		t.Errorf("grade reasons %v", sc.GradeReasons)
	}
}

// BenchmarkAssess grades the recorded OAuth flow: the cost per event of
// the assessment the CLI runs over files and the store over ClickHouse.
func BenchmarkAssess(b *testing.B) {
	var evs []*event.Event
	if err := pipeline.DecodeCapture(context.Background(), "../testdata/decode/gosdk-auth.pcap", "bench", func(ev *event.Event) { evs = append(evs, ev) }); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		a := posture.NewAssessor(posture.Config{})
		for _, ev := range evs {
			a.Observe(ev)
		}
		a.Scorecards()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
