package decode

import (
	"slices"
	"strings"
	"testing"
)

func TestFindSecrets(t *testing.T) {
	const pem = "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\\n-----END OPENSSH PRIVATE KEY-----"
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"tool result with a private key", `{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"` + pem + `"}]}}`, []string{"private_key"}},
		{"arguments with an AWS key", `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"deploy","arguments":{"key":"AKIAIOSFODNN7EXAMPLE"}}}`, []string{"aws_access_key"}},
		{"GitHub and Slack tokens", `{"text":"ghp_0123456789abcdefghijABCDEFGHIJ012345 and xoxb-1234567890-abcdefghij"}`, []string{"github_token", "slack_token"}},
		{"a JWT", `{"t":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl"}`, []string{"jwt"}},
		{"Google and Stripe keys", `{"a":"AIzaSyA1234567890abcdefghijklmnopqrstuv","b":"sk_live_51Habcdefghijklmnopqrstuv"}`, []string{"google_api_key", "stripe_key"}},
		{"look-alikes are not secrets", `{"text":"AKIA is a prefix; ghp_short; -----BEGIN PUBLIC KEY-----; eyJ.eyJ.x"}`, nil},
		{"plain tool output", `{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"quarterly revenue"}]}}`, nil},
	} {
		if got := findSecrets([]byte(c.body)); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// hasMarker finds the marker wherever it sits, as bytes.Contains does.
func TestHasMarker(t *testing.T) {
	i := slices.IndexFunc(secretPatterns, func(p secretPattern) bool { return p.kind == "jwt" })
	jwt := &secretPatterns[i]
	for _, b := range []string{"", "J", ".eyJ", "x.eyJ", ".eyJx", "eyJ.eyJ", "..eyJ", "JJJ.eyyJ", "a.eyj.eyJ", ".ey", "eyJ"} {
		if got, want := jwt.hasMarker([]byte(b)), strings.Contains(b, ".eyJ"); got != want {
			t.Errorf("%q: %v, want %v", b, got, want)
		}
	}
}

// Only messages that carry data are scanned, and the kinds reach the event
// fields through parseBody — never the text.
func TestParseBodyScansToolCallsAndResults(t *testing.T) {
	call := parseBody([]byte(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"deploy","arguments":{"key":"AKIAIOSFODNN7EXAMPLE"}}}`), 0, false, 1<<20)
	list := parseBody([]byte(`{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"cursor":"AKIAIOSFODNN7EXAMPLE"}}`), 0, false, 1<<20)
	if len(call) != 1 || !slices.Equal(call[0].secrets, []string{"aws_access_key"}) {
		t.Errorf("tools/call: %+v", call)
	}
	if len(list) != 1 || list[0].secrets != nil {
		t.Errorf("tools/list request was scanned: %+v", list)
	}
}

// BenchmarkFindSecrets scans a 200 KB tool result without credentials, the
// common case on the hot path.
func BenchmarkFindSecrets(b *testing.B) {
	body := []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"` +
		strings.Repeat("2026-11-27T10:00:00Z order=81723 customer=acme amount=1299.00 status=shipped\\n", 2600) + `"}]}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if findSecrets(body) != nil {
			b.Fatal("false positive")
		}
	}
}
