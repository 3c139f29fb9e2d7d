package decode

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/event"
)

// seedMessages adds every JSON-RPC message the SDKs logged in the
// checked-in captures, whole and cut in half.
func seedMessages(f *testing.F) {
	logs, err := filepath.Glob(filepath.Join(captureDir, "*.sdk.jsonl"))
	if err != nil || len(logs) == 0 {
		f.Fatalf("no SDK logs in %s", captureDir)
	}
	seen := map[string]bool{}
	for _, path := range logs {
		for _, m := range readSDKLog(f, path) {
			if raw := string(m.Raw); !seen[raw] {
				seen[raw] = true
				f.Add([]byte(raw))
				f.Add([]byte(raw[:len(raw)/2]))
			}
		}
	}
	f.Add([]byte(`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"result":{}}]`))
}

// FuzzJSONRPC checks the scanner against encoding/json on valid input and
// runs every input through a Decoder as request body, response body and
// SSE data: nothing may panic, and what the scanner reads must be what the
// JSON says.
func FuzzJSONRPC(f *testing.F) {
	seedMessages(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs := parseBody(body, int64(len(body)), false, 1<<20)
		if json.Valid(body) && utf8.Valid(body) && len(msgs) == 1 {
			checkAgainstEncodingJSON(t, body, msgs[0])
		}

		d, _ := collect(t, Config{MaxMessageBytes: 1 << 16})
		conn := &capture.Conn{ID: 1}
		hdr := http.Header{"Mcp-Session-Id": {"s"}}
		req := &capture.Request{Conn: conn, Method: "POST", Target: "/mcp?sessionid=x", Header: hdr, Body: body, BodyLen: int64(len(body))}
		d.Request(req)
		resp := &capture.Response{Conn: conn, StatusCode: 200, Header: hdr, Body: body, BodyLen: int64(len(body))}
		d.Response(req, resp)
		d.ResponseEnd(req, resp)
		req2 := &capture.Request{Conn: conn, Seq: 1, Method: "GET", Target: "/sse", Header: http.Header{}}
		d.Request(req2)
		stream := &capture.Response{Conn: conn, Seq: 1, StatusCode: 200, Header: http.Header{}, EventStream: true}
		d.Response(req2, stream)
		d.SSEEvent(req2, stream, &capture.SSEEvent{Event: "endpoint", Data: string(body)})
		d.SSEEvent(req2, stream, &capture.SSEEvent{Event: "message", Data: string(body)})
		d.ConnEnd(conn, &capture.ConnEnd{BytesC2S: 1})
		d.Finish(d.now)
	})
}

// checkAgainstEncodingJSON compares the scanner's envelope with a decoding
// of body by encoding/json with exact key matching.
func checkAgainstEncodingJSON(t *testing.T, body []byte, m message) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return // a batch or not an object
	}
	var method string
	if raw, ok := obj["method"]; ok && json.Unmarshal(raw, &method) == nil && len(method) <= maxName && m.method != method {
		t.Errorf("method %q, encoding/json says %q", m.method, method)
	}
	if raw, ok := obj["id"]; ok {
		var want string
		if json.Unmarshal(raw, &want) != nil { // not a string: a number as written
			if _, err := strconv.ParseFloat(string(raw), 64); err != nil {
				return // null, or not an id at all
			}
			want = string(raw)
		}
		if len(want) <= maxName && m.id != want {
			t.Errorf("id %q, encoding/json says %q", m.id, want)
		}
	}
	var jsonrpc string
	if raw, ok := obj["jsonrpc"]; ok && json.Unmarshal(raw, &jsonrpc) == nil && (jsonrpc == "2.0") != m.jsonrpc {
		t.Errorf("jsonrpc 2.0 %v, encoding/json says %q", m.jsonrpc, jsonrpc)
	}
}

