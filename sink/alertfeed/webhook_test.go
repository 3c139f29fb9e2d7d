package alertfeed

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// receiver is a real HTTP server that answers with the statuses it is given,
// in order (then 200), and records what it got.
type receiver struct {
	t       *testing.T
	secret  string
	mu      sync.Mutex
	answers []int
	bodies  [][]byte
	ids     []string
	srv     *httptest.Server
}

func newReceiver(t *testing.T, secret string, answers ...int) *receiver {
	r := &receiver{t: t, secret: secret, answers: answers}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.t.Error(err)
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("got %s with Content-Type %q", req.Method, req.Header.Get("Content-Type"))
	}
	if r.secret != "" {
		if err := VerifyHTTP(r.secret, req, body, time.Now(), 0); err != nil {
			r.t.Errorf("signature %q at %q: %v", req.Header.Get(SignatureHeader), req.Header.Get(TimestampHeader), err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies = append(r.bodies, body)
	r.ids = append(r.ids, req.Header.Get(AlertIDHeader))
	status := http.StatusOK
	if len(r.answers) > 0 {
		status, r.answers = r.answers[0], r.answers[1:]
	}
	w.WriteHeader(status)
}

func (r *receiver) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func newTestWebhook(t *testing.T, cfg WebhookConfig) *Webhook {
	t.Helper()
	cfg.Retry.MinBackoff, cfg.Retry.MaxBackoff = time.Millisecond, 2*time.Millisecond
	w, err := NewWebhook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestWebhookPostsSignedAlerts(t *testing.T) {
	r := newReceiver(t, "s3cret")
	w := newTestWebhook(t, WebhookConfig{URL: r.srv.URL + "/hook", Secret: "s3cret"})
	want := []*event.Alert{testAlert(1), testAlert(2)}
	if err := w.WriteAlerts(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	if len(r.bodies) != len(want) {
		t.Fatalf("receiver got %d requests, want %d", len(r.bodies), len(want))
	}
	for i, body := range r.bodies {
		got, err := event.DecodeAlert(body)
		if err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("alert %d arrived as %+v, want %+v", i, got, want[i])
		}
		if r.ids[i] != want[i].AlertID {
			t.Errorf("%s = %q, want %q", AlertIDHeader, r.ids[i], want[i].AlertID)
		}
	}
}

// TestWebhookSignatureCoversTimestampAndBody: the signature verifies with
// its own secret, timestamp and body only, and a timestamp outside the
// replay window is refused even with a good signature.
func TestWebhookSignatureCoversTimestampAndBody(t *testing.T) {
	body := []byte(`{"alert_id":"a"}`)
	now := time.Unix(1_785_000_000, 0)
	ts := "1785000000"
	sig := Sign("k1", ts, body)
	if err := VerifyRequest("k1", body, ts, sig, now, 0); err != nil {
		t.Errorf("own signature: %v", err)
	}
	for _, tc := range []struct {
		name, secret, ts string
		body             []byte
	}{
		{"other secret", "k2", ts, body},
		{"other body", "k1", ts, []byte(`{"alert_id":"b"}`)},
		{"other timestamp", "k1", "1785000001", body},
	} {
		if err := VerifyRequest(tc.secret, tc.body, tc.ts, sig, now, 0); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", tc.name, err)
		}
	}
	// The body-only signature of earlier versions no longer verifies.
	mac := hmac.New(sha256.New, []byte("k1"))
	mac.Write(body)
	if err := VerifyRequest("k1", body, ts, "sha256="+hex.EncodeToString(mac.Sum(nil)), now, 0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("body-only signature: %v, want ErrBadSignature", err)
	}
	for _, skew := range []time.Duration{DefaultReplayWindow + time.Second, -DefaultReplayWindow - time.Second} {
		if err := VerifyRequest("k1", body, ts, sig, now.Add(skew), 0); !errors.Is(err, ErrStale) {
			t.Errorf("replayed %s later: %v, want ErrStale", skew, err)
		}
	}
	if err := VerifyRequest("k1", body, ts, sig, now.Add(DefaultReplayWindow-time.Second), 0); err != nil {
		t.Errorf("inside the window: %v", err)
	}
}

// TestWebhookSignsEachAttempt: a retry carries a fresh timestamp, so a
// receiver with a short replay window still takes a late retry.
func TestWebhookSignsEachAttempt(t *testing.T) {
	var mu sync.Mutex
	var stamps []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := VerifyHTTP("k", r, body, time.Unix(2_000_000_010, 0), 0); err != nil {
			t.Errorf("attempt: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		stamps = append(stamps, r.Header.Get(TimestampHeader))
		if len(stamps) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	w := newTestWebhook(t, WebhookConfig{URL: srv.URL, Secret: "k"})
	clock := int64(2_000_000_000)
	w.now = func() time.Time { clock += 5; return time.Unix(clock, 0) }
	if err := w.WriteAlerts(context.Background(), []*event.Alert{testAlert(1)}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"2000000005", "2000000010"}; !slices.Equal(stamps, want) {
		t.Errorf("timestamps %v, want %v", stamps, want)
	}
}

func TestWebhookRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answers  []int
		attempts int
		wantErr  bool
		requests int
	}{
		{"server errors then success", []int{503, 500, 429}, 5, false, 4},
		{"client error is final", []int{400}, 5, true, 1},
		{"gives up after its attempts", []int{500, 500, 500, 500}, 3, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, "", tc.answers...)
			w := newTestWebhook(t, WebhookConfig{URL: r.srv.URL, Retry: Retry{Attempts: tc.attempts}})
			err := w.WriteAlerts(context.Background(), []*event.Alert{testAlert(1)})
			if (err != nil) != tc.wantErr {
				t.Errorf("WriteAlerts = %v, want error: %v", err, tc.wantErr)
			}
			if got := r.requests(); got != tc.requests {
				t.Errorf("receiver got %d requests, want %d", got, tc.requests)
			}
		})
	}
}

func TestWebhookOCSF(t *testing.T) {
	r := newReceiver(t, "")
	w := newTestWebhook(t, WebhookConfig{URL: r.srv.URL, Format: FormatOCSF})
	if err := w.WriteAlerts(context.Background(), []*event.Alert{testAlert(1)}); err != nil {
		t.Fatal(err)
	}
	want, err := MarshalOCSF(testAlert(1))
	if err != nil {
		t.Fatal(err)
	}
	if string(r.bodies[0]) != string(want) {
		t.Errorf("body %s, want the OCSF finding %s", r.bodies[0], want)
	}
}

func TestWebhookConfigRejects(t *testing.T) {
	for _, cfg := range []WebhookConfig{
		{},
		{URL: "ftp://example/hook"},
		{URL: "http:///nohost"},
		{URL: "http://example/hook", Format: "xml"},
	} {
		if _, err := NewWebhook(cfg); err == nil {
			t.Errorf("NewWebhook(%+v) succeeded", cfg)
		}
	}
}
