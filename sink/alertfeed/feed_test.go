package alertfeed

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

var quiet = slog.New(slog.DiscardHandler)

func newTestFeed(t *testing.T, out Output) *Feed {
	t.Helper()
	f, err := NewFeed(out, FeedConfig{Name: "test", DeadLetterPath: filepath.Join(t.TempDir(), "dead", "alerts.jsonl"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// readDeadLetters reads a dead-letter file; none when it does not exist.
func readDeadLetters(t *testing.T, path string) []DeadLetter {
	t.Helper()
	file, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var out []DeadLetter
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d DeadLetter
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("dead letter %q: %v", sc.Text(), err)
		}
		out = append(out, d)
	}
	return out
}

// TestFeedDeadLettersClientErrors: a 4xx answer other than 408 and 429 is
// final — the alert goes to the dead-letter file after one request and
// the next alert is delivered; 408 and 429 are retried.
func TestFeedDeadLettersClientErrors(t *testing.T) {
	for _, tc := range []struct {
		status     int
		dead       bool
		requests   int
		deliveries int64
	}{
		{http.StatusBadRequest, true, 2, 1},
		{http.StatusRequestEntityTooLarge, true, 2, 1},
		{http.StatusNotFound, true, 2, 1},
		{http.StatusRequestTimeout, false, 3, 2},
		{http.StatusTooManyRequests, false, 3, 2},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			r := newReceiver(t, "k", tc.status)
			f := newTestFeed(t, newTestWebhook(t, WebhookConfig{URL: r.srv.URL, Secret: "k"}))
			as := []*event.Alert{testAlert(1), testAlert(2)}
			if err := f.WriteAlerts(context.Background(), as); err != nil {
				t.Fatal(err)
			}
			dead := readDeadLetters(t, f.DeadLetterPath())
			st := f.Stats()
			if r.requests() != tc.requests || st.Delivered != tc.deliveries || (len(dead) == 1) != tc.dead || st.DeadLettered.Permanent != int64(len(dead)) {
				t.Fatalf("%d requests, stats %+v, dead letters %+v", r.requests(), st, dead)
			}
			if tc.dead && (dead[0].Alert.AlertID != as[0].AlertID || dead[0].Reason != "permanent" || dead[0].Feed != "test" ||
				!strings.Contains(dead[0].Error, "answered "+strconv.Itoa(tc.status))) {
				t.Errorf("dead letter %+v", dead[0])
			}
		})
	}
}

// TestFeedServerErrorsRetryThenGiveUp: 500s are retried by the webhook and
// then handed back to the bus (an error) — the alert is neither lost nor
// dead-lettered — until GiveUp, after which the redelivered batch goes to
// the dead-letter file with the last error.
func TestFeedServerErrorsRetryThenGiveUp(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "database down", http.StatusInternalServerError)
	}))
	defer srv.Close()
	f := newTestFeed(t, newTestWebhook(t, WebhookConfig{URL: srv.URL, Retry: Retry{Attempts: 3}}))
	as := []*event.Alert{testAlert(1), testAlert(2)}
	for range 2 { // the bus redelivers a failed batch
		if err := f.WriteAlerts(context.Background(), as); err == nil || IsPermanent(err) {
			t.Fatalf("WriteAlerts = %v, want a transient error", err)
		}
	}
	if got := requests.Load(); got != 6 {
		t.Errorf("%d requests, want 3 attempts per delivery", got)
	}
	if dead := readDeadLetters(t, f.DeadLetterPath()); len(dead) != 0 {
		t.Fatalf("dead letters before GiveUp: %+v", dead)
	}
	f.GiveUp("feed wait of 1s ended")
	if err := f.WriteAlerts(context.Background(), as); err != nil {
		t.Fatal(err)
	}
	dead := readDeadLetters(t, f.DeadLetterPath())
	if len(dead) != 2 || dead[0].Reason != "undelivered" || !strings.Contains(dead[0].Error, "feed wait of 1s ended") ||
		!strings.Contains(dead[0].Error, "database down") {
		t.Fatalf("dead letters %+v", dead)
	}
	if st := f.Stats(); st.DeadLettered.Undelivered != 2 || st.Delivered != 0 || st.TransientErrors != 2 {
		t.Errorf("stats %+v", st)
	}
	// Redelivered again (an ack lost): nothing is written twice.
	if err := f.WriteAlerts(context.Background(), as); err != nil {
		t.Fatal(err)
	}
	if dead := readDeadLetters(t, f.DeadLetterPath()); len(dead) != 2 {
		t.Errorf("%d dead letters after a redelivery, want 2", len(dead))
	}
}

// TestFeedGiveUpCancelsAHangingReceiver: a receiver that never answers
// holds a delivery only until GiveUp, which dead-letters the alert at once.
func TestFeedGiveUpCancelsAHangingReceiver(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	f := newTestFeed(t, newTestWebhook(t, WebhookConfig{URL: srv.URL, Timeout: time.Minute}))
	done := make(chan error, 1)
	go func() { done <- f.WriteAlerts(context.Background(), []*event.Alert{testAlert(1), testAlert(2)}) }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	f.GiveUp("feed wait ended")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WriteAlerts still blocked 5s after GiveUp")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("GiveUp took %s to end the delivery", d)
	}
	if dead := readDeadLetters(t, f.DeadLetterPath()); len(dead) != 2 || dead[0].Reason != "undelivered" {
		t.Errorf("dead letters %+v", dead)
	}
}

// TestFeedRedeliveryDoesNotResend: when the bus redelivers a batch that
// failed part way, the alerts already delivered are not posted again.
func TestFeedRedeliveryDoesNotResend(t *testing.T) {
	// Alert 1 is taken, alert 2 fails its two attempts, then all is well.
	r := newReceiver(t, "", 200, 500, 500)
	f := newTestFeed(t, newTestWebhook(t, WebhookConfig{URL: r.srv.URL, Retry: Retry{Attempts: 2}}))
	as := []*event.Alert{testAlert(1), testAlert(2), testAlert(3)}
	if err := f.WriteAlerts(context.Background(), as); err == nil {
		t.Fatal("want the 500s to fail the batch")
	}
	if err := f.WriteAlerts(context.Background(), as); err != nil {
		t.Fatal(err)
	}
	want := []string{as[0].AlertID, as[1].AlertID, as[1].AlertID, as[1].AlertID, as[2].AlertID}
	if !slices.Equal(r.ids, want) {
		t.Errorf("receiver got %v, want %v", r.ids, want)
	}
	if st := f.Stats(); st.Delivered != 3 || st.TransientErrors != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestFeedDeadLetterUnwritable: a dead letter that cannot be written is
// not acknowledged: the alert is handed back for redelivery.
func TestFeedDeadLetterUnwritable(t *testing.T) {
	r := newReceiver(t, "", 400)
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := NewFeed(newTestWebhook(t, WebhookConfig{URL: r.srv.URL}), FeedConfig{Name: "test", DeadLetterPath: filepath.Join(blocker, "dead.jsonl"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.WriteAlerts(context.Background(), []*event.Alert{testAlert(1)}); err == nil || !strings.Contains(err.Error(), "dead letter") {
		t.Errorf("WriteAlerts = %v, want the dead-letter error", err)
	}
	if st := f.Stats(); st.DeadLetterErrors != 1 || st.DeadLettered.Permanent != 0 {
		t.Errorf("stats %+v", st)
	}
}
