package alertfeed

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// Webhook headers. The signature covers a timestamp and the body, so a
// captured request cannot be replayed later: a receiver checks the
// signature (VerifyRequest) and refuses a timestamp outside its replay
// window. See README.md for how a receiver verifies, and for what changed
// from the body-only signature of earlier versions.
const (
	// SignatureHeader carries "sha256=" + hex(HMAC-SHA256(secret,
	// timestamp + "." + body)), timestamp being TimestampHeader's value.
	SignatureHeader = "X-Mcpwatch-Signature-256"
	// TimestampHeader carries the time of signing, in Unix seconds.
	TimestampHeader = "X-Mcpwatch-Timestamp"
	// AlertIDHeader carries the alert_id, so a receiver can drop the
	// duplicates that retries may cause.
	AlertIDHeader = "X-Mcpwatch-Alert-Id"
)

// DefaultReplayWindow is how far VerifyRequest lets a timestamp be from
// the receiver's clock, either way.
const DefaultReplayWindow = 5 * time.Minute

// WebhookConfig configures a Webhook. Zero fields take the defaults on each.
type WebhookConfig struct {
	// URL receives one POST per alert (http or https).
	URL string
	// Secret, if set, signs every request (SignatureHeader,
	// TimestampHeader).
	Secret string
	// Format of the body. Default FormatJSON.
	Format Format
	// Headers are added to every request (e.g. an API key).
	Headers map[string]string
	// Timeout bounds one request. Default 10s.
	Timeout time.Duration
	// Retry retries 5xx, 429, 408 and network errors; other answers are
	// final. Default 5 attempts.
	Retry Retry
	// Client sends the requests. Default: a client with Timeout.
	Client *http.Client
}

// Validate fills in defaults and reports the first invalid setting.
func (c *WebhookConfig) Validate() error {
	if c.Format == "" {
		c.Format = FormatJSON
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: c.Timeout}
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		return fmt.Errorf("webhook URL %q: %w", c.URL, err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("webhook URL %q: want http(s)://host/...", c.URL)
	case c.Timeout < 0:
		return errors.New("webhook: timeout must not be negative")
	}
	if err := c.Retry.validate("webhook", 5); err != nil {
		return err
	}
	return c.Format.validate()
}

// Webhook POSTs each alert as JSON to a URL.
type Webhook struct {
	cfg   WebhookConfig
	retry backoff
	now   func() time.Time // the signing clock; tests set it
}

var _ Output = (*Webhook)(nil)

// NewWebhook checks the configuration; it does not contact the URL.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Webhook{cfg: cfg, retry: cfg.Retry.backoff(), now: time.Now}, nil
}

// WriteAlerts posts the alerts one by one, each until it is accepted (2xx)
// or its attempts are used up, and stops at the first that fails.
func (w *Webhook) WriteAlerts(ctx context.Context, as []*event.Alert) error {
	for _, a := range as {
		body, err := w.cfg.Format.encode(a)
		if err != nil {
			return fmt.Errorf("webhook %s: alert %s: %w", w.cfg.URL, a.AlertID, err)
		}
		if err := w.retry.do(ctx, func() error { return w.post(ctx, a.AlertID, body) }); err != nil {
			return fmt.Errorf("webhook %s: alert %s: %w", w.cfg.URL, a.AlertID, err)
		}
	}
	return nil
}

func (w *Webhook) post(ctx context.Context, alertID string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return permanentError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mcpwatch-alertfeed")
	req.Header.Set(AlertIDHeader, alertID)
	if w.cfg.Secret != "" {
		// Signed per attempt: a retry is a new request at a new time.
		ts := strconv.FormatInt(w.now().Unix(), 10)
		req.Header.Set(TimestampHeader, ts)
		req.Header.Set(SignatureHeader, Sign(w.cfg.Secret, ts, body))
	}
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Read a little of the answer for the error, and drain it so the
	// connection is reused.
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("answered %s: %s", resp.Status, strings.TrimSpace(string(answer)))
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		return err
	}
	return permanentError{err}
}

// Close releases idle connections.
func (w *Webhook) Close() error {
	w.cfg.Client.CloseIdleConnections()
	return nil
}

// Sign returns the SignatureHeader value for body sent at timestamp (the
// TimestampHeader value, Unix seconds).
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of VerifyRequest.
var (
	ErrBadSignature = errors.New("webhook signature does not match")
	ErrStale        = errors.New("webhook timestamp outside the replay window")
)

// VerifyRequest checks a received webhook request the way a receiver
// should: the signature over timestamp.body, in constant time, and the
// timestamp within window (DefaultReplayWindow if zero) of now. A receiver
// that also drops alert ids it has seen within the window (AlertIDHeader)
// refuses every replay.
func VerifyRequest(secret string, body []byte, timestamp, signature string, now time.Time, window time.Duration) error {
	if window <= 0 {
		window = DefaultReplayWindow
	}
	if !hmac.Equal([]byte(signature), []byte(Sign(secret, timestamp, body))) {
		return ErrBadSignature
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrStale, timestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return fmt.Errorf("%w: signed %s ago, window %s", ErrStale, d.Round(time.Second), window)
	}
	return nil
}

// VerifyHTTP is VerifyRequest for an http.Request whose body was read.
func VerifyHTTP(secret string, r *http.Request, body []byte, now time.Time, window time.Duration) error {
	return VerifyRequest(secret, body, r.Header.Get(TimestampHeader), r.Header.Get(SignatureHeader), now, window)
}
