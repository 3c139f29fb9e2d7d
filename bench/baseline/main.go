// Command baseline is the practical limit mcpwatch is measured against: it
// reads a capture with gopacket and decodes every frame down to its TCP
// payload, and does nothing else (no reassembly, no HTTP, no MCP).
//
//	go run ./bench/baseline bench/out/mcp-1g.pcap
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: baseline FILE.pcap")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var (
		eth     layers.Ethernet
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		payload gopacket.Payload
		decoded []gopacket.LayerType
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &ip6, &tcp, &payload)
	parser.IgnoreUnsupported = true
	start := time.Now()
	var packets, frameBytes, payloadBytes int64
	for {
		data, _, err := r.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		packets++
		frameBytes += int64(len(data))
		if err := parser.DecodeLayers(data, &decoded); err != nil {
			continue
		}
		for _, lt := range decoded {
			if lt == layers.LayerTypeTCP {
				payloadBytes += int64(len(tcp.Payload))
			}
		}
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("packets=%d frame_bytes=%d tcp_payload_bytes=%d seconds=%.3f MB_per_s=%.1f packets_per_s=%.0f\n",
		packets, frameBytes, payloadBytes, secs, float64(frameBytes)/secs/1e6, float64(packets)/secs)
	return nil
}
