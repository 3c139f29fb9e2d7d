package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mcpwatch/mcpwatch/decode"
	"github.com/mcpwatch/mcpwatch/event"
)

// Config configures a Prober. Zero fields take the defaults.
type Config struct {
	// Allow are the networks the probe may connect to. Required: a probe
	// never reaches an address outside them.
	Allow []netip.Prefix
	// Rate is how many requests a second the probe sends at most, over
	// all targets. Default 2.
	Rate float64
	// Timeout bounds each request. Default 10s.
	Timeout time.Duration
	// Sensor names the prober in events. Default "probe".
	Sensor string
	// ProtocolVersion is the MCP revision initialize asks for. Default
	// 2025-11-25.
	ProtocolVersion string
	// ForeignOrigin is the Origin of the Origin check. Default
	// https://mcpwatch-probe.invalid.
	ForeignOrigin string
}

// Defaults of Config.
const (
	DefaultRate             = 2
	DefaultTimeout          = 10 * time.Second
	DefaultProtocolVersion  = "2025-11-25"
	DefaultForeignOrigin    = "https://mcpwatch-probe.invalid"
	maxBody                 = 1 << 20
	maxAuthorizationServers = 4
	maxWWWAuthenticate      = 1024
)

// Validate fills in defaults and reports the first invalid setting.
func (c *Config) Validate() error {
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Sensor == "" {
		c.Sensor = "probe"
	}
	if c.ProtocolVersion == "" {
		c.ProtocolVersion = DefaultProtocolVersion
	}
	if c.ForeignOrigin == "" {
		c.ForeignOrigin = DefaultForeignOrigin
	}
	switch {
	case len(c.Allow) == 0:
		return errors.New("probe: no networks allowed (--probe-allow CIDR): the probe connects only where it is told it may")
	case c.Rate < 0:
		return errors.New("probe: rate must be positive")
	case c.Timeout < 0:
		return errors.New("probe: timeout must not be negative")
	}
	return nil
}

// ErrNotAllowed is returned for a target (or a URL a server named) whose
// addresses are not all inside Config.Allow.
var ErrNotAllowed = errors.New("outside the allowed networks (--probe-allow)")

// Prober probes MCP servers. It is safe for concurrent use.
type Prober struct {
	cfg     Config
	client  *http.Client
	limiter *rate.Limiter
	mu      sync.Mutex
	seq     int
}

