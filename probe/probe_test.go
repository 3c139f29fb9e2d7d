package probe_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/posture"
	"github.com/mcpwatch/mcpwatch/probe"
)

// Every server here is a real SDK server on loopback: go-sdk behind its
// auth middleware with its PRM handler (and deliberately broken), go-sdk
// and mcp-go open, the TypeScript SDK's server. A recorder in front of
// each checks what the probe sent.

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// sent records the requests a server received.
type sent struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (s *sent) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Clone(context.Background()))
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// noCredentials fails the test if any request carried credentials.
func (s *sent) noCredentials(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Error("the probe sent nothing")
	}
	for _, r := range s.reqs {
		if r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" {
			t.Errorf("%s %s carried credentials", r.Method, r.URL)
		}
	}
}

// serveLoopback serves h on a loopback port and returns its base URL.
func serveLoopback(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// deployment is a go-sdk server behind auth.RequireBearerToken on
// loopback, with its authorization server, both recorded.
func deployment(t *testing.T, spec scenario.AuthServerSpec, as scenario.AuthorizationServerSpec) (target string, rec *sent) {
	t.Helper()
	rec = &sent{}
	asL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	as.Issuer = "http://" + asL.Addr().String()
	asSrv := &http.Server{Handler: rec.wrap(scenario.AuthorizationServerHandler(as))}
	go asSrv.Serve(asL)
	t.Cleanup(func() { asSrv.Close() })

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target = "http://" + l.Addr().String() + "/mcp"
	spec.Resource, spec.AuthorizationServer = target, as.Issuer
	if spec.PRMResource == "wrong" {
		spec.PRMResource = "http://" + l.Addr().String() + "/other"
	}
	h, err := spec.Handler()
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rec.wrap(h)}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return target, rec
}

func probeAndGrade(t *testing.T, target string) (posture.Scorecard, []*event.Event) {
	t.Helper()
	p, err := probe.New(probe.Config{Allow: loopback, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, err := p.Probe(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	a := posture.NewAssessor(posture.Config{})
	for _, ev := range evs {
		if !strings.HasPrefix(ev.Source, "probe:") {
			t.Errorf("event %s has source %q", ev.EventID, ev.Source)
		}
		if err := ev.Validate(); err != nil {
			t.Error(err)
		}
		a.Observe(ev)
	}
	for _, sc := range a.Scorecards() {
		if sc.ServerKey == event.CanonicalURL(target) {
			return sc, evs
		}
	}
	t.Fatalf("no scorecard for %s", target)
	return posture.Scorecard{}, nil
}

func expectChecks(t *testing.T, sc posture.Scorecard, want map[string]posture.Status) {
	t.Helper()
	for _, c := range sc.Checks {
		if st, ok := want[c.ID]; ok && c.Status != st {
			t.Errorf("%s = %s, want %s", c.ID, c.Status, st)
		}
		if c.Status != posture.NotObserved && (len(c.Sources) != 1 || c.Sources[0] != "probe") {
			t.Errorf("%s: sources %v, want [probe]", c.ID, c.Sources)
		}
	}
}

const (
	pass = posture.Pass
	fail = posture.Fail
	none = posture.NotObserved
)

func TestProbeGoSDKWithAuth(t *testing.T) {
	cases := []struct {
		name string
		spec scenario.AuthServerSpec
		as   scenario.AuthorizationServerSpec
		want map[string]posture.Status
	}{
		{"conformant", scenario.AuthServerSpec{}, scenario.AuthorizationServerSpec{CodeChallengeMethods: []string{"S256"}}, map[string]posture.Status{
			posture.AuthRequired: pass, posture.ChallengeResourceMetadata: pass, posture.PRMServed: pass,
			posture.PRMResourceMatches: pass, posture.AuthorizationServers: pass, posture.ASMetadataDiscoverable: pass,
			posture.PKCES256: pass, posture.TransportEncrypted: pass,
			// Never observable without credentials.
			posture.AudienceEnforced: none, posture.ResourceIndicator: none,
			// The bearer middleware answers 401 before any Origin check.
			posture.OriginValidated: none,
		}},
		{"no PRM", scenario.AuthServerSpec{OmitResourceMetadata: true}, scenario.AuthorizationServerSpec{CodeChallengeMethods: []string{"S256"}}, map[string]posture.Status{
			posture.AuthRequired: pass, posture.ChallengeResourceMetadata: fail, posture.PRMServed: fail, posture.ASMetadataDiscoverable: none,
		}},
		{"PRM naming the wrong resource", scenario.AuthServerSpec{PRMResource: "wrong"}, scenario.AuthorizationServerSpec{CodeChallengeMethods: []string{"S256"}}, map[string]posture.Status{
			posture.PRMServed: pass, posture.PRMResourceMatches: fail,
		}},
		{"authorization server without PKCE S256", scenario.AuthServerSpec{}, scenario.AuthorizationServerSpec{CodeChallengeMethods: []string{"plain"}}, map[string]posture.Status{
			posture.ASMetadataDiscoverable: pass, posture.PKCES256: fail,
		}},
		{"authorization server without metadata", scenario.AuthServerSpec{}, scenario.AuthorizationServerSpec{OmitMetadata: true}, map[string]posture.Status{
			posture.ASMetadataDiscoverable: fail, posture.PKCES256: none,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target, rec := deployment(t, c.spec, c.as)
			sc, _ := probeAndGrade(t, target)
			expectChecks(t, sc, c.want)
			rec.noCredentials(t)
		})
	}
}

func TestProbeOpenServers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ts, err := scenario.StartTypeScriptServer(ctx, "streamable")
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Stop()
	goSDK := func(originProtection bool) string {
		rec := &sent{}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		target := "http://" + l.Addr().String() + "/mcp"
		h, err := scenario.AuthServerSpec{Resource: target, Open: true, OmitResourceMetadata: true, OriginProtection: originProtection}.Handler()
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: rec.wrap(h)}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close(); rec.noCredentials(t) })
		return target
	}
	cases := []struct {
		name   string
		target string
		want   map[string]posture.Status
	}{
		{"go-sdk open", goSDK(false), map[string]posture.Status{
			posture.AuthRequired: fail, posture.OriginValidated: fail, posture.ProtocolVersionCurrent: pass, posture.SessionIDQuality: pass,
		}},
		{"go-sdk open behind CrossOriginProtection", goSDK(true), map[string]posture.Status{
			posture.AuthRequired: fail, posture.OriginValidated: pass,
		}},
		{"mcp-go open", serveLoopback(t, scenario.MCPGoHandler(false)) + scenario.MCPGoServer.Path, map[string]posture.Status{
			posture.AuthRequired: fail, posture.ProtocolVersionCurrent: pass, posture.SessionIDQuality: pass, posture.PRMServed: none,
		}},
		{"TypeScript SDK open", ts.URL, map[string]posture.Status{
			posture.AuthRequired: fail, posture.ProtocolVersionCurrent: pass, posture.PRMServed: none,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc, _ := probeAndGrade(t, c.target)
			expectChecks(t, sc, c.want)
			if sc.Grade != "F" {
				t.Errorf("grade %s, want F for an open server", sc.Grade)
			}
		})
	}
}