// FuzzWWWAuthenticate parses arbitrary challenges: no panic, no hang, and
// parameters of the form name="value" written by a server come back.
func FuzzWWWAuthenticate(f *testing.F) {
	for _, h := range []string{
		// go-sdk auth.RequireBearerToken, as in testdata/decode/gosdk-auth.pcap
		`Bearer resource_metadata="http://secure.corp.example:9000/.well-known/oauth-protected-resource/mcp", scope="files:read"`,
		`Bearer realm="example", error="invalid_token", error_description="The access token expired"`,
		`Basic realm="x", Bearer error="insufficient_scope", scope="a b"`,
		`Negotiate abc123==, Bearer`,
		`Bearer error=invalid_token,scope="q\"uoted"`,
	} {
		f.Add(h, "scope", "files:read")
	}
	f.Fuzz(func(t *testing.T, h, name, value string) {
		parseWWWAuthenticate(h)
		if name == "" || !isToken(name) || !qdtext(value) {
			return
		}
		quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(value) + `"`
		chs := parseWWWAuthenticate(`Bearer ` + name + `=` + quoted)
		if len(chs) != 1 || chs[0].params[strings.ToLower(name)] != value {
			t.Errorf("Bearer %s=%s parsed as %+v", name, quoted, chs)
		}
	})
}

// qdtext reports whether s can be sent in an RFC 9110 quoted-string:
// visible ASCII, space and tab (quotes and backslashes escaped).
func qdtext(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < 0x20 && c != '\t') || c > 0x7e {
			return false
		}
	}
	return true
}

func isToken(s string) bool {
	for i := range len(s) {
		if !isTokenChar(s[i]) || s[i] == '/' {
			return false
		}
	}
	return true
}

// FuzzPcap plays whole capture files through capture and a Decoder as the
// sensor does — the file reader, one or two shards, each decoder behind
// capture.Contain, a FaultDumper on the source — seeded with every
// checked-in capture. Nothing may panic past the containment, and nothing
// may be contained either: a contained fault is a bug the sensor survives,
// still a bug. Event ids must be unique (they are the dedup key).
func FuzzPcap(f *testing.F) {
	pcaps, err := filepath.Glob(filepath.Join(captureDir, "*.pcap"))
	if err != nil || len(pcaps) == 0 {
		f.Fatalf("no captures in %s (%v)", captureDir, err)
	}
	for i, path := range append(pcaps, "../testdata/demo.pcap") {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(i))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, pcap []byte, shards uint8) {
		file, err := os.CreateTemp(dir, "fuzz-*.pcap")
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove(file.Name())
		if _, err := file.Write(pcap); err != nil {
			t.Fatal(err)
		}
		file.Close()
		src, err := capture.OpenPcap(file.Name())
		if err != nil {
			return // not a capture file: an error, as it should be
		}
		defer src.Close()
		dumper, err := capture.NewFaultDumper(src, capture.DumpConfig{Dir: filepath.Join(dir, "dumps"), MaxConnBytes: 16 << 10, MaxBytes: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		report := func(fault capture.Fault) { t.Errorf("contained %s\n%s", fault, fault.Stack) }
		n := int(shards%2) + 1
		decs := make([]*Decoder, n)
		evs := make([]*[]*event.Event, n)
		handlers := make([]*capture.Contained, n)
		sh, err := capture.NewShards(n, capture.Config{MaxBodyBytes: 1 << 16, MaxFlows: 64, Fault: report}, func(k int, c *capture.Config) capture.Handler {
			decs[k], evs[k] = collect(t, Config{})
			handlers[k] = capture.Contain(decs[k], report)
			c.Tick = handlers[k].Tick
			return handlers[k]
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := sh.Run(context.Background(), dumper); err != nil && !errors.Is(err, capture.ErrTruncated) {
			t.Logf("input: %v", err) // a broken record ends the input
		}
		sh.Finish()
		seen := map[string]bool{}
		for k := range n {
			handlers[k].Finish(sh.Now())
			for _, e := range *evs[k] {
				if seen[e.EventID] {
					t.Errorf("event id %s twice", e.EventID)
				}
				seen[e.EventID] = true
			}
		}
		if st := dumper.Stats(); st.BytesInUse > 64<<10 {
			t.Errorf("dumper holds %d bytes over its cap", st.BytesInUse)
		}
	})
}
