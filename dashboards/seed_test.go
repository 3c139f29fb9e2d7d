package dashboards

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/gopacket/pcapgo"

	"github.com/mcpwatch/mcpwatch/internal/scenario"
	"github.com/mcpwatch/mcpwatch/internal/tcprec"
	"github.com/mcpwatch/mcpwatch/internal/testenv"
	"github.com/mcpwatch/mcpwatch/pipeline"
	"github.com/mcpwatch/mcpwatch/sink"
)

// The seed: real captures laid out one after the other on the afternoon of
// testdata/demo.pcap, so that panels see several servers, sessions and
// alerts at known times whatever day the test runs.
var (
	// demoStart is when testdata/demo.pcap was recorded; it is read as is.
	demoStart = time.Date(2026, 11, 27, 17, 31, 28, 0, time.UTC)
	// authStart: scenario.RunAuth, an OAuth-protected go-sdk server
	// (secure.corp.example) with PRM, challenges, and an audience-bound
	// token; recorded by the test and moved here.
	authStart = time.Date(2026, 11, 27, 17, 36, 0, 0, time.UTC)
	// rugPullStart: scenario.RunRugPull, a server (docs.corp.example) that
	// redefines search_docs and adds fetch_notes mid-session.
	rugPullStart = time.Date(2026, 11, 27, 17, 41, 0, 0, time.UTC)
	// mixedStart: testdata/decode/mixed-nonmcp.pcap, the demo's files
	// server again next to TLS and non-MCP HTTP connections.
	mixedStart = time.Date(2026, 11, 27, 17, 46, 0, 0, time.UTC)
)

// seed runs the pipeline over the seed captures into a database of its own
// (see store).
func seed(t *testing.T) driver.Conn {
	t.Helper()
	testenv.ClickHouseAddr(t) // skip before recording when there is no ClickHouse
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	auth := recordScenario(ctx, t, dir, "auth", authStart, func(ctx context.Context, rec *tcprec.Recorder) error {
		_, err := scenario.RunAuth(ctx, rec)
		return err
	})
	rugPull := recordScenario(ctx, t, dir, "rugpull", rugPullStart, scenario.RunRugPull)
	mixed := filepath.Join(dir, "mixed.pcap")
	if err := shiftPcap("../testdata/decode/mixed-nonmcp.pcap", mixed, mixedStart); err != nil {
		t.Fatal(err)
	}
	return store(ctx, t, "../testdata/demo.pcap", auth, rugPull, mixed)
}

// store runs the pipeline over pcaps, with the demo allowlist, into a new
// database dropped when the test ends, and returns a connection whose
// default database it is, as the datasource's defaultDatabase would be.
func store(ctx context.Context, t *testing.T, pcaps ...string) driver.Conn {
	t.Helper()
	addr := testenv.ClickHouseAddr(t)
	db := fmt.Sprintf("mcpwatch_dash_%d", time.Now().UnixNano())
	cfg := pipeline.DefaultConfig()
	cfg.Sensor = "dashboards-test"
	cfg.Pcaps = pcaps
	cfg.AllowlistPath = "../testdata/demo-allowlist.yaml"
	cfg.TokenKeyFile = filepath.Join(t.TempDir(), "token.key")
	cfg.ClickHouse = sink.ClickHouseConfig{Addr: addr, Database: db}
	t.Cleanup(func() { dropDatabase(t, addr, db) })
	if _, err := pipeline.Run(ctx, cfg); err != nil {
		t.Fatalf("store %v in %s: %v", pcaps, db, err)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Auth: clickhouse.Auth{Database: db}})
	if err != nil {
		t.Fatalf("connect to ClickHouse at %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func dropDatabase(t *testing.T, addr, db string) {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}})
	if err != nil {
		t.Errorf("connect to ClickHouse at %s to drop %s: %v", addr, db, err)
		return
	}
	defer conn.Close()
	if err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
		t.Errorf("drop database %s: %v", db, err)
	}
}

// recordScenario plays a scenario of real go-sdk clients and servers and
// writes its capture, moved to start at start.
func recordScenario(ctx context.Context, t *testing.T, dir, name string, start time.Time, play func(context.Context, *tcprec.Recorder) error) string {
	t.Helper()
	rec := &tcprec.Recorder{}
	if err := play(ctx, rec); err != nil {
		t.Fatalf("scenario %s: %v", name, err)
	}
	recorded := filepath.Join(dir, name+".recorded.pcap")
	if err := scenario.WriteCapture(recorded, rec); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name+".pcap")
	if err := shiftPcap(recorded, out, start); err != nil {
		t.Fatal(err)
	}
	return out
}

// shiftPcap copies a pcap file, moving every packet's timestamp by the
// same amount so that the first packet is at start.
func shiftPcap(src, dst string, start time.Time) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	w := pcapgo.NewWriterNanos(out)
	if err := w.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	var shift time.Duration
	for first := true; ; first = false {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", src, err)
		}
		if first {
			shift = start.Sub(ci.Timestamp)
		}
		ci.Timestamp = ci.Timestamp.Add(shift)
		if err := w.WritePacket(ci, data); err != nil {
			return fmt.Errorf("write %s: %w", dst, err)
		}
	}
	return out.Close()
}
