package bus_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mcpwatch/mcpwatch/bus"
)

// startServerAt runs nats-server with JetStream in dir on port (-1: random);
// unlike StartEmbedded it can come back on the same port after a shutdown.
func startServerAt(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	return startServer(t, &server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
}

func startServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready after 30s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// While NATS is down, publishing blocks once PublishAsyncMax messages are
// unacked (one event per message here, so that is events), a publisher
// with few retries reports its losses at Flush, and when NATS is back every
// accepted event is stored.
func TestNATSOutage(t *testing.T) {
	dir := t.TempDir()
	srv := startServerAt(t, dir, server.RANDOM_PORT)
	url := srv.ClientURL()
	port := srv.Addr().(*net.TCPAddr).Port

	r := newRun(t)
	const inFlight = 5
	patient := connect(t, url, func(c *bus.Config) {
		c.PublishAsyncMax = inFlight
		c.EventsPerMessage = 1
		c.PublishTimeout = 500 * time.Millisecond
		c.PublishRetries = 1000
	})
	hasty := connect(t, url, func(c *bus.Config) {
		c.PublishTimeout = 200 * time.Millisecond
		c.PublishRetries = 1
	})
	evs := r.events(40)
	publishAll(t, patient, evs[:20])

	srv.Shutdown()
	srv.WaitForShutdown()

	ctx := context.Background()
	accepted := 20
	for _, ev := range evs[20:] {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := patient.PublishEvent(pctx, ev)
		cancel()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("publish while NATS is down: %v, want a deadline from back-pressure", err)
			}
			break
		}
		accepted++
	}
	if accepted != 20+inFlight {
		t.Errorf("accepted %d publishes while NATS was down, want %d (PublishAsyncMax)", accepted-20, inFlight)
	}

	lost := newRun(t).events(3)
	for _, ev := range lost {
		if err := hasty.PublishEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := hasty.Flush(fctx)
	if err == nil || !strings.Contains(err.Error(), "3 events or alerts failed") {
		t.Errorf("Flush of a publisher that gave up: %v, want 3 events or alerts failed", err)
	}
	if got := hasty.Stats().PublishFailed; got != 3 {
		t.Errorf("PublishFailed = %d, want 3", got)
	}

	startServerAt(t, dir, port)
	fctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// Flush counts every event that was not stored, the one refused by
	// back-pressure too.
	if err := patient.Flush(fctx); err == nil || !strings.Contains(err.Error(), "1 events or alerts failed") {
		t.Fatalf("Flush after NATS came back: %v, want the refused event counted", err)
	}

	rec := &recorder{run: r}
	c := bus.ConsumerConfig{Durable: r.durable("outage"), StartAt: r.start}
	consumeAll(t, patient, c, rec)
	if d := diffIDs(rec.sorted(), ids(evs[:accepted])); d != "" {
		t.Error(d)
	}
}
