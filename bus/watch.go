package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mcpwatch/mcpwatch/event"
)

// WatchAlerts calls handle with each alert stored in MCPWATCH_ALERTS from
// now on whose severity is one of severities (all if none), until ctx ends
// (then it returns nil). It is for viewers such as the Grafana
// datasource's live panel: it reads through an ordered consumer —
// ephemeral, nothing acked, nothing left on the server — and neither
// creates nor changes a stream, so a read-only NATS user is enough. After
// a reconnect it goes on from the last alert it delivered. Until the
// stream exists it waits, retrying with backoff. handle runs on one
// goroutine; while it is slow, alerts wait in NATS, not in memory here.
// Alerts that do not decode are skipped.
func WatchAlerts(ctx context.Context, url string, auth Auth, severities []string, handle func(*event.Alert)) error {
	where := redactURL(url)
	opts, err := auth.options()
	if err != nil {
		return fmt.Errorf("watch alerts on NATS at %s: %w", where, err)
	}
	nc, err := nats.Connect(url, append(opts, nats.Name("mcpwatch-watch-alerts"), nats.Timeout(DefaultConnectTimeout),
		nats.MaxReconnects(-1), nats.ReconnectWait(2*time.Second))...)
	if err != nil {
		return fmt.Errorf("watch alerts: connect to NATS at %s: %w", where, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("watch alerts: JetStream at %s: %w", where, err)
	}
	var cons jetstream.Consumer
	for attempt := 1; ; attempt++ {
		cons, err = js.OrderedConsumer(ctx, AlertsStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: AlertSubjects(severities...),
			DeliverPolicy:  jetstream.DeliverNewPolicy,
		})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("watch alerts on NATS at %s: %w", where, err)
		}
		if !sleep(ctx, backoff(attempt)) {
			return nil
		}
	}
	msgs, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("watch alerts on NATS at %s: %w", where, err)
	}
	stop := context.AfterFunc(ctx, msgs.Stop)
	defer stop()
	for {
		m, err := msgs.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("watch alerts on NATS at %s: %w", where, err)
		}
		if a, err := decodeAlert(m.Data()); err == nil {
			handle(a)
		}
	}
}
