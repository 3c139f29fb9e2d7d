package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunDeadWebhookExit5: run --pcap against a webhook that answers 500
// ends within --feed-wait and the give-up, names the dead-letter file,
// reports 0 lost, and exits 5.
func TestRunDeadWebhookExit5(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer srv.Close()
	dead := filepath.Join(t.TempDir(), "dl")
	start := time.Now()
	r := mcpwatch(t, nil, "run", "--pcap", repoFile("demo.pcap"), "--allowlist", repoFile("demo-allowlist.yaml"),
		"--alert-webhook", srv.URL, "--alert-webhook-secret", "k", "--feed-wait", "1s", "--dead-letter-dir", dead, "--alerts-out", "")
	took := time.Since(start)
	if r.code != 5 {
		t.Fatalf("exit %d, want 5:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"alert feed webhook: delivered 0", "lost 0", filepath.Join(dead, "alerts-webhook.jsonl"), "not delivered to an alert feed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if took > 20*time.Second {
		t.Errorf("run took %s", took)
	}
}
