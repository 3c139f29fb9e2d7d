package pipeline

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/decode"
	"github.com/mcpwatch/mcpwatch/event"
)

// DecodeCapture decodes a pcap or pcapng file straight to emit, without
// the bus, detection or outputs: what the read-only commands (posture,
// servers --pcap) need of a capture. A file that cannot be opened as a
// capture is a UsageError. Token ids are keyed by a random key,
// so they do not match those of another run.
func DecodeCapture(ctx context.Context, path, sensor string, emit func(*event.Event)) error {
	key := make([]byte, 32)
	rand.Read(key)
	d, err := decode.New(decode.Config{Sensor: sensor, Source: "pcap:" + path, TokenKey: key}, emit)
	if err != nil {
		return err
	}
	src, err := capture.OpenPcap(path)
	if err != nil {
		return usageError(err)
	}
	defer src.Close()
	eng, err := capture.NewEngine(capture.Config{Tick: d.Tick}, d)
	if err != nil {
		return err
	}
	if err := eng.Run(ctx, src); err != nil {
		return fmt.Errorf("read capture %s: %w", path, err)
	}
	eng.Finish()
	d.Finish(time.Time{})
	return nil
}
