package logtap

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcpwatch/mcpwatch/capture"
)

type discard struct{}

func (discard) Request(*capture.Request)                                        {}
func (discard) Response(*capture.Request, *capture.Response)                    {}
func (discard) SSEEvent(*capture.Request, *capture.Response, *capture.SSEEvent) {}
func (discard) ResponseEnd(*capture.Request, *capture.Response)                 {}
func (discard) ConnEnd(*capture.Conn, *capture.ConnEnd)                         {}

// benchmarkSample reads a checked-in sample repeated to about 1 MiB.
func benchmarkSample(b *testing.B, cfg Config, name string) {
	one, err := os.ReadFile(filepath.Join(sampleDir, name))
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat(one, 1<<20/len(one)+1)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := NewReader(cfg, name, bytes.NewReader(data)).Run(context.Background(), discard{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnvoyTap(b *testing.B) {
	benchmarkSample(b, Config{Format: FormatEnvoyTap}, "demo.envoy-buffered.json")
}

func BenchmarkAccessLog(b *testing.B) {
	benchmarkSample(b, Config{Format: FormatAccessLog}, "demo.envoy-access.jsonl")
}
