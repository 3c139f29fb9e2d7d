package scenario

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// AuthServerSpec is an OAuth-protected go-sdk MCP server:
// auth.RequireBearerToken in front of a Streamable HTTP handler with
// DemoTools.
type AuthServerSpec struct {
	// Resource is the MCP endpoint URL clients use (its host is the Host
	// header). The server's verifier (verifyToken) accepts tokens minted
	// for AuthResource only, so a server at another Resource is a token
	// passthrough gateway: it lets in tokens that name another server.
	Resource string
	// As is where the server appears in the capture.
	As netip.AddrPort
	// OmitResourceMetadata leaves resource_metadata out of the Bearer
	// challenge and serves no Protected Resource Metadata document, as
	// servers written before MCP 2025-06-18 do.
	OmitResourceMetadata bool
	// PRMResource is the resource its Protected Resource Metadata names;
	// empty names Resource, as it should.
	PRMResource string
	// Open serves MCP without the bearer token middleware.
	Open bool
	// OriginProtection puts net/http's CrossOriginProtection in front of
	// MCP: a request whose Origin is another host gets 403.
	OriginProtection bool
	// CountedSessionIDs makes session ids a counter ("1", "2", …) instead
	// of the SDK's random ids.
	CountedSessionIDs bool
	// AuthorizationServer is the issuer its PRM lists; default AuthIssuer.
	AuthorizationServer string
}

// urls parses the resource URL and derives the URL where RFC 9728 puts
// its Protected Resource Metadata.
func (spec AuthServerSpec) urls() (resource, prm *url.URL, err error) {
	resource, err = url.Parse(spec.Resource)
	if err != nil {
		return nil, nil, fmt.Errorf("auth server resource %q: %w", spec.Resource, err)
	}
	prm = &url.URL{Scheme: resource.Scheme, Host: resource.Host, Path: "/.well-known/oauth-protected-resource" + resource.Path}
	return resource, prm, nil
}

// Handler is the server: MCP at Resource's path, its PRM document at the
// RFC 9728 well-known URL.
func (spec AuthServerSpec) Handler() (http.Handler, error) {
	resource, prm, err := spec.urls()
	if err != nil {
		return nil, err
	}
	var serverOpts *mcp.ServerOptions
	if spec.CountedSessionIDs {
		var n atomic.Int64
		serverOpts = &mcp.ServerOptions{GetSessionID: func() string { return strconv.FormatInt(n.Add(1), 10) }}
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "secure-files", Version: "2.0.0"}, serverOpts)
	DemoTools(srv)
	opts := &auth.RequireBearerTokenOptions{ResourceMetadataURL: prm.String(), Scopes: []string{AuthScope}}
	mux := http.NewServeMux()
	prmResource := spec.Resource
	if spec.PRMResource != "" {
		prmResource = spec.PRMResource
	}
	if spec.OmitResourceMetadata {
		opts.ResourceMetadataURL = ""
	} else {
		issuer := AuthIssuer
		if spec.AuthorizationServer != "" {
			issuer = spec.AuthorizationServer
		}
		mux.Handle(prm.Path, auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
			Resource: prmResource, AuthorizationServers: []string{issuer}, ScopesSupported: []string{AuthScope},
			BearerMethodsSupported: []string{"header"},
		}))
	}
	var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{DisableLocalhostProtection: true})
	if spec.OriginProtection {
		h = http.NewCrossOriginProtection().Handler(h)
	}
	if !spec.Open {
		h = auth.RequireBearerToken(verifyToken, opts)(h)
	}
	mux.Handle(resource.Path, h)
	return mux, nil
}

// AuthAttempt is one connection of a client to an auth server.
type AuthAttempt struct {
	// Token is the bearer token sent; empty sends no Authorization header.
	Token string
	// Accepted says whether the server must let the client in; the
	// scenario fails when it does not behave so. An accepted client runs
	// DemoConversation.
	Accepted bool
}

