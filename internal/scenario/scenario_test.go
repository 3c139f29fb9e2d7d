package scenario

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

func TestDemoRecordsRealConversation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, Demo)
	if err != nil {
		t.Fatal(err)
	}
	for i, log := range res.Logs {
		msgs, err := log.Messages()
		if err != nil {
			t.Fatal(err)
		}
		methods := map[string]int{}
		for _, m := range msgs {
			methods[m.Direction+" "+m.Method]++
		}
		for _, want := range []string{"c2s initialize", "s2c initialize", "c2s notifications/initialized", "c2s tools/call", "s2c tools/call", "c2s tools/list", "c2s prompts/get"} {
			if methods[want] == 0 {
				t.Errorf("conversation %d: no %q in SDK log; have %v", i, want, methods)
			}
		}
	}
	var buf bytes.Buffer
	if err := res.Recorder.WriteTo(&buf, tcprec.Pcap); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var packets int
	var sawPOST bool
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		packets++
		sawPOST = sawPOST || bytes.Contains(data, []byte("POST /mcp HTTP/1.1\r\nHost: files.corp.example:8080"))
	}
	if packets < 20 || !sawPOST {
		t.Fatalf("pcap has %d packets, POST to files.corp.example seen: %v", packets, sawPOST)
	}
}
