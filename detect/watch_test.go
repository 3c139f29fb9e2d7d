package detect

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

type reload struct {
	a   *Allowlist
	err error
}

func TestWatchAllowlist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "allowlist.yaml")
	write := func(content string) {
		t.Helper()
		// Replace by rename, as editors and ConfigMap updates do.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("servers: [http://a.example/mcp]\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloads := make(chan reload, 8)
	done := make(chan error, 1)
	w := newAllowlistWatcher(path)
	go func() {
		done <- w.run(ctx, 5*time.Millisecond, func(a *Allowlist, err error) { reloads <- reload{a, err} })
	}()
	next := func() reload {
		t.Helper()
		select {
		case r := <-reloads:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal("no reload")
			return reload{}
		}
	}
	b := &event.Event{ServerKey: "http://b.example/mcp"}

	write("servers: [http://b.example/mcp]\n")
	if r := next(); r.err != nil || !r.a.Allowed(b) {
		t.Fatalf("after change: %+v", r)
	}
	write("servers: [10.0.0.0/33]\n")
	if r := next(); r.err == nil {
		t.Fatal("broken file reloaded without error")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if r := next(); r.err == nil {
		t.Fatal("missing file reported without error")
	}
	write("servers: [http://b.example/mcp]\n")
	if r := next(); r.err != nil || !r.a.Allowed(b) {
		t.Fatalf("after fix: %+v", r)
	}
	select {
	case r := <-reloads:
		t.Fatalf("reload without a change: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("watch returned %v", err)
	}
}
