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
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// Webhook headers. The signature is GitHub's scheme, which most receivers
// (SOAR platforms, serverless functions) already know how to check.
const (
	// SignatureHeader carries "sha256=" + hex(HMAC-SHA256(secret, body)).
	SignatureHeader = "X-Mcpwatch-Signature-256"
	// AlertIDHeader carries the alert_id, so a receiver can drop the
	// duplicates that retries may cause.
	AlertIDHeader = "X-Mcpwatch-Alert-Id"
)

// WebhookConfig configures a Webhook. Zero fields take the defaults on each.
type WebhookConfig struct {
	// URL receives one POST per alert (http or https).
	URL string
	// Secret, if set, signs every body (SignatureHeader).
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
}

var _ Output = (*Webhook)(nil)

// NewWebhook checks the configuration; it does not contact the URL.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Webhook{cfg: cfg, retry: cfg.Retry.backoff()}, nil
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
		req.Header.Set(SignatureHeader, Sign(w.cfg.Secret, body))
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

// Sign returns the SignatureHeader value for body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature reports whether header is the signature of body, in
// constant time; for receivers, and for tests.
func VerifySignature(secret string, body []byte, header string) bool {
	return hmac.Equal([]byte(header), []byte(Sign(secret, body)))
}
