package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded is an in-process nats-server with JetStream, for the all-in-one
// mode and for tests.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts nats-server in this process with JetStream storing
// files under dataDir, listening on 127.0.0.1 at a random port. ctx bounds
// only the start-up; call Shutdown to stop the server.
func StartEmbedded(ctx context.Context, dataDir string) (*Embedded, error) {
	opts := &server.Options{
		ServerName: "mcpwatch-embedded",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   dataDir,
		// The server's own logs and signal handlers belong to a standalone
		// nats-server; in-process, mcpwatch reports errors itself.
		NoLog:  true,
		NoSigs: true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start embedded NATS in %q: %w", dataDir, err)
	}
	go srv.Start()

	wait := 10 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		wait = time.Until(deadline)
	}
	if !srv.ReadyForConnections(wait) || !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("start embedded NATS in %q: %w", dataDir, err)
		}
		return nil, fmt.Errorf("start embedded NATS in %q: not ready with JetStream after %s", dataDir, wait)
	}
	return &Embedded{srv: srv}, nil
}

// ClientURL is the nats:// URL clients connect to.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Shutdown stops the server and waits until its store is closed, so the data
// directory can be removed or reopened afterwards.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