// New returns a Prober.
func New(cfg Config) (*Prober, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Prober{cfg: cfg, limiter: rate.NewLimiter(rate.Limit(cfg.Rate), 1)}
	p.client = &http.Client{
		Transport: &http.Transport{
			Proxy:             nil, // never through a proxy from the environment
			DialContext:       p.dial,
			DisableKeepAlives: true,
			ForceAttemptHTTP2: false,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       cfg.Timeout,
	}
	return p, nil
}

// dial connects only to addresses inside Allow: every address the host
// resolves to must be, so a name cannot smuggle one outside.
func (p *Prober) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, ip := range ips {
		if !p.allowed(ip) {
			return nil, fmt.Errorf("%s (%s) is %w", host, ip, ErrNotAllowed)
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort(ips[0].Unmap().String(), port))
}

func (p *Prober) allowed(ip netip.Addr) bool {
	for _, pfx := range p.cfg.Allow {
		if pfx.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// probeRun is one target's probe: its events and what it learnt.
type probeRun struct {
	p      *Prober
	target *url.URL
	key    string
	run    string
	events []*event.Event
}

// Probe runs the checks against one MCP endpoint URL and returns their
// events. An error says which step failed; the events of the steps
// before it are returned with it.
func (p *Prober) Probe(ctx context.Context, target string) ([]*event.Event, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("probe target %q: want an http:// or https:// URL", target)
	}
	p.mu.Lock()
	p.seq++
	run := fmt.Sprintf("%d-%d", time.Now().UnixNano(), p.seq)
	p.mu.Unlock()
	u.User = nil
	r := &probeRun{p: p, target: u, key: event.CanonicalURL(u.String()), run: run}
	challenge, err := r.initialize(ctx, "")
	if err != nil {
		return r.events, err
	}
	if challenge != nil {
		if err := r.discover(ctx, challenge.ResourceMetadata); err != nil {
			return r.events, err
		}
	}
	if _, err := r.initialize(ctx, p.cfg.ForeignOrigin); err != nil {
		return r.events, err
	}
	return r.events, nil
}

// envelope starts an event of the probe run.
func (r *probeRun) envelope(kind event.Kind, step string, resp *http.Response) *event.Event {
	ev := &event.Event{
		Schema: event.SchemaVersion, Kind: kind, TS: time.Now().UTC(),
		EventID: event.NewID("probe", r.p.cfg.Sensor, r.key, r.run, step),
		Sensor:  r.p.cfg.Sensor, Source: "probe:" + r.key, ServerKey: r.key,
	}
	if resp != nil {
		ev.HTTPStatus = resp.StatusCode
	}
	return ev
}

// do sends one request, after a token of the rate limiter, and reads the
// body up to maxBody.
func (r *probeRun) do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	if err := r.p.limiter.Wait(ctx); err != nil {
		return nil, nil, err
	}
	// Userinfo in a URL (the target's, or one a server named) would go
	// out as Basic credentials.
	req.URL.User = nil
	req.Header.Set("User-Agent", "mcpwatch-probe")
	resp, err := r.p.client.Do(req.WithContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: read body: %w", req.Method, req.URL, err)
	}
	return resp, body, nil
}

// initialize POSTs an initialize request without credentials (with a
// foreign Origin when origin is set) and reports it as a message event,
// and a 401/403 as an auth event whose challenge it returns.
func (r *probeRun) initialize(ctx context.Context, origin string) (*event.Event, error) {
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": 1, "method": "initialize",
		"params": map[string]any{
			"protocolVersion": r.p.cfg.ProtocolVersion, "capabilities": map[string]any{},
			"clientInfo": map[string]any{"name": "mcpwatch-probe", "version": "1"},
		},
	})
	req, err := http.NewRequest("POST", r.target.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, respBody, err := r.do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	step := "initialize"
	if origin != "" {
		step = "initialize-origin"
	}
	ev := r.envelope(event.KindMessage, step, resp)
	ev.Direction, ev.MsgType, ev.Method, ev.JSONRPCID = "c2s", event.MsgRequest, "initialize", "1"
	ev.HTTPMethod, ev.HTTPPath, ev.AuthScheme, ev.Origin = "POST", r.target.Path, "none", origin
	ev.Transport, ev.Bytes = event.TransportStreamableHTTP, int64(len(body))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		ev.SessionID = resp.Header.Get("Mcp-Session-Id")
		initializeResult(respBody, ev)
		r.events = append(r.events, ev)
		return nil, r.endSession(ctx, ev.SessionID)
	}
	r.events = append(r.events, ev)
	if resp.StatusCode != 401 && resp.StatusCode != 403 {
		return nil, nil
	}
	ch := r.envelope(event.KindAuth, step+"-challenge", resp)
	ch.AuthEvent = "challenge"
	if resp.StatusCode == 403 {
		ch.AuthEvent = "forbidden"
	}
	ch.HTTPMethod, ch.HTTPPath, ch.Transport, ch.AuthScheme = "POST", r.target.Path, event.TransportStreamableHTTP, "none"
	raw := strings.Join(resp.Header.Values("Www-Authenticate"), ", ")
	ch.WWWAuthenticate = raw[:min(len(raw), maxWWWAuthenticate)]
	if params := decode.BearerChallengeParams(raw); params != nil {
		ch.ResourceMetadata, ch.Scope, ch.Error = params["resource_metadata"], params["scope"], params["error"]
	}
	r.events = append(r.events, ch)
	return ch, nil
}

// initializeResult reads the protocol version and serverInfo of an
// initialize answer, sent as JSON or as an event stream.
func initializeResult(body []byte, ev *event.Event) {
	for _, line := range bytes.Split(body, []byte("\n")) {
		line = bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(line), []byte("data:")))
		var msg struct {
			Result struct {
				ProtocolVersion string `json:"protocolVersion"`
				ServerInfo      struct {
					Name    string `json:"name"`
					Version string `json:"version"`
				} `json:"serverInfo"`
			} `json:"result"`
		}
		if json.Unmarshal(line, &msg) == nil && msg.Result.ProtocolVersion != "" {
			ev.ProtocolVersion = msg.Result.ProtocolVersion
			ev.ServerName, ev.ServerVersion = msg.Result.ServerInfo.Name, msg.Result.ServerInfo.Version
			return
		}
	}
}