// TestProbeDropsURLCredentials: userinfo in the target URL is not sent as
// Basic credentials.
func TestProbeDropsURLCredentials(t *testing.T) {
	target, rec := deployment(t, scenario.AuthServerSpec{}, scenario.AuthorizationServerSpec{CodeChallengeMethods: []string{"S256"}})
	p, err := probe.New(probe.Config{Allow: loopback, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	withUser := strings.Replace(target, "http://", "http://alice:s3cret@", 1)
	evs, err := p.Probe(context.Background(), withUser)
	if err != nil || len(evs) == 0 {
		t.Fatalf("probe %s: %d events, %v", withUser, len(evs), err)
	}
	for _, ev := range evs {
		if strings.Contains(ev.ServerKey, "s3cret") || strings.Contains(ev.Source, "s3cret") {
			t.Errorf("event %s keeps the URL's password: %s %s", ev.EventID, ev.ServerKey, ev.Source)
		}
	}
	rec.noCredentials(t)
}

// TestProbeRefusesTargetsOutsideAllow: nothing is sent to a target outside
// --probe-allow, nor to URLs a server names outside it.
func TestProbeRefusesTargetsOutsideAllow(t *testing.T) {
	target, rec := deployment(t, scenario.AuthServerSpec{}, scenario.AuthorizationServerSpec{CodeChallengeMethods: []string{"S256"}})
	p, err := probe.New(probe.Config{Allow: []netip.Prefix{netip.MustParsePrefix("10.99.0.0/16")}, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := p.Probe(context.Background(), target)
	if !errors.Is(err, probe.ErrNotAllowed) || len(evs) != 0 {
		t.Errorf("probe outside the allowed networks: %d events, %v", len(evs), err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) != 0 {
		t.Errorf("%d requests reached a server outside the allowed networks", len(rec.reqs))
	}
	if _, err := probe.New(probe.Config{}); err == nil {
		t.Error("a probe without allowed networks was made")
	}
}
