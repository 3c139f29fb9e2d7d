package decode

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
)

// collect returns a decoder whose events are appended to the returned slice.
func collect(t testing.TB, cfg Config) (*Decoder, *[]*event.Event) {
	t.Helper()
	var evs []*event.Event
	if cfg.TokenKey == nil {
		cfg.TokenKey = []byte("test key")
	}
	cfg.Sensor, cfg.Source = "test", "replay"
	d, err := New(cfg, func(e *event.Event) { evs = append(evs, e) })
	if err != nil {
		t.Fatal(err)
	}
	return d, &evs
}

// runScenario plays convs with the real go-sdk and decodes the recording.
func runScenario(t *testing.T, convs []scenario.Conversation) ([]*event.Event, []scenario.LoggedMessage, Stats) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := scenario.Run(ctx, convs)
	if err != nil {
		t.Fatal(err)
	}
	var logged []scenario.LoggedMessage
	for _, l := range res.Logs {
		msgs, err := l.Messages()
		if err != nil {
			t.Fatal(err)
		}
		logged = append(logged, msgs...)
	}
	d, evs := collect(t, Config{})
	recorded := res.Recorder.Recorded()
	replay(t, recorded, d)
	d.Finish(recorded[len(recorded)-1].Closed.Add(time.Second))
	return *evs, logged, d.Stats()
}

// wireKey is what conformance compares of one message: what the SDK logged
// and what the decoder saw must agree on it, one for one.
func wireKey(dir, method, id, tool string, isErr bool) string {
	return fmt.Sprintf("%s %s id=%s tool=%s error=%v", dir, method, id, tool, isErr)
}

// assertMatchesSDK checks that the message events are, one for one, the
// messages the SDK logged.
func assertMatchesSDK(t *testing.T, evs []*event.Event, logged []scenario.LoggedMessage) {
	t.Helper()
	var got, want []string
	for _, e := range evs {
		if e.Kind == event.KindMessage {
			got = append(got, wireKey(e.Direction, e.Method, e.JSONRPCID, e.ToolName, e.MsgType == event.MsgError))
		}
	}
	// The SDK may log a response before the request it answers (HTTP+SSE
	// answers on the stream before the POST returns), so responses take
	// their method from the request with their id, wherever it was logged.
	requests := map[string]scenario.LoggedMessage{}
	for _, m := range logged {
		var probe struct {
			Method string `json:"method"`
		}
		if m.ID != "" && json.Unmarshal(m.Raw, &probe) == nil && probe.Method != "" {
			requests[m.Direction+"|"+m.ID] = m
		}
	}
	for _, m := range logged {
		if m.Method == "" && m.ID != "" {
			reqDir := event.DirClientToServer
			if m.Direction == reqDir {
				reqDir = event.DirServerToClient
			}
			m.Method, m.ToolName = requests[reqDir+"|"+m.ID].Method, requests[reqDir+"|"+m.ID].ToolName
		}
		want = append(want, wireKey(m.Direction, m.Method, m.ID, m.ToolName, m.IsError))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("message events differ from the SDK log\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

func byKind(evs []*event.Event, k event.Kind) []*event.Event {
	var out []*event.Event
	for _, e := range evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// The go-sdk at every protocol version it negotiates, SSE and JSON
// responses, stateful and stateless servers: decoded message events equal
// the SDK's own log one for one, and carry the session's identity.
func TestGoSDKStreamableHTTPVersions(t *testing.T) {
	type mode struct {
		name string
		opts mcp.StreamableHTTPOptions
	}
	modes := []mode{
		{"sse", mcp.StreamableHTTPOptions{}},
		{"json", mcp.StreamableHTTPOptions{JSONResponse: true}},
		{"stateless-sse", mcp.StreamableHTTPOptions{Stateless: true}},
		{"stateless-json", mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true}},
	}
	// "" lets the SDK negotiate its latest revision, 2026-07-28, which
	// only stateless servers offer.
	for _, version := range []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", ""} {
		for _, mode := range modes {
			stateless := mode.opts.Stateless
			t.Run(cmp.Or(version, "latest")+"/"+mode.name, func(t *testing.T) {
				evs, logged, st := runScenario(t, []scenario.Conversation{{
					Server: scenario.ServerSpec{Name: "files", Version: "1.4.0", As: netip.MustParseAddrPort("10.0.0.5:8080"),
						Host: "files.corp.example:8080", Options: mode.opts},
					Client: scenario.ClientSpec{Name: "agent", Version: "2.0", IP: netip.MustParseAddr("10.0.1.10"), ProtocolVersion: version},
				}})
				assertMatchesSDK(t, evs, logged)
				wantVersion := version
				if version == "" {
					wantVersion = "2025-11-25" // a stateful server does not offer 2026-07-28
					if stateless {
						wantVersion = "2026-07-28"
					}
				}
				for _, e := range byKind(evs, event.KindMessage) {
					// server/discover probes are sessionless by design.
					sessionless := stateless || e.Method == "server/discover"
					if e.ServerKey != "http://files.corp.example:8080/mcp" || (e.SessionID == "") != sessionless || e.ClientName != "agent" {
						t.Errorf("%s %s: server_key %q session %q client %q", e.Direction, e.Method, e.ServerKey, e.SessionID, e.ClientName)
					}
					if e.Method != "initialize" && e.Method != "server/discover" && (e.ProtocolVersion != wantVersion || e.ServerName != "files") {
						t.Errorf("%s %s: protocol %q server %q, want %s files", e.Direction, e.Method, e.ProtocolVersion, e.ServerName, wantVersion)
					}
				}
				if st.HeaderMismatch != 0 || st.Unmatched != 0 || st.Malformed != 0 {
					t.Errorf("stats: %+v", st)
				}
				var sessions []string
				for _, s := range byKind(evs, event.KindSession) {
					if s.ToolCalls > 0 {
						sessions = append(sessions, fmt.Sprintf("%s %d %v", s.EndReason, s.ToolCalls, s.ToolsCalled))
					}
				}
				want := "delete 2 [read_file search_docs]"
				if stateless {
					want = "input-end 2 [read_file search_docs]"
				}
				if len(sessions) != 1 || sessions[0] != want {
					t.Errorf("sessions with tool calls: %q, want [%q]", sessions, want)
				}
			})
		}
	}
}