// endSession deletes the session an open server gave the probe.
func (r *probeRun) endSession(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	req, err := http.NewRequest("DELETE", r.target.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Mcp-Session-Id", id)
	if _, _, err := r.do(ctx, req); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// discover reads the Protected Resource Metadata — from the challenge's
// resource_metadata, else the path-specific, then the root well-known
// URL — and the metadata of the authorization servers it lists.
func (r *probeRun) discover(ctx context.Context, resourceMetadata string) error {
	origin := r.target.Scheme + "://" + r.target.Host
	candidates := []string{origin + "/.well-known/oauth-protected-resource" + strings.TrimSuffix(r.target.Path, "/")}
	if resourceMetadata != "" {
		candidates = append([]string{resourceMetadata}, candidates...)
	}
	candidates = append(candidates, origin+"/.well-known/oauth-protected-resource")
	seen := map[string]bool{}
	for i, u := range candidates {
		if seen[u] {
			continue
		}
		seen[u] = true
		prm, err := r.fetchPRM(ctx, u, i)
		if errors.Is(err, ErrNotAllowed) {
			continue // the server named a URL the probe may not visit
		}
		if err != nil {
			return err
		}
		if prm != nil {
			for j, as := range prm.PRMAuthorizationServers[:min(len(prm.PRMAuthorizationServers), maxAuthorizationServers)] {
				if err := r.authorizationServer(ctx, as, j); err != nil && !errors.Is(err, ErrNotAllowed) {
					return err
				}
			}
			return nil
		}
	}
	return nil
}

// fetchPRM GETs one PRM URL and reports it as a prm event. It returns the
// event when the document was served.
func (r *probeRun) fetchPRM(ctx context.Context, u string, i int) (*event.Event, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, nil
	}
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return nil, nil
	}
	resp, body, err := r.do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("protected resource metadata: %w", err)
	}
	ev := r.envelope(event.KindAuth, "prm-"+strconv.Itoa(i), resp)
	ev.ServerKey, ev.AuthEvent, ev.HTTPMethod, ev.HTTPPath = event.CanonicalURL(u), "prm", "GET", pu.Path
	var doc struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
	}
	served := resp.StatusCode == 200 && json.Unmarshal(body, &doc) == nil && doc.Resource != ""
	if served {
		ev.PRMResource, ev.PRMAuthorizationServers, ev.Scope = doc.Resource, doc.AuthorizationServers, strings.Join(doc.ScopesSupported, " ")
	}
	r.events = append(r.events, ev)
	if !served {
		return nil, nil
	}
	return ev, nil
}

// authorizationServer reads an authorization server's metadata: RFC 8414,
// then OpenID Connect discovery, with the issuer's path after the
// well-known segment.
func (r *probeRun) authorizationServer(ctx context.Context, issuer string, i int) error {
	iu, err := url.Parse(issuer)
	if err != nil || iu.Host == "" {
		return nil
	}
	path := strings.TrimSuffix(iu.Path, "/")
	for j, wk := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		u := iu.Scheme + "://" + iu.Host + wk + path
		req, err := http.NewRequest("GET", u, nil)
		if err != nil {
			return nil
		}
		resp, body, err := r.do(ctx, req)
		if err != nil {
			return fmt.Errorf("authorization server metadata: %w", err)
		}
		ev := r.envelope(event.KindAuth, fmt.Sprintf("as-%d-%d", i, j), resp)
		ev.ServerKey, ev.AuthEvent, ev.HTTPMethod, ev.HTTPPath = event.CanonicalURL(u), "as_metadata", "GET", wk+path
		var meta struct {
			CodeChallengeMethods []string `json:"code_challenge_methods_supported"`
		}
		if resp.StatusCode == 200 && json.Unmarshal(body, &meta) == nil {
			ev.CodeChallengeMethods = meta.CodeChallengeMethods
		}
		r.events = append(r.events, ev)
		if resp.StatusCode == 200 {
			return nil
		}
	}
	return nil
}