// AuthScenario is one client's attempts at one auth server.
type AuthScenario struct {
	Server   AuthServerSpec
	ClientIP netip.Addr
	// Authorize, when set, has the client run the authorization code
	// flow at an authorization server set up as AuthorizationServer
	// (AuthIssuer, seen at 10.0.0.31:8080) before its attempts.
	Authorize           *OAuthFlow
	AuthorizationServer AuthorizationServerSpec
	// Origin is sent as the Origin header of every MCP request.
	Origin string
	// ProtocolVersion is the MCP revision the client asks for; default
	// 2025-11-25.
	ProtocolVersion string
	Attempts        []AuthAttempt
}

// Auth scenarios' parties, as they appear in the capture.
var (
	// AuthGateway is an MCP gateway that passes through tokens minted for
	// AuthResource (the confused deputy of the MCP security best practices).
	AuthGateway   = "http://mcp-gateway.corp.example:9100/mcp"
	authGatewayAs = netip.MustParseAddrPort("10.0.0.32:9100")
)

// AuthConformant is the well-behaved client of a conformant server: its
// first request without a token is refused, it reads the Protected Resource
// Metadata, then connects with a token for the server.
func AuthConformant() AuthScenario {
	return AuthScenario{
		Server:   AuthServerSpec{Resource: AuthResource, As: authServerAs},
		ClientIP: authClientIP,
		Attempts: []AuthAttempt{{Token: ""}, {Token: AuthToken(AuthResource, AuthScope, authClientIDSeed+"1"), Accepted: true}},
	}
}

// AuthRetryLoop is a client looping on a revoked token: it tries the same
// refused token n times.
func AuthRetryLoop(n int) AuthScenario {
	s := AuthScenario{Server: AuthServerSpec{Resource: AuthResource, As: authServerAs}, ClientIP: netip.MustParseAddr("10.0.1.51")}
	for range n {
		s.Attempts = append(s.Attempts, AuthAttempt{Token: "rvk_9f1c2e7d4b3a"})
	}
	return s
}

// CredentialStuffing is a client trying n different stolen or guessed
// tokens, each refused once.
func CredentialStuffing(n int) AuthScenario {
	s := AuthScenario{Server: AuthServerSpec{Resource: AuthResource, As: authServerAs}, ClientIP: netip.MustParseAddr("10.0.1.52")}
	for i := range n {
		s.Attempts = append(s.Attempts, AuthAttempt{Token: fmt.Sprintf("mcp_pat_%04d_leaked", 1000+i)})
	}
	return s
}

// AuthWithoutResourceMetadata is AuthConformant against the AuthResource
// server deployed with a middleware that has no ResourceMetadataURL: the
// 401 has no resource_metadata, the client's guess at the well-known PRM
// URL gets a 404, and it connects with a token it already had.
func AuthWithoutResourceMetadata() AuthScenario {
	return AuthScenario{
		Server:   AuthServerSpec{Resource: AuthResource, As: authServerAs, OmitResourceMetadata: true},
		ClientIP: netip.MustParseAddr("10.0.1.53"),
		Attempts: []AuthAttempt{{Token: ""}, {Token: AuthToken(AuthResource, AuthScope, authClientIDSeed+"1"), Accepted: true}},
	}
}

// AuthPassthrough is a client sending AuthGateway a token minted for
// AuthResource, which the gateway accepts.
func AuthPassthrough() AuthScenario {
	return AuthScenario{
		Server:   AuthServerSpec{Resource: AuthGateway, As: authGatewayAs},
		ClientIP: netip.MustParseAddr("10.0.1.54"),
		Attempts: []AuthAttempt{{Token: AuthToken(AuthResource, AuthScope, authClientIDSeed+"1"), Accepted: true}},
	}
}

