package scenario

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// The auth scenario's parties, as they appear in the capture.
const (
	AuthResource     = "http://secure.corp.example:9000/mcp"
	AuthPRM          = "http://secure.corp.example:9000/.well-known/oauth-protected-resource/mcp"
	AuthIssuer       = "http://login.corp.example:8080"
	AuthScope        = "files:read"
	AuthRedirectURI  = "http://127.0.0.1:33418/callback"
	authSigningKey   = "scenario signing key"
	authClientIDSeed = "dyn-client-"
)

var (
	authServerAs = netip.MustParseAddrPort("10.0.0.30:9000")
	authASAs     = netip.MustParseAddrPort("10.0.0.31:8080")
	authClientIP = netip.MustParseAddr("10.0.1.50")
)

// AuthToken mints an HS256 JWT with the given audience and scope, valid for
// an hour, the way an authorization server would.
func AuthToken(aud, scope, clientID string) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{
		"iss": AuthIssuer, "aud": aud, "scope": scope, "azp": clientID, "sub": "alice",
		"exp": time.Now().Add(time.Hour).Unix(),
	})
	signing := header + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(authSigningKey))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// verifyToken is the resource server's check: signature, audience (RFC 8707:
// tokens for another resource are refused) and expiry.
func verifyToken(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a JWT", auth.ErrInvalidToken)
	}
	mac := hmac.New(sha256.New, []byte(authSigningKey))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if sig, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, fmt.Errorf("%w: bad signature", auth.ErrInvalidToken)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
	}
	var c struct {
		Aud   string `json:"aud"`
		Scope string `json:"scope"`
		Exp   int64  `json:"exp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
	}
	if c.Aud != AuthResource {
		return nil, fmt.Errorf("%w: audience %q is not this server", auth.ErrInvalidToken, c.Aud)
	}
	return &auth.TokenInfo{Scopes: strings.Fields(c.Scope), Expiration: time.Unix(c.Exp, 0)}, nil
}

// RunAuth records an OAuth-protected go-sdk server (auth.RequireBearerToken
// with its Protected Resource Metadata handler) and a client that:
//  1. connects without a token (401 challenge with resource_metadata);
//  2. fetches the PRM document;
//  3. at the authorization server: reads its RFC 8414 metadata, registers
//     (RFC 7591), authorizes with PKCE S256 and resource=, and exchanges the
//     code for a token (golang.org/x/oauth2);
//  4. connects with a token for another audience (401);
//  5. connects with a token without the required scope (403);
//  6. connects with the issued token and runs DemoConversation.
//
// The Log has what the MCP client SDK logged over all attempts.
func RunAuth(ctx context.Context, rec *tcprec.Recorder) (*Log, error) {
	rs, err := serve(authResourceServer())
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	as, err := serve(AuthorizationServerHandler(AuthorizationServerSpec{CodeChallengeMethods: []string{"S256"}}))
	if err != nil {
		return nil, err
	}
	defer as.Close()
	rsClient := &http.Client{Transport: &http.Transport{DialContext: rec.DialContext(rs.Addr().String(), authClientIP, authServerAs)}}
	asClient := &http.Client{
		Transport:     &http.Transport{DialContext: rec.DialContext(as.Addr().String(), authClientIP, authASAs)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	log := &Log{}
	connect := func(token string) (*mcp.ClientSession, error) {
		hc := &http.Client{Transport: &bearer{token: token, next: rsClient.Transport}}
		client := mcp.NewClient(&mcp.Implementation{Name: "secure-agent", Version: "3.0"}, nil)
		return client.Connect(ctx, &mcp.LoggingTransport{Transport: &mcp.StreamableClientTransport{
			Endpoint: AuthResource, HTTPClient: hc, MaxRetries: -1, DisableStandaloneSSE: true,
		}, Writer: log}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	}
	if _, err := connect(""); err == nil {
		return nil, errors.New("auth scenario: connected without a token")
	}
	if err := getJSON(ctx, rsClient, AuthPRM, nil); err != nil {
		return nil, err
	}
	token, err := obtainToken(ctx, asClient, OAuthFlow{PKCEMethod: "S256"}, AuthResource)
	if err != nil {
		return nil, err
	}
	if _, err := connect(AuthToken("http://other.corp.example/mcp", AuthScope, "dyn-client-1")); err == nil {
		return nil, errors.New("auth scenario: wrong-audience token accepted")
	}
	if _, err := connect(AuthToken(AuthResource, "profile", "dyn-client-1")); err == nil {
		return nil, errors.New("auth scenario: token without scope accepted")
	}
	cs, err := connect(token)
	if err != nil {
		return nil, fmt.Errorf("auth scenario: connect with token: %w", err)
	}
	if err := DemoConversation(ctx, cs); err != nil {
		cs.Close()
		return nil, fmt.Errorf("auth scenario: %w", err)
	}
	rsClient.CloseIdleConnections()
	asClient.CloseIdleConnections()
	return log, cs.Close()
}

func authResourceServer() http.Handler {
	srv := mcp.NewServer(&mcp.Implementation{Name: "secure-files", Version: "2.0.0"}, nil)
	DemoTools(srv)
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{DisableLocalhostProtection: true})
	mux := http.NewServeMux()
	mux.Handle("/mcp", auth.RequireBearerToken(verifyToken, &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: AuthPRM, Scopes: []string{AuthScope},
	})(mcpHandler))
	mux.Handle("/.well-known/oauth-protected-resource/mcp", auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource: AuthResource, AuthorizationServers: []string{AuthIssuer}, ScopesSupported: []string{AuthScope},
		BearerMethodsSupported: []string{"header"},
	}))
	return mux
}

// AuthorizationServerSpec is how the scenario's authorization server is
// set up.
type AuthorizationServerSpec struct {
	// CodeChallengeMethods is the code_challenge_methods_supported of its
	// metadata; empty leaves the field out.
	CodeChallengeMethods []string
	// OmitMetadata serves no RFC 8414 metadata (404): clients cannot
	// discover the endpoints.
	OmitMetadata bool
	// Issuer is its URL; default AuthIssuer.
	Issuer string
}

// AuthorizationServerHandler is a minimal OAuth 2.1 authorization server:
// metadata, dynamic registration, an authorization endpoint that approves
// at once, and a token endpoint that mints a JWT for the requested
// resource.
func AuthorizationServerHandler(spec AuthorizationServerSpec) http.Handler {
	issuer := AuthIssuer
	if spec.Issuer != "" {
		issuer = spec.Issuer
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		if spec.OmitMetadata {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, http.StatusOK, &oauthex.AuthServerMeta{
			Issuer: issuer, AuthorizationEndpoint: issuer + "/authorize", TokenEndpoint: issuer + "/token",
			RegistrationEndpoint: issuer + "/register", ResponseTypesSupported: []string{"code"},
			CodeChallengeMethodsSupported: spec.CodeChallengeMethods, GrantTypesSupported: []string{"authorization_code"},
		})
	})
	mux.HandleFunc("POST /register", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusCreated, map[string]any{"client_id": authClientIDSeed + "1", "redirect_uris": []string{AuthRedirectURI}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code=code-1&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": AuthToken(r.Form.Get("resource"), AuthScope, r.Form.Get("client_id")),
			"token_type":   "Bearer", "expires_in": 3600,
		})
	})
	return mux
}

// OAuthFlow is how a client runs the authorization code flow.
type OAuthFlow struct {
	// PKCEMethod is S256, plain (the verifier sent as the challenge) or
	// empty (no PKCE).
	PKCEMethod string
	// OmitResource leaves the RFC 8707 resource parameter out of the
	// authorization and token requests.
	OmitResource bool
}

// obtainToken runs the client side of the authorization code flow for
// resource (golang.org/x/oauth2).
func obtainToken(ctx context.Context, c *http.Client, flow OAuthFlow, resource string) (string, error) {
	var meta oauthex.AuthServerMeta
	if err := getJSON(ctx, c, AuthIssuer+"/.well-known/oauth-authorization-server", &meta); err != nil {
		return "", err
	}
	reg, err := postJSON(ctx, c, meta.RegistrationEndpoint, map[string]any{
		"redirect_uris": []string{AuthRedirectURI}, "client_name": "secure-agent", "token_endpoint_auth_method": "none",
	})
	if err != nil {
		return "", err
	}
	conf := &oauth2.Config{
		ClientID:    reg["client_id"].(string),
		Endpoint:    oauth2.Endpoint{AuthURL: meta.AuthorizationEndpoint, TokenURL: meta.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: AuthRedirectURI,
		Scopes:      []string{AuthScope},
	}
	verifier := oauth2.GenerateVerifier()
	var authOpts, exchangeOpts []oauth2.AuthCodeOption
	switch flow.PKCEMethod {
	case "S256":
		authOpts, exchangeOpts = append(authOpts, oauth2.S256ChallengeOption(verifier)), append(exchangeOpts, oauth2.VerifierOption(verifier))
	case "plain":
		authOpts = append(authOpts, oauth2.SetAuthURLParam("code_challenge", verifier), oauth2.SetAuthURLParam("code_challenge_method", "plain"))
		exchangeOpts = append(exchangeOpts, oauth2.VerifierOption(verifier))
	}
	if !flow.OmitResource {
		res := oauth2.SetAuthURLParam("resource", resource)
		authOpts, exchangeOpts = append(authOpts, res), append(exchangeOpts, res)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", conf.AuthCodeURL("state-1", authOpts...), nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("authorize: %w", err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", fmt.Errorf("authorize redirect: %w", err)
	}
	tok, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, c), loc.Query().Get("code"), exchangeOpts...)
	if err != nil {
		return "", fmt.Errorf("token exchange: %w", err)
	}
	return tok.AccessToken, nil
}

// bearer adds an Authorization header, and an Origin header, to every
// request.
type bearer struct {
	token, origin string
	next          http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.token != "" || b.origin != "" {
		r = r.Clone(r.Context())
	}
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	if b.origin != "" {
		r.Header.Set("Origin", b.origin)
	}
	return b.next.RoundTrip(r)
}

func serve(h http.Handler) (*httpServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(l)
	return &httpServer{hs, l}, nil
}

type httpServer struct {
	*http.Server
	l net.Listener
}

func (s *httpServer) Addr() net.Addr { return s.l.Addr() }

func getJSON(ctx context.Context, c *http.Client, u string, into any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || into == nil {
		return err
	}
	return json.Unmarshal(body, into)
}

func postJSON(ctx context.Context, c *http.Client, u string, v any) (map[string]any, error) {
	body, _ := json.Marshal(v)
	req, err := http.NewRequestWithContext(ctx, "POST", u, strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("POST %s: %w", u, err)
	}
	if !slices.Contains([]int{http.StatusOK, http.StatusCreated}, resp.StatusCode) {
		return nil, fmt.Errorf("POST %s: %s", u, resp.Status)
	}
	return out, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
