// Command gen writes a large, realistic MCP capture for benchmarks,
// deterministically from a seed.
//
//	go run ./bench/gen -out bench/out/mcp-1g.pcap -size 1GB -seed 1
//	go run ./bench/gen -record   # re-record bench/templates.json.gz from the real SDK
//	go run ./bench/gen -mix realistic -out bench/out/mix-300MB.pcap -size 300MB
//
// The capture replicates templates — conversations recorded once from real
// official Go SDK servers and clients (SSE and JSON responses, stateful and
// stateless sessions, tools/call results from 1 KB to 200 KB), plain REST
// JSON and real TLS sessions — across many concurrent clients, each with
// its own address and Mcp-Session-Id, segmented at MSS 1460 like a span port
// (internal/benchgen). The templates are checked in, so the same seed gives
// the same bytes.
//
// -mix realistic replicates the mix of issue 18 instead (realisticSet): many
// sessions of small calls, multi-MB base64, hex and prose tool results in
// JSON and SSE, REST and JSON-RPC noise. Its templates hold ~20 MB of
// results, too much to check in: they are recorded into
// bench/out/templates-realistic.json.gz the first time (a few seconds, real
// SDK servers on loopback). The results' content is seeded, so a
// re-recording differs only in the SDK's session ids and timings.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/benchgen"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

func main() {
	out := flag.String("out", "bench/out/mcp-1g.pcap", "capture file to write")
	size := flag.String("size", "1GB", "stop starting new conversations once this much is written (KB, MB, GB)")
	seed := flag.Uint64("seed", 1, "random seed: the same seed gives the same capture")
	mss := flag.Int("mss", tcprec.DefaultMSS, "TCP payload per segment")
	gap := flag.Duration("gap", 300*time.Microsecond, "mean time between conversation starts (sets concurrency)")
	mixName := flag.String("mix", "standard", "standard (templates checked in) or realistic (issue 18's mix)")
	templates := flag.String("templates", "", "recorded conversation templates (default bench/templates.json.gz, for -mix realistic bench/out/templates-realistic.json.gz)")
	record := flag.Bool("record", false, "re-record the templates from real SDK servers and clients, then exit")
	flag.Parse()
	if err := run(*mixName, *record, *templates, *out, *size, *seed, *mss, *gap); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(mixName string, record bool, templatesPath, out, sizeText string, seed uint64, mss int, gap time.Duration) error {
	set, defaultPath := standardSet, "bench/templates.json.gz"
	switch mixName {
	case "standard":
	case "realistic":
		set, defaultPath = realisticSet, "bench/out/templates-realistic.json.gz"
	default:
		return fmt.Errorf("-mix %q: want standard or realistic", mixName)
	}
	if templatesPath == "" {
		templatesPath = defaultPath
	}
	_, statErr := os.Stat(templatesPath)
	if record || mixName == "realistic" && os.IsNotExist(statErr) {
		fmt.Fprintf(os.Stderr, "recording %s templates into %s\n", mixName, templatesPath)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		ts, err := recordTemplates(ctx, set)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(templatesPath), 0o755); err != nil {
			return err
		}
		if err := benchgen.SaveTemplates(templatesPath, ts); err != nil || record {
			return err
		}
	}
	size, err := parseSize(sizeText)
	if err != nil {
		return err
	}
	ts, err := benchgen.LoadTemplates(templatesPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := tcprec.NewWriter(bw, tcprec.Pcap)
	if err != nil {
		f.Close()
		return err
	}
	g := benchgen.New(ts, seed, mss, gap)
	g.Progress = os.Stderr
	if err := g.Write(w, size); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %d bytes of frames, %d packets, %d conversations\n", out, w.Bytes, g.Packets, g.Replicas)
	return f.Close()
}

func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(strings.ToUpper(s), u.suffix); ok {
			n, err := strconv.ParseFloat(num, 64)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("-size %q: want a positive number with KB, MB or GB", s)
			}
			return int64(n * float64(u.mult)), nil
		}
	}
	return 0, fmt.Errorf("-size %q: want a number with KB, MB or GB", s)
}
