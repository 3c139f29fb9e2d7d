package bus

import (
	"testing"

	"github.com/segmentio/encoding/json"
)

// FuzzDecodeMessage feeds arbitrary message payloads to the consumers'
// decoder: it must not panic, every event it returns must be valid and
// encode again, and a message that yields no event must be reported.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"schema":1,"event_id":"a","kind":"message","ts":"2026-07-28T12:00:00Z","sensor":"s","server_key":"http://x/mcp"}`))
	f.Add([]byte("{\"schema\":1,\"event_id\":\"a\",\"kind\":\"flow\",\"ts\":\"2026-07-28T12:00:00Z\"}\nnot json\n\n{}"))
	f.Add([]byte(""))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		bad := 0
		evs := decodeLines(nil, data, decodeEvent, func(error) { bad++ })
		for _, ev := range evs {
			if err := ev.Validate(); err != nil {
				t.Fatalf("decoded an invalid event: %v", err)
			}
			if _, err := json.Marshal(ev); err != nil {
				t.Fatalf("a decoded event does not encode: %v", err)
			}
		}
		if len(evs) == 0 && bad == 0 {
			t.Fatal("a message without events was not reported")
		}
	})
}
