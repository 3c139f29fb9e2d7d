package bus_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mcpwatch/mcpwatch/bus"
)

// The embedded server of `mcpwatch run` has no network listener: nothing
// else on the machine can subscribe to its events or publish an alert into
// it; the run itself connects in-process.
func TestEmbeddedHasNoListener(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := bus.StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	if u := e.ClientURL(); u != "" {
		t.Fatalf("embedded server listens at %s", u)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:4222", 200*time.Millisecond); err == nil {
		c.Close() // another server of the machine, not ours: ours has no address at all
	}
	cfg := bus.Config{Logger: testLogger(t)}
	e.Configure(&cfg)
	b, err := bus.Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("in-process connect: %v", err)
	}
	defer b.Close()
	r := newRun(t)
	publishAll(t, b, r.events(3))
	if st := b.Stats(); st.Published != 3 {
		t.Errorf("published %d over the in-process connection, want 3", st.Published)
	}
}

// An external server that requires a user and password: the password comes
// from a file, connects, and a wrong one fails without the password in the
// error.
func TestPasswordFromFile(t *testing.T) {
	const user, secret = "sensor", "s3cret-Pa55word-xyz"
	s := startServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		Username: user, Password: secret, NoLog: true, NoSigs: true})
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	os.WriteFile(good, []byte(secret+"\n"), 0o600)
	os.WriteFile(bad, []byte("wrong-"+secret+"\n"), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	b, err := bus.Connect(ctx, bus.Config{URL: s.ClientURL(), Auth: bus.Auth{User: user, PasswordFile: good}, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("connect with the password file: %v", err)
	}
	b.Close()
	_, err = bus.Connect(ctx, bus.Config{URL: s.ClientURL(), Auth: bus.Auth{User: user, PasswordFile: bad}, Logger: testLogger(t)})
	if err == nil {
		t.Fatal("a wrong password connected")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error quotes the password: %v", err)
	}
	// Without credentials the server refuses too.
	if _, err := bus.Connect(ctx, bus.Config{URL: s.ClientURL(), Logger: testLogger(t)}); err == nil {
		t.Error("connected without credentials")
	}
	// A URL with a password in it is redacted in errors.
	u := strings.Replace(s.ClientURL(), "nats://", "nats://"+user+":wrong-"+secret+"@", 1)
	if _, err := bus.Connect(ctx, bus.Config{URL: u, Logger: testLogger(t)}); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("URL with a wrong password: %v", err)
	}
}
