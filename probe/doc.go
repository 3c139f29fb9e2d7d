// Package probe is the opt-in active half of the posture assessment: for
// MCP servers found passively (above all those seen only as TLS), it does
// the unauthenticated checks any client does on first contact and reports
// them as events (source "probe:<url>") that feed the same scorecard as
// captured traffic (package posture):
//
//   - POST initialize without credentials: 401 and its WWW-Authenticate
//     (resource_metadata), or 2xx (an open server; its session is deleted
//     again at once);
//   - the Protected Resource Metadata: the resource_metadata URL of the
//     challenge, then the path-specific and the root well-known URLs
//     (RFC 9728);
//   - the metadata of the authorization servers the PRM lists (RFC 8414,
//     then OpenID Connect discovery), with code_challenge_methods_supported;
//   - POST initialize with a foreign Origin: 403 or not.
//
// Interface: New(Config) gives a Prober; Probe(ctx, url) returns the
// events of one target. It never sends credentials (no Authorization
// header, no cookie jar, no proxy from the environment), follows no
// redirects, dials only addresses inside Config.Allow (every address a
// name resolves to is checked, for the target and for every URL it
// learns from the server, so a PRM document cannot point it elsewhere),
// and waits for a token of a rate limiter (Config.Rate requests a second)
// before each request.
//
// Loss and overload: a step whose request fails (refused, timed out,
// outside Allow) yields no event, so its checks read not_observed, never
// pass; the error is returned with the events of the steps before it.
// Bodies are read up to 1 MiB.
package probe
