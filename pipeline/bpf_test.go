//go:build libpcap && cgo

package pipeline

import (
	"context"
	"testing"
)

// --bpf reads the capture through libpcap with the filter: one server of
// the demo's two is left.
func TestRunWithBPF(t *testing.T) {
	pcap, _ := demoCapture(t)
	cfg := testConfig(t, pcap)
	cfg.BPF = "tcp port 3000"
	summary, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(summary.Servers) != 1 || summary.Servers[0].ServerKey != "http://10.0.0.9:3000/mcp" || summary.Servers[0].Messages == 0 {
		t.Errorf("servers %+v, want only shadow-db with its messages", summary.Servers)
	}
}
