package sink

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/inventory"
)

// inventoryEvents: server A requires bearer tokens (a 401 challenge, a PRM
// document, an authenticated tools/call) and redefines a tool; server B
// answers a request without credentials.
func inventoryEvents() (a, b string, evs []*event.Event) {
	a, b = "http://10.0.0.5:8080/mcp", "http://10.0.0.9:3000/mcp"
	t0 := time.Date(2026, 7, 28, 9, 0, 0, 0, time.UTC)
	n := 0
	mk := func(kind event.Kind, server string, d time.Duration) *event.Event {
		n++
		return &event.Event{
			Schema: event.SchemaVersion, EventID: event.NewID("inventory", fmt.Sprint(n)), Kind: kind,
			TS: t0.Add(d), ServerKey: server, ClientAddress: "10.0.0.7", ClientName: "go-client",
			ClientVersion: "1.2.3", SessionID: "s-" + server, Transport: event.TransportStreamableHTTP,
		}
	}
	challenge := mk(event.KindAuth, a, 0)
	challenge.AuthEvent, challenge.HTTPStatus = "challenge", 401
	// A PRM document is fetched from its own well-known URL and names the
	// server in its resource.
	prm := mk(event.KindAuth, "http://10.0.0.5:8080/.well-known/oauth-protected-resource/mcp", time.Second)
	prm.AuthEvent, prm.PRMAuthorizationServers, prm.PRMResource = "prm", []string{"https://as.example"}, a
	call := mk(event.KindMessage, a, 2*time.Second)
	call.MsgType, call.Method, call.ToolName, call.HTTPStatus = event.MsgRequest, "tools/call", "search", 200
	call.AuthScheme, call.TokenAud = "bearer", []string{"https://mcp.example"}
	call.ProtocolVersion, call.ServerName, call.ServerVersion = "2025-06-18", "notes", "0.9.0"
	manifest := func(d time.Duration, searchHash string) *event.Event {
		m := mk(event.KindManifest, a, d)
		m.Tools = []event.Tool{{Name: "search", Hash: searchHash}, {Name: "delete", Hash: "d1", Destructive: true}}
		m.ToolCount, m.ManifestHash = len(m.Tools), "manifest-"+searchHash
		return m
	}
	open := mk(event.KindMessage, b, 3*time.Second)
	open.MsgType, open.Method, open.HTTPStatus, open.AuthScheme = event.MsgRequest, "tools/list", 200, "none"
	open.ProtocolVersion = "2025-03-26"
	return a, b, []*event.Event{challenge, prm, call, manifest(4*time.Second, "s1"), manifest(5*time.Second, "s2"), open}
}

func TestInventoryViews(t *testing.T) {
	c := openTestClickHouse(t)
	ctx := context.Background()
	a, b, evs := inventoryEvents()
	for range 2 { // redelivered: the views must not count twice
		if err := c.WriteEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	db := quoteIdent(c.Database())

	type server struct {
		name                                  string
		versions                              []string
		requests, toolCalls, authReqs, openOK uint64
		challenges                            uint64
		prm, required                         uint8
		audiences, authServers                []string
	}
	got := map[string]server{}
	rows, err := c.conn.Query(ctx, `SELECT server_key, server_name, protocol_versions, requests, tool_calls,
		authenticated_requests, unauthenticated_ok, challenges, prm_served, auth_required, accepted_audiences, authorization_servers
		FROM `+db+`.servers`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var key string
		var s server
		if err := rows.Scan(&key, &s.name, &s.versions, &s.requests, &s.toolCalls, &s.authReqs, &s.openOK,
			&s.challenges, &s.prm, &s.required, &s.audiences, &s.authServers); err != nil {
			t.Fatal(err)
		}
		got[key] = s
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]server{
		a: {name: "notes", versions: []string{"2025-06-18"}, requests: 1, toolCalls: 1, authReqs: 1,
			challenges: 1, prm: 1, required: 1, audiences: []string{"https://mcp.example"}, authServers: []string{"https://as.example"}},
		b: {versions: []string{"2025-03-26"}, requests: 1, openOK: 1, audiences: []string{}, authServers: []string{}},
	}
	if len(got) != len(want) {
		t.Errorf("servers view has %d rows, want %d: %+v", len(got), len(want), got)
	}
	for key, w := range want {
		g := got[key]
		if g.name != w.name || !slices.Equal(g.versions, w.versions) || g.requests != w.requests ||
			g.toolCalls != w.toolCalls || g.authReqs != w.authReqs || g.openOK != w.openOK ||
			g.challenges != w.challenges || g.prm != w.prm || g.required != w.required ||
			!slices.Equal(g.audiences, w.audiences) || !slices.Equal(g.authServers, w.authServers) {
			t.Errorf("server %s:\n got %+v\nwant %+v", key, g, w)
		}
	}

	var servers []string
	var requests uint64
	if err := c.conn.QueryRow(ctx, "SELECT arraySort(servers), requests FROM "+db+".clients WHERE client_address = '10.0.0.7'").Scan(&servers, &requests); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(servers, []string{a, b}) || requests != 2 {
		t.Errorf("client 10.0.0.7: servers %v, requests %d; want %v, 2", servers, requests, []string{a, b})
	}

	tools := map[string][2]any{}
	rows, err = c.conn.Query(ctx, "SELECT tool_name, hash, definitions FROM "+db+".server_tools WHERE server_key = ?", a)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, hash string
		var defs uint64
		if err := rows.Scan(&name, &hash, &defs); err != nil {
			t.Fatal(err)
		}
		tools[name] = [2]any{hash, defs}
	}
	if tools["search"] != [2]any{"s2", uint64(2)} || tools["delete"] != [2]any{"d1", uint64(1)} || len(tools) != 2 {
		t.Errorf("server_tools for %s = %v, want search (s2, 2 definitions) and delete (d1, 1)", a, tools)
	}
}

