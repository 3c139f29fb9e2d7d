package decode

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	testJWT    = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
	testOpaque = "mcp_pat_7Hq2ZkP9wXr4LmN8vB3tYc6D"
)

func TestRedactText(t *testing.T) {
	for _, c := range []struct {
		name, in, known, want string
		kinds                 []string
	}{
		{"prose stays", "The access token expired", "", "The access token expired", nil},
		{"error codes stay", `Bearer realm="mcp", error="invalid_token", error_description="expired"`, "",
			`Bearer realm="mcp", error="invalid_token", error_description="expired"`, nil},
		{"the exchange's own credential", "unauthorized: rvk_9f1c2e7d4b3a is revoked", "rvk_9f1c2e7d4b3a",
			"unauthorized: [REDACTED:credential] is revoked", []string{"credential"}},
		{"a token after the word token", "invalid token rvk_9f1c2e7d4b3a", "",
			"invalid token [REDACTED:token]", []string{"token"}},
		{"key=value", "upstream refused access_token=abc123def&x=1", "",
			"upstream refused access_token=[REDACTED:access_token]&x=1", []string{"access_token"}},
		{"JSON key", `{"password": "hunter2hunter2", "user": "bob"}`, "",
			`{"password": "[REDACTED:password]", "user": "bob"}`, []string{"password"}},
		{"key: token", "client_secret: s3cr3t-value-42", "",
			"client_secret: [REDACTED:client_secret]", []string{"client_secret"}},
		{"key: prose", "token: expired", "", "token: expired", nil},
		{"bearer in prose", "sent Authorization: Bearer " + testOpaque, "",
			"sent Authorization: Bearer [REDACTED:bearer]", []string{"bearer"}},
		{"a JWT anywhere", "token " + testJWT + " has wrong audience", "",
			"token [REDACTED:jwt] has wrong audience", []string{"jwt"}},
		{"an AWS key", "cannot use AKIAIOSFODNN7EXAMPLE here", "",
			"cannot use [REDACTED:aws_access_key] here", []string{"aws_access_key"}},
		{"an opaque token", "lookup of " + testOpaque + "Zz failed", "",
			"lookup of [REDACTED:opaque_token] failed", []string{"opaque_token"}},
		{"a URL in a challenge", `Bearer resource_metadata="https://a.example/prm?access_token=abc", error_description="token rvk_9f1c2e7d4b3a revoked"`, "",
			`Bearer resource_metadata="https://a.example/prm?access_token=[REDACTED:access_token]", error_description="token [REDACTED:token] revoked"`,
			[]string{"access_token", "token"}},
		{"URLs and ports are not values", "connect to http://10.0.0.5:8080/mcp failed: key: /etc/x", "",
			"connect to http://10.0.0.5:8080/mcp failed: key: /etc/x", nil},
		{"uuids and digests stay", "request 3f2b8c1e-4a5d-4e6f-9a0b-1c2d3e4f5a6b sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "",
			"request 3f2b8c1e-4a5d-4e6f-9a0b-1c2d3e4f5a6b sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", nil},
		{"already redacted", "token [REDACTED:token]", "", "token [REDACTED:token]", nil},
	} {
		r := redactor{known: c.known}
		got := r.text(c.in)
		if got != c.want || !slices.Equal(r.kinds, c.kinds) {
			t.Errorf("%s:\n got %q %v\nwant %q %v", c.name, got, r.kinds, c.want, c.kinds)
		}
	}
}

func TestRedactURI(t *testing.T) {
	for _, c := range []struct {
		in, want string
		kinds    []string
	}{
		{"file:///reports/q3.csv", "file:///reports/q3.csv", nil},
		{"https://files.example/q3.csv?access_token=" + testOpaque + "&format=csv",
			"https://files.example/q3.csv?access_token=[REDACTED:access_token]&format=csv", []string{"access_token"}},
		{"https://s3.example/b/k?X-Amz-Credential=AK%2F2026&X-Amz-Signature=abcdef0123&X-Amz-Expires=300",
			"https://s3.example/b/k?X-Amz-Credential=[REDACTED:x_amz_credential]&X-Amz-Signature=[REDACTED:x_amz_signature]&X-Amz-Expires=300",
			[]string{"x_amz_credential", "x_amz_signature"}},
		{"https://app.example/cb?code=code-1&state=s1#id_token=" + testJWT,
			"https://app.example/cb?code=[REDACTED:code]&state=s1#id_token=[REDACTED:id_token]", []string{"code", "id_token"}},
		{"https://blob.example/c?sv=2024&sig=Zm9vYmFy&se=2026", "https://blob.example/c?sv=2024&sig=[REDACTED:sig]&se=2026", []string{"sig"}},
		{"postgres://admin:hunter2@db.example:5432/app", "postgres://admin:[REDACTED:password]@db.example:5432/app", []string{"password"}},
		{"https://x.example/api?my_api_key=k1&GITHUB_TOKEN=g&pwd=p&key=", "https://x.example/api?my_api_key=[REDACTED:my_api_key]&GITHUB_TOKEN=[REDACTED:github_token]&pwd=[REDACTED:pwd]&key=",
			[]string{"my_api_key", "github_token", "pwd"}},
		{"/mcp/" + testJWT + "/stream", "/mcp/[REDACTED:jwt]/stream", []string{"jwt"}},
		{"https://x.example/?sessionId=abc&cursor=2", "https://x.example/?sessionId=abc&cursor=2", nil},
	} {
		r := redactor{}
		got := r.uri(c.in)
		if got != c.want || !slices.Equal(r.kinds, c.kinds) {
			t.Errorf("%s:\n got %q %v\nwant %q %v", c.in, got, r.kinds, c.want, c.kinds)
		}
	}
}

