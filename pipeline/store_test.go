package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/internal/testenv"
	"github.com/mcpwatch/mcpwatch/sink"
)

// A poison event — valid JSON and schema, but a timestamp ClickHouse
// cannot hold — is dead-lettered by the store job and the events around it
// arrive: it never blocks the stream.
func TestStoreDeadLettersPoisonEvent(t *testing.T) {
	addr := testenv.ClickHouseAddr(t)
	pcap, _ := demoCapture(t)
	ref := testConfig(t, pcap)
	if _, err := Run(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	good := readEvents(t, ref.EventsOut)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	emb, err := bus.StartEmbeddedListener(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Shutdown()
	b, err := bus.Connect(ctx, bus.Config{URL: emb.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	poison := *good[0]
	poison.EventID = "poison-event"
	poison.TS = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC) // past ClickHouse's DateTime
	for i, ev := range good {
		if i == len(good)/2 {
			if err := b.PublishEvent(ctx, &poison); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.PublishEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	cfg := DefaultConfig()
	cfg.Bus.URL = emb.ClientURL()
	cfg.ClickHouse = sink.ClickHouseConfig{Addr: addr, Database: fmt.Sprintf("mcpwatch_poison_%d", time.Now().UnixNano())}
	cfg.BatchSize = 8 // the poison shares its batch with good events
	storeCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Store(storeCtx, cfg) }()
	if err := b.WaitDrained(ctx, "store-events"); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	ch, err := sink.OpenClickHouse(ctx, cfg.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ch.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+cfg.ClickHouse.Database)
		ch.Close()
	}()
	var dead []string
	rows, err := ch.Conn().Query(ctx, "SELECT id FROM "+cfg.ClickHouse.Database+".dead_letters FINAL")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		dead = append(dead, id)
	}
	rows.Close()
	if len(dead) != 1 || dead[0] != "poison-event" {
		t.Errorf("dead letters %v, want exactly the poison event", dead)
	}
	var stored uint64
	for _, table := range []string{"messages", "sessions", "auth", "manifests", "flows"} {
		var n uint64
		if err := ch.Conn().QueryRow(ctx, "SELECT count() FROM "+cfg.ClickHouse.Database+"."+table+" FINAL").Scan(&n); err != nil {
			t.Fatal(err)
		}
		stored += n
	}
	if stored != uint64(len(good)) {
		t.Errorf("%d events stored, want the %d good ones", stored, len(good))
	}
}
