package sink_test

import (
	"context"
	"log"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/sink"
)

// A stream consumer in front of ClickHouse: each event is acknowledged only
// once it is stored or dead-lettered, so whatever is not acknowledged when
// ClickHouse is down, or when the process stops, is delivered again.
func ExampleBatchWriter() {
	ctx := context.Background()
	ch, err := sink.OpenClickHouse(ctx, sink.ClickHouseConfig{Addr: "127.0.0.1:9000"})
	if err != nil {
		log.Fatal(err) // e.g. "connect to ClickHouse at 127.0.0.1:9000: dial tcp ...: connection refused"
	}
	defer ch.Close()
	bw, err := sink.NewBatchWriter(ctx, ch, ch, sink.BatchConfig{MaxRows: 10_000, MaxDelay: time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer bw.Close() // flushes what is queued

	// In the real consumer these come from JetStream, with msg.Ack as ack.
	type message struct {
		ev  *event.Event
		ack func()
	}
	var fetched []message
	for _, m := range fetched {
		// Blocks while the queue is full: back-pressure on the consumer.
		if err := bw.AddEvent(ctx, m.ev, m.ack); err != nil {
			log.Fatal(err)
		}
	}
}
