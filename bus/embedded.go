package bus

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded is an in-process nats-server with JetStream, for the all-in-one
// mode and for tests.
type Embedded struct {
	srv *server.Server
}

var _ interface{ InProcessConn() (net.Conn, error) } = (*Embedded)(nil)

// StartEmbedded starts nats-server in this process with JetStream storing
// files under dataDir and no network listener: only this process can reach
// it, through in-process connections (Connect with Config.InProcess, see
// Configure). No other local process can read the events or publish a forged
// alert into the run. ctx bounds only the start-up; call Shutdown to stop
// the server.
func StartEmbedded(ctx context.Context, dataDir string) (*Embedded, error) {
	return startEmbedded(ctx, dataDir, false)
}

// StartEmbeddedListener is StartEmbedded with a listener on 127.0.0.1 at a
// random port (ClientURL), without authentication: for tests and tools that
// connect from outside, never for a sensor's data.
func StartEmbeddedListener(ctx context.Context, dataDir string) (*Embedded, error) {
	return startEmbedded(ctx, dataDir, true)
}

func startEmbedded(ctx context.Context, dataDir string, listen bool) (*Embedded, error) {
	opts := &server.Options{
		ServerName: "mcpwatch-embedded",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		DontListen: !listen,
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

// ClientURL is the nats:// URL clients connect to; empty without a listener.
func (e *Embedded) ClientURL() string {
	if e.srv.Addr() == nil {
		return ""
	}
	return e.srv.ClientURL()
}

// InProcessConn is a connection to the server from inside this process
// (nats.InProcessConnProvider).
func (e *Embedded) InProcessConn() (net.Conn, error) { return e.srv.InProcessConn() }

// Configure points cfg at the server through in-process connections.
func (e *Embedded) Configure(cfg *Config) {
	cfg.InProcess = e
	cfg.URL = ""
}

// Shutdown stops the server and waits until its store is closed, so the data
// directory can be removed or reopened afterwards.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
