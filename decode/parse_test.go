package decode

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// The scanner finds the envelope wherever it sits, unescapes what events
// keep, and reports what it saw of cut or broken input.
func TestParseBody(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       string // summary of each message, "|"-joined
	}{
		{"id last, as SDKs write responses", `{"result":{"content":[{"type":"text","text":"}{\"id\":9"}],"isError":true},"jsonrpc":"2.0","id":7}`,
			"response id=7 method= name= err=0: tool_err=true trunc=false"},
		{"string id, escaped tool name", `{"jsonrpc":"2.0","id":"a\"b","method":"tools/call","params":{"name":"r\u00e9ad_\ud83d\ude00","arguments":{"name":"not me"}}}`,
			`request id=a"b method=tools/call name=réad_😀 err=0: tool_err=false trunc=false`},
		{"error", `{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"bad\nparams","data":{"code":1}}}`,
			"error id=3 method= name= err=-32602:bad\nparams tool_err=false trunc=false"},
		{"notification", `{"method":"notifications/progress","jsonrpc":"2.0","params":{"progressToken":1,"progress":0.5}}`,
			"notification id= method=notifications/progress name= err=0: tool_err=false trunc=false"},
		{"null id error", `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`,
			"error id= method= name= err=-32700:Parse error tool_err=false trunc=false"},
		{"batch", ` [{"jsonrpc":"2.0","id":1,"method":"ping"}, {"jsonrpc":"2.0","method":"notifications/initialized"}]`,
			"request id=1 method=ping name= err=0: tool_err=false trunc=false|notification id= method=notifications/initialized name= err=0: tool_err=false trunc=false"},
		{"cut inside params", `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/et`,
			"request id=5 method=tools/call name=read_file err=0: tool_err=false trunc=true"},
		{"not JSON-RPC", `{"items":[1,2,3]}`, "response id= method= name= err=0: tool_err=false trunc=false"},
		{"garbage", `{"jsonrpc":"2.0",,}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, m := range parseBody([]byte(tc.body), int64(len(tc.body)), false, 1<<20) {
				got = append(got, fmt.Sprintf("%s id=%s method=%s name=%s err=%d:%s tool_err=%v trunc=%v",
					m.msgType(), m.id, m.method, m.name, m.errCode, m.errMessage, m.isError, m.truncated))
			}
			if g := strings.Join(got, "|"); g != tc.want {
				t.Errorf("got  %q\nwant %q", g, tc.want)
			}
		})
	}
}

// Identity from initialize and from 2026-07-28 _meta lands in the same
// fields.
func TestParseIdentity(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{"listChanged":true},"sampling":{}},"clientInfo":{"name":"cursor","version":"1.7"}}}`,
			"2025-06-18 cursor 1.7 [roots sampling] meta=false"},
		{`{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"files","version":"1.4.0"}}}`,
			"2025-06-18 files 1.4.0 [tools] meta=false"},
		{`{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/clientInfo":{"name":"agent","version":"2"},"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}}}`,
			"2026-07-28 agent 2 [elicitation] meta=true"},
		{`{"jsonrpc":"2.0","id":4,"result":{"tools":[],"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"files","version":"1.4.0"}}}}`,
			" files 1.4.0 [] meta=true"},
	} {
		m := parseBody([]byte(tc.body), int64(len(tc.body)), false, 1<<20)[0]
		if got := fmt.Sprintf("%s %s %s %v meta=%v", m.protocolVersion, m.peerName, m.peerVersion, m.caps, m.metaIdentity); got != tc.want {
			t.Errorf("%s\n got %q\nwant %q", tc.body, got, tc.want)
		}
	}
}

// WWW-Authenticate as MCP servers send it (go-sdk, RFC 6750 and RFC 9728
// examples), and as hostile ones might.
func TestParseWWWAuthenticate(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{`Bearer resource_metadata="http://secure.corp.example:9000/.well-known/oauth-protected-resource/mcp", scope="files:read"`,
			`Bearer{resource_metadata=http://secure.corp.example:9000/.well-known/oauth-protected-resource/mcp scope=files:read}`},
		{`Bearer realm="example", error="invalid_token", error_description="The access token expired"`,
			`Bearer{error=invalid_token error_description=The access token expired realm=example}`},
		{`Basic realm="x", Bearer error="insufficient_scope", scope="a b"`,
			`Basic{realm=x} Bearer{error=insufficient_scope scope=a b}`},
		{`Bearer`, `Bearer{}`},
		{`Negotiate abc123==, Bearer`, `Negotiate{} Bearer{}`},
		{`Bearer error=invalid_token,scope="q\"uoted"`, `Bearer{error=invalid_token scope=q"uoted}`},
		{`Bearer scope="unterminated`, `Bearer{scope=unterminated}`},
		{`, ,  =,"`, ``},
	} {
		var got []string
		for _, ch := range parseWWWAuthenticate(tc.header) {
			var params []string
			for _, k := range slices.Sorted(maps.Keys(ch.params)) {
				params = append(params, k+"="+ch.params[k])
			}
			got = append(got, ch.scheme+"{"+strings.Join(params, " ")+"}")
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%s\n got %q\nwant %q", tc.header, g, tc.want)
		}
	}
}

// controlIndex must find the first control byte wherever it sits and
// whatever its neighbours (borrows between bytes must not hide it or make
// one up).
func TestControlIndex(t *testing.T) {
	for _, fill := range []byte{'a', 0x20, 0x21, 0x7f, 0x80, 0xff} {
		for c := range 256 {
			for pos := range 19 {
				b := bytes.Repeat([]byte{fill}, 19)
				b[pos] = byte(c)
				want := -1
				if c < 0x20 {
					want = pos
				}
				if got := controlIndex(b); got != want {
					t.Fatalf("%q: got %d, want %d", b, got, want)
				}
			}
		}
	}
}
