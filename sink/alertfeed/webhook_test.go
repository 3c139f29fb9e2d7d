package alertfeed

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
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
	if r.secret != "" && !VerifySignature(r.secret, body, req.Header.Get(SignatureHeader)) {
		r.t.Errorf("bad signature %q", req.Header.Get(SignatureHeader))
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

func TestWebhookSignatureDependsOnSecretAndBody(t *testing.T) {
	body := []byte(`{"alert_id":"a"}`)
	sig := Sign("k1", body)
	if !VerifySignature("k1", body, sig) {
		t.Error("signature does not verify with its own secret")
	}
	if VerifySignature("k2", body, sig) || VerifySignature("k1", []byte(`{"alert_id":"b"}`), sig) {
		t.Error("signature verifies with another secret or body")
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
