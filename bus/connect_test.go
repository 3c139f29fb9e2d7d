package bus_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mcpwatch/mcpwatch/bus"
)

// An unreachable server gives one line naming the URL, without its
// credentials, within the connect timeout — both when nothing listens and
// when something listens but never speaks NATS.
func TestConnectUnreachable(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := closed.Addr().String()
	closed.Close()

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold the connection open, say nothing
		}
	}()

	for _, tc := range []struct{ name, url, where string }{
		{"refused", "nats://mcp:s3cret@" + refusedAddr, "nats://mcp:xxxxx@" + refusedAddr},
		{"silent", "nats://" + silent.Addr().String(), "nats://" + silent.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := bus.Config{URL: tc.url, ConnectTimeout: 500 * time.Millisecond, Logger: testLogger(t)}
			done := make(chan error, 1)
			go func() {
				b, err := bus.Connect(context.Background(), cfg)
				if err == nil {
					b.Close()
				}
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Connect to an unreachable server did not return within 10s")
			}
			if err == nil {
				t.Fatal("Connect to an unreachable server succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "connect to NATS at "+tc.where+": ") || strings.Contains(msg, "\n") || strings.Contains(msg, "s3cret") {
				t.Errorf("error %q: want one line starting %q, without the password", msg, "connect to NATS at "+tc.where+": ")
			}
		})
	}
}

// A server without JetStream is reachable but useless: the error says which
// stream could not be set up, and where.
func TestConnectWithoutJetStream(t *testing.T) {
	s := startServer(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := bus.Connect(ctx, bus.Config{URL: s.ClientURL(), Logger: testLogger(t)})
	want := "ensure stream MCPWATCH_EVENTS at " + s.ClientURL() + ": "
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("Connect to a server without JetStream: %v, want one line starting %q", err, want)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  bus.Config
		ok   bool
	}{
		{"defaults", bus.Config{URL: "nats://127.0.0.1:4222"}, true},
		{"no url", bus.Config{}, false},
		{"too many partitions", bus.Config{URL: "nats://x", Partitions: 5000}, false},
		{"negative partitions", bus.Config{URL: "nats://x", Partitions: -1}, false},
		{"replicas 3", bus.Config{URL: "nats://x", Replicas: 3}, true},
		{"replicas 7", bus.Config{URL: "nats://x", Replicas: 7}, false},
		{"negative max bytes", bus.Config{URL: "nats://x", MaxBytes: -1}, false},
		{"negative async max", bus.Config{URL: "nats://x", PublishAsyncMax: -1}, false},
		{"dup window beyond max age", bus.Config{URL: "nats://x", MaxAge: time.Minute, DuplicateWindow: time.Hour}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestConsumerConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  bus.ConsumerConfig
		ok   bool
	}{
		{"defaults", bus.ConsumerConfig{Durable: "detect"}, true},
		{"no durable", bus.ConsumerConfig{}, false},
		{"dotted durable", bus.ConsumerConfig{Durable: "detect.0"}, false},
		{"wildcard durable", bus.ConsumerConfig{Durable: "detect*"}, false},
		{"tiny ack wait", bus.ConsumerConfig{Durable: "d", AckWait: time.Millisecond}, false},
		{"negative batch", bus.ConsumerConfig{Durable: "d", BatchSize: -1}, false},
		{"negative max deliver", bus.ConsumerConfig{Durable: "d", MaxDeliver: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// A server older than MinServerVersion fails Connect with one line naming
// its version and the minimum. The server is a stand-in that speaks just
// enough of the NATS protocol (INFO, then PONG to the client's PING) to
// announce a 2.8 release, of which no build is at hand.
func TestConnectTooOldServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "INFO {\"server_id\":\"old\",\"version\":\"2.8.4\",\"proto\":1,\"headers\":true,\"max_payload\":1048576,\"jetstream\":true}\r\n")
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(line, "PING") {
				fmt.Fprint(c, "PONG\r\n")
			}
		}
	}()
	url := "nats://" + ln.Addr().String()
	_, err = bus.Connect(context.Background(), bus.Config{URL: url, Logger: testLogger(t)})
	want := "NATS at " + url + ": nats-server 2.8.4 is too old: mcpwatch needs " + bus.MinServerVersion + " or later"
	if err == nil || err.Error() != want {
		t.Errorf("Connect to a 2.8.4 server: %v, want %q", err, want)
	}
}
