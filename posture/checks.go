package posture

import "slices"

// Status is the outcome of one check.
type Status string

// Statuses of a check.
const (
	Pass        Status = "pass"
	Fail        Status = "fail"
	NotObserved Status = "not_observed"
)

// Check ids, in scorecard order.
const (
	TransportEncrypted        = "transport-encrypted"
	TransportCurrent          = "transport-current"
	ProtocolVersionCurrent    = "protocol-version-current"
	AuthRequired              = "auth-required"
	ChallengeResourceMetadata = "challenge-resource-metadata"
	PRMServed                 = "prm-served"
	PRMResourceMatches        = "prm-resource-matches"
	AuthorizationServers      = "authorization-servers-listed"
	ASMetadataDiscoverable    = "as-metadata-discoverable"
	PKCES256                  = "pkce-s256"
	ResourceIndicator         = "resource-indicator"
	AudienceEnforced          = "audience-enforced"
	SessionIDQuality          = "session-id-quality"
	OriginValidated           = "origin-validated"
	ManifestStable            = "manifest-stable"
)

// Check is one row of the check table (docs/posture.md).
type Check struct {
	ID string
	// Requirement says what passes.
	Requirement string
	// Spec is the revision and section of the MCP specification, or the
	// RFC, that requires it.
	Spec string
	// FailGrade is the best grade a server failing the check can have.
	FailGrade string
	// passWins: one passing observation settles the check (a client that
	// tries several well-known URLs until one answers); otherwise one
	// failing observation does.
	passWins bool
}

// Checks is the check table, in scorecard order.
var Checks = []Check{
	{ID: TransportEncrypted, Requirement: "MCP traffic is TLS, not plaintext HTTP (servers on loopback excepted)",
		Spec: "MCP 2025-06-18 basic/authorization §Communication Security; OAuth 2.1 §1.5", FailGrade: "D"},
	{ID: TransportCurrent, Requirement: "Streamable HTTP, not the deprecated HTTP+SSE transport",
		Spec: "MCP 2025-03-26 basic/transports §Backwards Compatibility", FailGrade: "B"},
	{ID: ProtocolVersionCurrent, Requirement: "negotiates 2025-06-18 or later, the revisions where the server is an OAuth resource server",
		Spec: "MCP 2025-06-18 basic/authorization §Standards Compliance; basic/lifecycle §Version Negotiation", FailGrade: "B", passWins: true},
	{ID: AuthRequired, Requirement: "MCP requests without credentials (tools/call and every other request) are refused with 401",
		Spec: "MCP 2025-06-18 basic/authorization §Access Token Usage; OAuth 2.1 §5.2", FailGrade: "F"},
	{ID: ChallengeResourceMetadata, Requirement: "a 401 carries WWW-Authenticate: Bearer resource_metadata=\"…\"",
		Spec: "MCP 2025-06-18 basic/authorization §Authorization Server Location; RFC 9728 §5.1", FailGrade: "C"},
	{ID: PRMServed, Requirement: "the Protected Resource Metadata document is served at its well-known URL",
		Spec: "MCP 2025-06-18 basic/authorization §Authorization Server Location; RFC 9728 §3", FailGrade: "C", passWins: true},
	{ID: PRMResourceMatches, Requirement: "the PRM document's resource is the server's URL",
		Spec: "RFC 9728 §3.3", FailGrade: "C"},
	{ID: AuthorizationServers, Requirement: "the PRM document lists authorization_servers",
		Spec: "MCP 2025-06-18 basic/authorization §Authorization Server Location; RFC 9728 §2", FailGrade: "C"},
	{ID: ASMetadataDiscoverable, Requirement: "a listed authorization server serves its metadata (RFC 8414 or OpenID Connect discovery)",
		Spec: "MCP 2025-06-18 basic/authorization §Server Metadata Discovery; RFC 8414 §3", FailGrade: "C", passWins: true},
	{ID: PKCES256, Requirement: "authorization requests use PKCE with S256 (not plain, not absent), and the authorization server advertises S256",
		Spec: "MCP 2025-11-25 basic/authorization §Authorization Code Protection; OAuth 2.1 §4.1.1; RFC 7636 §4.2", FailGrade: "D"},
	{ID: ResourceIndicator, Requirement: "authorization and token requests carry resource= (the server)",
		Spec: "MCP 2025-06-18 basic/authorization §Resource Parameter Implementation; RFC 8707 §2", FailGrade: "C"},
	{ID: AudienceEnforced, Requirement: "a token whose aud names another resource is refused (401/403), not accepted",
		Spec: "MCP 2025-06-18 basic/authorization §Token Audience Binding and Validation; RFC 8707 §2", FailGrade: "F"},
	{ID: SessionIDQuality, Requirement: "session ids have at least 16 characters and are not plain numbers",
		Spec: "MCP 2025-06-18 basic/transports §Session Management; security best practices §Session Hijacking", FailGrade: "C"},
	{ID: OriginValidated, Requirement: "a request whose Origin names another host is refused with 403",
		Spec: "MCP 2025-06-18 basic/transports §Security Warning; MCP 2025-11-25 basic/transports (403 for an invalid Origin)", FailGrade: "C"},
	{ID: ManifestStable, Requirement: "every tools/list gives the same tool manifest",
		Spec: "MCP 2025-06-18 server/tools §Security Considerations; security best practices", FailGrade: "D"},
}

// checkIndex maps a check id to its place in Checks.
var checkIndex = func() map[string]int {
	m := make(map[string]int, len(Checks))
	for i, c := range Checks {
		m[c.ID] = i
	}
	return m
}()

// SortChecks puts results in the order of Checks.
func SortChecks(rs []Result) {
	slices.SortFunc(rs, func(a, b Result) int { return checkIndex[a.ID] - checkIndex[b.ID] })
}
