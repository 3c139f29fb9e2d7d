package sink

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testServer is a ClickHouse server of the test's own, started with
// scripts/clickhouse.sh on free ports, so the test can stop and restart it.
type testServer struct {
	t     *testing.T
	dir   string
	env   []string
	addr  string
	ports [3]int
}

func startTestServer(t *testing.T) *testServer {
	t.Helper()
	s := &testServer{t: t, dir: t.TempDir()}
	for i := range s.ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	s.env = append(os.Environ(),
		"CLICKHOUSE_TCP_PORT="+strconv.Itoa(s.ports[0]),
		"CLICKHOUSE_HTTP_PORT="+strconv.Itoa(s.ports[1]),
		"CLICKHOUSE_INTERSERVER_PORT="+strconv.Itoa(s.ports[2]),
	)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) script(verb string) string {
	cmd := exec.Command("../scripts/clickhouse.sh", verb, s.dir)
	cmd.Env = s.env
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		s.t.Fatalf("clickhouse.sh %s: %v\n%s", verb, err, stderr)
	}
	return strings.TrimSpace(string(out))
}

func (s *testServer) start() { s.addr = s.script("start") }
func (s *testServer) stop()  { s.script("stop") }

// kill crashes the server: SIGKILL, no shutdown, connections cut mid-query.
func (s *testServer) kill() {
	pid, err := os.ReadFile(filepath.Join(s.dir, "clickhouse.pid"))
	if err != nil {
		s.t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(pid)))
	if err != nil {
		s.t.Fatal(err)
	}
	p, err := os.FindProcess(n)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		s.t.Fatal(err)
	}
	// Reap the exit, so the restart finds the ports free.
	for syscall.Kill(n, 0) == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

// Killing ClickHouse in the middle of a stream and starting it again loses
// nothing and duplicates nothing: the BatchWriter retries until the server is
// back, and the rows a lost acknowledgement made it write twice collapse.
func TestBatchWriterSurvivesClickHouseRestart(t *testing.T) {
	testClickHouseAddr(t) // the gate: integration tests are on, so the server binary is here
	srv := startTestServer(t)
	ctx := context.Background()
	c, err := OpenClickHouse(ctx, ClickHouseConfig{Addr: srv.addr, DialTimeout: time.Second, ReadTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := newTestBatchWriter(t, ctx, c, c, BatchConfig{
		MaxRows: 50, MaxDelay: 5 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	defer b.Close()

	evs := manyEvents(400)
	if err := b.WriteEvents(ctx, evs[:200]); err != nil {
		t.Fatal(err)
	}
	srv.kill()
	written := make(chan error, 1)
	go func() { written <- b.WriteEvents(ctx, evs[200:]) }()
	// Restart only once a write has failed, so the outage is really seen.
	for b.Stats().Retries == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	srv.start()
	if err := <-written; err != nil {
		t.Fatal(err)
	}

	db := quoteIdent(c.Database())
	if n := queryUint64(t, c, "SELECT uniqExact(event_id) FROM "+db+".messages"); n != 400 {
		t.Errorf("%d distinct events stored, want 400", n)
	}
	if n := queryUint64(t, c, "SELECT count() FROM "+db+".messages FINAL"); n != 400 {
		t.Errorf("%d rows with FINAL, want 400", n)
	}
	if st := b.Stats(); st.EventsWritten != 400 || st.DeadLetters != 0 {
		t.Errorf("stats %+v: want 400 events written, no dead letters", st)
	}
}