// RunAuthScenario serves s.Server and plays s.Attempts in order, each on a
// connection of its own. After a refusal without a token the client reads
// the Protected Resource Metadata at its well-known URL, as an MCP client
// discovering the authorization server does.
func RunAuthScenario(ctx context.Context, rec *tcprec.Recorder, s AuthScenario) (*Log, error) {
	h, err := s.Server.Handler()
	if err != nil {
		return nil, err
	}
	hs, err := serve(h)
	if err != nil {
		return nil, err
	}
	defer hs.Close()
	c := &authClient{rec: rec, realAddr: hs.Addr().String(), spec: s.Server, ip: s.ClientIP, origin: s.Origin, version: s.ProtocolVersion, log: &Log{}}
	if c.version == "" {
		c.version = "2025-11-25"
	}
	defer c.closeIdle()
	if s.Authorize != nil {
		if err := c.authorize(ctx, s.AuthorizationServer, *s.Authorize); err != nil {
			return nil, err
		}
	}
	for i, a := range s.Attempts {
		cs, err := c.connect(ctx, a.Token)
		switch {
		case err == nil && !a.Accepted:
			cs.Close()
			return nil, fmt.Errorf("auth attempt %d at %s: let in, want refused", i, s.Server.Resource)
		case err != nil && a.Accepted:
			return nil, fmt.Errorf("auth attempt %d at %s: %w", i, s.Server.Resource, err)
		case err == nil:
			if err := DemoConversation(ctx, cs); err != nil {
				cs.Close()
				return nil, fmt.Errorf("auth attempt %d at %s: %w", i, s.Server.Resource, err)
			}
			if err := cs.Close(); err != nil {
				return nil, err
			}
		case a.Token == "":
			if err := c.fetchPRM(ctx); err != nil {
				return nil, err
			}
		}
	}
	return c.log, nil
}

// authClient is one client address's HTTP connections to an auth server.
type authClient struct {
	rec      *tcprec.Recorder
	realAddr string
	spec     AuthServerSpec
	ip       netip.Addr
	origin   string
	version  string
	log      *Log

	mu         sync.Mutex
	transports []*http.Transport
}

func (c *authClient) httpClient(token string) *http.Client {
	tr := &http.Transport{DialContext: c.rec.DialContext(c.realAddr, c.ip, c.spec.As)}
	c.mu.Lock()
	c.transports = append(c.transports, tr)
	c.mu.Unlock()
	return &http.Client{Transport: &bearer{token: token, origin: c.origin, next: tr}}
}

// authorize serves an authorization server and runs flow at it.
func (c *authClient) authorize(ctx context.Context, spec AuthorizationServerSpec, flow OAuthFlow) error {
	as, err := serve(AuthorizationServerHandler(spec))
	if err != nil {
		return err
	}
	defer as.Close()
	tr := &http.Transport{DialContext: c.rec.DialContext(as.Addr().String(), c.ip, authASAs)}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if spec.OmitMetadata {
		// A client finds no endpoints and gives up.
		return getJSON(ctx, client, AuthIssuer+"/.well-known/oauth-authorization-server", nil)
	}
	_, err = obtainToken(ctx, client, flow, c.spec.Resource)
	return err
}

// closeIdle closes the connections left open, so every recorded
// connection ends with a close.
func (c *authClient) closeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tr := range c.transports {
		tr.CloseIdleConnections()
	}
}

func (c *authClient) connect(ctx context.Context, token string) (*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "secure-agent", Version: "3.0"}, nil)
	return client.Connect(ctx, &mcp.LoggingTransport{Transport: &mcp.StreamableClientTransport{
		Endpoint: c.spec.Resource, HTTPClient: c.httpClient(token), MaxRetries: -1, DisableStandaloneSSE: true,
	}, Writer: c.log}, &mcp.ClientSessionOptions{ProtocolVersion: c.version})
}

func (c *authClient) fetchPRM(ctx context.Context) error {
	_, prm, err := c.spec.urls()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", prm.String(), nil)
	if err != nil {
		return err
	}
	resp, err := c.httpClient("").Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", prm, err)
	}
	resp.Body.Close()
	if served := resp.StatusCode == http.StatusOK; served == c.spec.OmitResourceMetadata {
		return fmt.Errorf("GET %s: %s, but the spec omits resource metadata: %v", prm, resp.Status, c.spec.OmitResourceMetadata)
	}
	return nil
}
