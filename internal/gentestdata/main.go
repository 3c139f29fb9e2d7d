// Command gentestdata regenerates the checked-in pcaps under testdata/ from
// real conversations of the official Go MCP SDK (see internal/scenario).
//
//	go run ./internal/gentestdata            # writes testdata/*.pcap
//	go run ./internal/gentestdata -dir /tmp  # somewhere else
//	go run ./internal/gentestdata -hostile F # only the hostile capture of
//	                                         # issue 13 (scripts/faults/security.sh)
//
// Each pcap gets a sibling .sdk.jsonl with what the client SDK logged of
// every JSON-RPC message, the ground truth for decode tests.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

func main() {
	dir := flag.String("dir", "testdata", "directory to write the pcaps to")
	hostile := flag.String("hostile", "", "write only scenario.RunHostile's capture, to this file")
	flag.Parse()
	if *hostile != "" {
		if err := generateHostile(*hostile); err != nil {
			fmt.Fprintln(os.Stderr, "gentestdata:", err)
			os.Exit(1)
		}
		return
	}
	if err := generate(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gentestdata:", err)
		os.Exit(1)
	}
}

// captures names every generated capture and the conversations in it.
var captures = []struct {
	name  string
	convs []scenario.Conversation
}{
	{"demo", scenario.Demo},
}

func generate(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, c := range captures {
		res, err := scenario.Run(ctx, c.convs)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if err := scenario.WriteCapture(filepath.Join(dir, c.name+".pcap"), res.Recorder); err != nil {
			return err
		}
		if err := scenario.WriteLog(filepath.Join(dir, c.name+".sdk.jsonl"), res.Logs); err != nil {
			return err
		}
		fmt.Printf("wrote %s.pcap (%d connections)\n", filepath.Join(dir, c.name), res.Recorder.Conversations())
	}
	return nil
}

// generateHostile writes the capture of scenario.RunHostile. It is not
// checked in: it holds a token, escape sequences and 200 KiB of padding,
// and is made fresh for each fault run.
func generateHostile(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rec := &tcprec.Recorder{}
	if err := scenario.RunHostile(ctx, rec); err != nil {
		return err
	}
	return scenario.WriteCapture(path, rec)
}
