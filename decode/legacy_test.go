package decode

import (
	"cmp"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// 2024-11-05 HTTP+SSE with go-sdk's SSEHandler: requests are POSTed on one
// connection and answered on the GET stream of another, joined by the
// session id of the endpoint event.
func TestGoSDKLegacySSE(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := &tcprec.Recorder{}
	log, err := scenario.RunLegacy(ctx, rec, scenario.Conversation{
		Server: scenario.ServerSpec{Name: "legacy-files", Version: "0.9.0", As: netip.MustParseAddrPort("10.0.0.7:8000"), Host: "legacy.corp.example:8000"},
		Client: scenario.ClientSpec{Name: "old-agent", Version: "0.1", IP: netip.MustParseAddr("10.0.1.12"), ProtocolVersion: "2024-11-05"},
	})
	if err != nil {
		t.Fatal(err)
	}
	logged, err := log.Messages()
	if err != nil {
		t.Fatal(err)
	}
	d, evs := collect(t, Config{})
	convs := rec.Recorded()
	replay(t, convs, d)
	d.Finish(time.Now())
	assertMatchesSDK(t, *evs, logged)
	var sessionID string
	for _, e := range byKind(*evs, event.KindMessage) {
		if e.Transport != event.TransportHTTPSSE || e.ServerKey != "http://legacy.corp.example:8000/sse" || e.ClientName != "old-agent" {
			t.Errorf("%s %s: transport %q server_key %q client %q", e.Direction, e.Method, e.Transport, e.ServerKey, e.ClientName)
		}
		if e.Method != "initialize" && (e.ProtocolVersion != "2024-11-05" || e.ServerName != "legacy-files") {
			t.Errorf("%s %s: protocol %q server %q", e.Direction, e.Method, e.ProtocolVersion, e.ServerName)
		}
		if sessionID = cmp.Or(sessionID, e.SessionID); e.SessionID != sessionID || sessionID == "" {
			t.Errorf("%s %s: session %q, want one non-empty id", e.Direction, e.Method, e.SessionID)
		}
		if e.Direction == event.DirServerToClient && e.DurationMS <= 0 {
			t.Errorf("s2c %s: duration %v, want the time since its POST", e.Method, e.DurationMS)
		}
	}
	if st := d.Stats(); st.Unmatched != 0 {
		t.Errorf("unmatched responses: %d", st.Unmatched)
	}
	sessions := byKind(*evs, event.KindSession)
	if len(sessions) != 1 || sessions[0].ToolCalls != 2 || sessions[0].SessionID != sessionID {
		t.Errorf("session events: %d, want 1 with 2 tool calls", len(sessions))
	}
}
