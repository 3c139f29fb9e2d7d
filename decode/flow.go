package decode

import (
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/event"
)

// flowEvent summarises a connection that carried no MCP, saying what it
// carried as far as the sensor could tell (appProtocol) and keeping a hint
// of why it still might be MCP (TLS to an mcp-ish name, an /mcp path,
// JSON-RPC). Connections without payload (refused, scanned, or a stray
// packet after a close) are counted, not reported.
func (d *Decoder) flowEvent(cs *connState, end *capture.ConnEnd) {
	if end.BytesC2S+end.BytesS2C == 0 {
		d.stats.EmptyFlows++
		return
	}
	ev := d.envelope(event.KindFlow, end.Time, cs.conn, "", nil, "flow")
	ev.AppProtocol = appProtocol(cs, end)
	if ev.AppProtocol == event.AppTLS {
		ev.TLSSNI = end.TLSSNI
		ev.TLSALPN = end.TLSALPN
	}
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

// appProtocol is the flow's app_protocol: capture's classification (tls,
// http, other), refined to json-rpc when its HTTP carried JSON-RPC.
func appProtocol(cs *connState, end *capture.ConnEnd) string {
	switch {
	case end.AppProtocol == capture.AppTLS:
		return event.AppTLS
	case cs.jsonrpc:
		return event.AppJSONRPC
	case end.AppProtocol == capture.AppHTTP:
		return event.AppHTTP
	}
	return event.AppOther
}
