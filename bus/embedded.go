package bus

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded is an in-process nats-server with JetStream, for the all-in-one
// mode and for tests.
type Embedded struct {
	srv     *server.Server
	dataDir string
	log     *storeWatch
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
		// Signal handlers belong to a standalone nats-server; its logs go to
		// storeWatch.
		NoSigs: true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start embedded NATS in %q: %w", dataDir, err)
	}
	watch := &storeWatch{}
	srv.SetLoggerV2(watch, false, false, false)
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
	return &Embedded{srv: srv, dataDir: dataDir, log: watch}, nil
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

// StoreFailed reports whether a write to the store failed (ENOSPC): the
// stream that failed accepts no more messages, and nats-server may have
// shut JetStream down, until Revive.
func (e *Embedded) StoreFailed() bool { return e.log.failed.Load() || !e.srv.JetStreamEnabled() }

// Revive restarts JetStream after a failed write to the store, recovering
// the streams and consumers from the store as a restart of the server would:
// the clients' retried publishes and fetches go on. Messages the server had
// acknowledged but not yet written when the write failed may be lost (as in
// a crash of the server). Call it once the store's file system has space.
func (e *Embedded) Revive() error {
	if !e.StoreFailed() {
		return nil
	}
	if e.srv.JetStreamEnabled() {
		e.srv.ShutdownJetStream()
	}
	e.log.failed.Store(false)
	if err := e.srv.EnableJetStream(&server.JetStreamConfig{StoreDir: e.dataDir}); err != nil {
		return fmt.Errorf("restart JetStream in %q: %w", e.dataDir, err)
	}
	return nil
}

// storeWatch is the embedded server's logger: it drops the server's logs
// (mcpwatch reports errors itself) but notes a failed write to the store,
// which the server otherwise only logs.
type storeWatch struct{ failed atomic.Bool }

func (w *storeWatch) Errorf(format string, v ...any) {
	if strings.Contains(fmt.Sprintf(format, v...), "failed to store a msg") {
		w.failed.Store(true)
	}
}
func (*storeWatch) Noticef(string, ...any) {}
func (*storeWatch) Warnf(string, ...any)   {}
func (*storeWatch) Fatalf(string, ...any)  {}
func (*storeWatch) Debugf(string, ...any)  {}
func (*storeWatch) Tracef(string, ...any)  {}

// Shutdown stops the server and waits until its store is closed, so the data
// directory can be removed or reopened afterwards.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