// TestInventoryMatchesViews: the Go inventory (for files) and the
// ClickHouse views give the same servers, clients, tools and manifest
// versions for the same events: real SDK captures' events, the synthetic
// ones above, a TLS connection whose SNI names MCP and a server known from
// a header-only access log's session only.
func TestInventoryMatchesViews(t *testing.T) {
	c := openTestClickHouse(t)
	ctx := context.Background()
	_, _, evs := inventoryEvents()
	evs = append(evs, goldenEvents(t, "gosdk-auth", "gosdk-legacy-sse", "gosdk-manifest-paged", "mcpgo-client")...)
	t0 := time.Date(2026, 7, 28, 10, 0, 0, 0, time.UTC)
	evs = append(evs,
		&event.Event{Schema: event.SchemaVersion, EventID: event.NewID("inv", "tls"), Kind: event.KindFlow, TS: t0, Source: "iface:eth0",
			ClientAddress: "10.0.0.7", ServerAddress: "10.0.0.40", ServerPort: 8443, AppProtocol: "tls", TLSSNI: "mcp.corp.example", MCPHint: "sni"},
		&event.Event{Schema: event.SchemaVersion, EventID: event.NewID("inv", "log"), Kind: event.KindSession, TS: t0, Source: "tap:access-log:x.log",
			ServerKey: "http://logged.corp.example/mcp", ClientAddress: "10.0.0.8", SessionID: "abc", Transport: event.TransportStreamableHTTP})
	if err := c.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	b := inventory.NewBuilder()
	for _, ev := range evs {
		b.Observe(ev)
	}
	seconds := func(ts *time.Time) { *ts = ts.Truncate(time.Second) }

	wantServers := map[string]inventory.Server{}
	yes := true
	for _, s := range b.Servers() {
		seconds(&s.FirstSeen)
		seconds(&s.LastSeen)
		s.Allowlisted = &yes // no unexpected-server alert stored
		wantServers[s.ServerKey] = s
	}
	gotServers, err := c.Servers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gotServers) != len(wantServers) {
		t.Errorf("%d servers from ClickHouse, %d from Go", len(gotServers), len(wantServers))
	}
	for _, g := range gotServers {
		if w := wantServers[g.ServerKey]; !reflect.DeepEqual(g, w) {
			t.Errorf("server %s:\nClickHouse %+v\n        Go %+v", g.ServerKey, g, w)
		}
	}
	for _, key := range []string{"https://mcp.corp.example:8443", "http://logged.corp.example/mcp"} {
		if _, ok := wantServers[key]; !ok {
			t.Errorf("no server %s", key)
		}
	}

	wantClients := b.Clients()
	for i := range wantClients {
		seconds(&wantClients[i].FirstSeen)
		seconds(&wantClients[i].LastSeen)
	}
	inventory.SortClients(wantClients)
	gotClients, err := c.Clients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotClients, wantClients) {
		t.Errorf("clients:\nClickHouse %+v\n        Go %+v", gotClients, wantClients)
	}

	wantTools := b.Tools()
	for i := range wantTools {
		seconds(&wantTools[i].FirstSeen)
		seconds(&wantTools[i].LastSeen)
	}
	gotTools, err := c.Tools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotTools, wantTools) {
		t.Errorf("tools:\nClickHouse %+v\n        Go %+v", gotTools, wantTools)
	}

	gotManifests, err := c.Manifests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := b.Manifests(); !reflect.DeepEqual(gotManifests, want) {
		t.Errorf("manifests:\nClickHouse %+v\n        Go %+v", gotManifests, want)
	}
	var diffs []string
	for _, m := range gotManifests {
		if m.ServerKey == "http://10.0.0.5:8080/mcp" && m.Diff != nil {
			diffs = append(diffs, fmt.Sprintf("%+v", *m.Diff))
		}
	}
	if want := []string{"{Added:[] Removed:[] Changed:[search]}"}; !slices.Equal(diffs, want) {
		t.Errorf("manifest diffs of the redefining server: %v, want %v", diffs, want)
	}
}