func TestSafeURIPart(t *testing.T) {
	for in, want := range map[string]string{
		"files.corp.example:8080": "files.corp.example:8080",
		"evil\x1b[2J.example":     "evil%1B[2J.example",
		"a\r\nX-Forged: 1":        "a%0D%0AX-Forged:%201",
		"c1\u009bx\u202e\xff":     "c1%C2%9Bx%E2%80%AE%FF",
		"/mcp/ünïcode":            "/mcp/ünïcode",
	} {
		if got := safeURIPart(in); got != want {
			t.Errorf("safeURIPart(%q) = %q, want %q", in, got, want)
		}
	}
}

// The credential of a request, quoted by its server in a JSON-RPC error,
// a resources/read URI and a 401 challenge, reaches no event field; the
// events name the kinds instead.
func TestDecoderRedactsCredentials(t *testing.T) {
	const tok = "rvk_9f1c2e7d4b3a0c5e"
	raw := demoRaw(t)
	d, evs := collect(t, Config{})
	w := newWire(d, 1)
	w.initialize(raw, "S1")
	authz := map[string]string{"Mcp-Session-Id": "S1", "Authorization": "Bearer " + tok, "Content-Type": "application/json"}
	w.send(hop{method: "POST", reqHeader: authz, status: 200, respHeader: map[string]string{"Content-Type": "application/json"},
		body:     `{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"https://files.example/q3.csv?access_token=` + tok + `"}}`,
		respBody: `{"jsonrpc":"2.0","id":7,"error":{"code":-32002,"message":"upstream rejected ` + tok + ` for https://files.example/q3.csv?access_token=` + tok + `"}}`})
	w.send(hop{method: "POST", reqHeader: authz, body: `{"jsonrpc":"2.0","id":8,"method":"tools/list"}`, status: 401,
		respHeader: map[string]string{"WWW-Authenticate": `Bearer error="invalid_token", error_description="The access token ` + tok + ` is revoked"`}})
	w.send(hop{method: "POST", target: "/mcp/" + testJWT, host: "evil\x1b[2J.example", reqHeader: authz, status: 200,
		body: `{"jsonrpc":"2.0","id":9,"method":"ping"}`})
	w.close()
	d.Finish(w.now.Add(time.Hour))
	kinds := map[string]bool{}
	fields := map[string]bool{}
	for _, ev := range *evs {
		j, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(j), tok) || strings.Contains(string(j), tok[:12]) || strings.Contains(string(j), testJWT) {
			t.Errorf("credential in event: %s", j)
		}
		if strings.Contains(string(j), `\u001b`) {
			t.Errorf("raw ESC in event: %s", j)
		}
		for _, k := range ev.SecretKinds {
			kinds[k] = true
		}
		for f, v := range map[string]string{"error_message": ev.ErrorMessage, "resource_uri": ev.ResourceURI, "www_authenticate": ev.WWWAuthenticate, "server_key": ev.ServerKey} {
			if strings.Contains(v, redactPrefix) {
				fields[f] = true
			}
		}
	}
	for _, k := range []string{"access_token", "credential", "jwt"} {
		if !kinds[k] {
			t.Errorf("secret_kinds lack %q: %v", k, kinds)
		}
	}
	for _, f := range []string{"error_message", "resource_uri", "www_authenticate", "server_key"} {
		if !fields[f] {
			t.Errorf("no redaction marker in %s", f)
		}
	}
	if d.Stats().Redacted < 4 {
		t.Errorf("Stats.Redacted = %d", d.Stats().Redacted)
	}
}

func BenchmarkRedactURIClean(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		r := redactor{}
		if r.uri("/mcp") != "/mcp" {
			b.Fatal("changed")
		}
	}
}
