package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/pipeline"
	"github.com/mcpwatch/mcpwatch/sink"
)

// querySource is where a read-only command reads: an events JSONL file, a
// capture decoded on the spot, or (without either) ClickHouse.
type querySource struct {
	ch     sink.ClickHouseConfig
	events string
	pcaps  []string
}

func addQuerySourceFlags(cmd *cobra.Command, q *querySource) {
	addClickHouseFlags(cmd, &q.ch)
	f := cmd.Flags()
	f.StringVar(&q.events, "events", "", "read this events JSONL file (as written by --events-out) instead of ClickHouse")
	f.StringSliceVar(&q.pcaps, "pcap", nil, "decode this pcap or pcapng file instead of reading ClickHouse (repeatable)")
}

// fromFile reports whether the command reads a file rather than ClickHouse.
func (q *querySource) fromFile() (bool, error) {
	if q.events != "" && len(q.pcaps) > 0 {
		return false, usage(errors.New("--events and --pcap: give one"))
	}
	return q.events != "" || len(q.pcaps) > 0, nil
}

// eachEvent calls fn with every event of the file.
func (q *querySource) eachEvent(ctx context.Context, fn func(*event.Event)) error {
	for _, pcap := range q.pcaps {
		if err := pipeline.DecodeCapture(ctx, pcap, "mcpwatch", fn); err != nil {
			return err
		}
	}
	if len(q.pcaps) > 0 {
		return nil
	}
	f, err := os.Open(q.events)
	if err != nil {
		return usage(fmt.Errorf("open events: %w", err))
	}
	defer f.Close()
	err = event.ReadEvents(f, func(ev *event.Event) error { fn(ev); return nil })
	if err != nil {
		return fmt.Errorf("read events %s: %w", q.events, err)
	}
	return nil
}

// store opens ClickHouse for reading: it creates no database or table.
func (q *querySource) store(cmd *cobra.Command) (*sink.ClickHouse, error) {
	if q.ch.Addr == "" {
		return nil, usage(errors.New("--clickhouse ADDR, --events FILE or --pcap FILE is required"))
	}
	ch, err := sink.OpenClickHouseReader(cmd.Context(), q.ch)
	var missing *sink.MissingSchemaError
	if errors.As(err, &missing) {
		return nil, usage(err)
	}
	return ch, err
}

// writeJSONLines prints one JSON object per line.
func writeJSONLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return err
		}
	}
	return nil
}
