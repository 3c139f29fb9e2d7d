package decode

import (
	"context"
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
func runScenario(t *testing.T, convs []scenario.Conversation) ([]*event.Event, []scenario.LoggedMessage) {
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
	return *evs, logged
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
	for _, m := range logged {
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

func TestGoSDKStreamableHTTPVersions(t *testing.T) {
	for _, version := range []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"} {
		for _, mode := range []struct {
			name string
			opts mcp.StreamableHTTPOptions
		}{{"sse", mcp.StreamableHTTPOptions{}}, {"json", mcp.StreamableHTTPOptions{JSONResponse: true}}} {
			t.Run(version+"/"+mode.name, func(t *testing.T) {
				evs, logged := runScenario(t, []scenario.Conversation{{
					Server: scenario.ServerSpec{Name: "files", Version: "1.4.0", As: netip.MustParseAddrPort("10.0.0.5:8080"),
						Host: "files.corp.example:8080", Options: mode.opts},
					Client: scenario.ClientSpec{Name: "agent", Version: "2.0", IP: netip.MustParseAddr("10.0.1.10"), ProtocolVersion: version},
				}})
				assertMatchesSDK(t, evs, logged)
				for _, e := range byKind(evs, event.KindMessage) {
					if e.ServerKey != "http://files.corp.example:8080/mcp" || e.SessionID == "" || e.ClientName != "agent" {
						t.Errorf("%s %s: server_key %q session %q client %q", e.Direction, e.Method, e.ServerKey, e.SessionID, e.ClientName)
					}
					if e.Method != "initialize" && (e.ProtocolVersion != version || e.ServerName != "files") {
						t.Errorf("%s %s: protocol %q server %q, want %s files", e.Direction, e.Method, e.ProtocolVersion, e.ServerName, version)
					}
				}
				sessions := byKind(evs, event.KindSession)
				if len(sessions) != 1 {
					t.Fatalf("%d session events, want 1", len(sessions))
				}
				s := sessions[0]
				if s.EndReason != event.EndDelete || s.ToolCalls != 2 || !slices.Equal(s.ToolsCalled, []string{"read_file", "search_docs"}) {
					t.Errorf("session: end %q, tool calls %d %v", s.EndReason, s.ToolCalls, s.ToolsCalled)
				}
			})
		}
	}
}
