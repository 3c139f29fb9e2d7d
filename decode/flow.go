package decode

import (
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/event"
)

// flowEvent summarises a connection that carried no MCP, keeping a hint of
// why it still might (TLS to an mcp-ish name, an /mcp path, JSON-RPC).
// Connections without payload (refused, scanned, or a stray packet after a
// close) are counted, not reported.
func (d *Decoder) flowEvent(cs *connState, end *capture.ConnEnd) {
	if end.BytesC2S+end.BytesS2C == 0 {
		d.stats.EmptyFlows++
		return
	}
	ev := d.envelope(event.KindFlow, end.Time, cs.conn, "", nil, "flow")
	ev.AppProtocol = end.AppProtocol
	ev.TLSSNI = end.TLSSNI
	ev.TLSALPN = end.TLSALPN
	ev.BytesC2S, ev.BytesS2C = end.BytesC2S, end.BytesS2C
	ev.Packets = end.Packets
	ev.DurationMS = float64(end.Time.Sub(cs.conn.Start)) / float64(time.Millisecond)
	ev.Gaps = end.GapBytes
	ev.MCPHint = cs.hint
	if ev.MCPHint == "" && strings.Contains(strings.ToLower(end.TLSSNI), "mcp") {
		ev.MCPHint = "sni"
	}
	d.send(ev)
}
