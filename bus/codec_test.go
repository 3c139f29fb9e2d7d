package bus

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// codecSample is a tools/call response event with token claims, the most
// common and one of the largest events.
func codecSample() *event.Event {
	exp := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	return &event.Event{Schema: 1, EventID: "0123456789abcdef0123456789abcdef", Kind: event.KindMessage,
		TS: time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC), Sensor: "dc1-span3", Source: "iface:eth1",
		ClientAddress: "10.1.0.1", ClientPort: 40000, ServerAddress: "10.0.0.5", ServerPort: 8080,
		ServerKey: "http://docs.corp.example:8080/mcp", Transport: event.TransportStreamableHTTP, ProtocolVersion: "2025-11-25",
		SessionID: "S24ULZOS7F6NNYAJ4K3Y3S2PPK", ClientName: "claude-code", ClientVersion: "2.1.0", ServerName: "docs", ServerVersion: "1.0.0",
		Direction: event.DirServerToClient, MsgType: event.MsgResponse, Method: "tools/call", JSONRPCID: "5", ToolName: "fetch_report",
		Bytes: 20818, DurationMS: 3.25, HTTPMethod: "POST", HTTPPath: "/mcp", HTTPStatus: 200, AuthScheme: "bearer",
		TokenID: "00112233445566778899aabbccddeeff", TokenIss: "https://as.corp.example", TokenAud: []string{"http://docs.corp.example:8080/mcp"},
		TokenScope: "tools:read", TokenExp: &exp}
}

// The bus codec must read exactly what encoding/json (and every other
// reader of the schema) reads.
func TestCodecAgreesWithEncodingJSON(t *testing.T) {
	data, err := encode(codecSample())
	if err != nil {
		t.Fatal(err)
	}
	std, err := event.DecodeEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := decodeEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(std, fast) || !reflect.DeepEqual(fast, codecSample()) {
		t.Errorf("codec and encoding/json disagree:\n%+v\n%+v", std, fast)
	}
	stdBytes, _ := json.Marshal(codecSample())
	if string(stdBytes) != string(data) {
		t.Errorf("encodings differ:\n%s\n%s", stdBytes, data)
	}
	if _, err := decodeEvent([]byte(`{"schema":2,"event_id":"x","kind":"message","ts":"2026-11-27T09:00:00Z"}`)); err == nil {
		t.Error("a schema-2 event was accepted")
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	data, _ := encode(codecSample())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeEvent(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEventEncodingJSON(b *testing.B) {
	data, _ := encode(codecSample())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := event.DecodeEvent(data); err != nil {
			b.Fatal(err)
		}
	}
}
