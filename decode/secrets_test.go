package decode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/benchgen"
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

// oraclePatterns are the regular expressions the matchers of secrets.go
// implement, as findSecrets ran them before it matched by hand. It ran
// each only on bodies holding a marker; the markers were literals of the
// expressions, except "gh" for github_token, which "github_pat_" lacks: a
// fine-grained token in a body without "gh" elsewhere went unreported. The
// oracle is the expressions alone.
var oraclePatterns = []struct {
	kind string
	re   *regexp.Regexp
}{
	{"private_key", regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----`)},
	{"aws_access_key", regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"github_token", regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,})\b`)},
	{"slack_token", regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}`)},
	{"google_api_key", regexp.MustCompile(`\bAIza[0-9A-Za-z_\-]{35}`)},
	{"stripe_key", regexp.MustCompile(`\b[sr]k_live_[0-9A-Za-z]{20,}`)},
	{"jwt", regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)},
}

// matchesLikeOracle reports how the matchers differ from the oracle on b:
// in findSecrets' kinds, or in any pattern's list of matches (what
// redaction replaces).
func matchesLikeOracle(b []byte) error {
	var want []string
	for i, o := range oraclePatterns {
		p := secretPatterns[i]
		if p.kind != o.kind {
			return fmt.Errorf("pattern %d is %s, oracle %s", i, p.kind, o.kind)
		}
		wantLocs := o.re.FindAllIndex(b, -1)
		for _, a := range p.anchors {
			var gotLocs [][]int
			for start, end := p.next(b, 0, a); start >= 0; start, end = p.next(b, end, a) {
				gotLocs = append(gotLocs, []int{start, end})
			}
			if !slices.EqualFunc(gotLocs, wantLocs, slices.Equal) {
				return fmt.Errorf("%s matches %v searching %q, oracle %v", p.kind, gotLocs, a.c, wantLocs)
			}
		}
		if wantLocs != nil {
			want = append(want, o.kind)
		}
	}
	if got := findSecrets(b); !slices.Equal(got, want) {
		return fmt.Errorf("findSecrets %v, oracle %v", got, want)
	}
	return nil
}

// secretFragments are the pieces adversarial inputs are made of: the
// patterns' literals and near misses, runs of the lengths their bounds
// sit at, and every class boundary (word, '-', '.', space, quote).
var secretFragments = []string{
	"AKIA", "ASIA", "IA", "AKI", "gh", "ghp_", "gho_", "ghx_", "github_pat_", "github_pa", "xox", "xoxb-", "xoxz-",
	"AIza", "Iza", "sk_live_", "rk_live_", "pk_live_", "_live_", "eyJ", ".eyJ", ".", "-----BEGIN ", "-----BEGIN",
	"PRIVATE KEY-----", "PRIVATE KEY----", "PRIVATE KEY", "-----", "RSA ", "EC ", "rsa ", " ", "-", "_", "\\n", `"`,
	"é", "\x00", "=", "+", "/", "A", "0", "z",
}

// secretInput makes an input of fragments, random runs and near-secrets:
// each pattern's shape with runs one byte short of, at and past its bounds.
func secretInput(rng *rand.Rand) []byte {
	const upper, lower, digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz", "0123456789"
	const upperDigits, alnums, tokenBytes = upper + digits, upper + lower + digits, upper + lower + digits + "_-"
	alphabets := []string{upperDigits, alnums, tokenBytes, "0123456789abcdef", upper + lower + " .,"}
	var b []byte
	run := func(alphabet string, n int) {
		for range n {
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
	}
	near := func(n int) int { return n - 1 + rng.IntN(3) }
	oneOf := func(set string) { b = append(b, set[rng.IntN(len(set))]) }
	shapes := []func(){
		func() {
			b = append(b, "-----BEGIN "...)
			for range rng.IntN(3) {
				run(upperDigits, 1+rng.IntN(3))
				b = append(b, ' ')
			}
			b = append(b, "PRIVATE KEY-----"...)
		},
		func() { b = append(b, []string{"AKIA", "ASIA"}[rng.IntN(2)]...); run(upperDigits, near(16)) },
		func() { b = append(b, "gh"...); oneOf("pousr"); b = append(b, '_'); run(alnums, near(36)) },
		func() { b = append(b, "github_pat_"...); run(tokenBytes[:63], near(60)) },
		func() { b = append(b, "xox"...); oneOf("abprs"); b = append(b, '-'); run(alnums+"-", near(10)) },
		func() { b = append(b, "AIza"...); run(tokenBytes, near(35)) },
		func() { oneOf("sr"); b = append(b, "k_live_"...); run(alnums, near(20)) },
		func() {
			b = append(b, "eyJ"...)
			run(tokenBytes, near(8))
			b = append(b, ".eyJ"...)
			run(tokenBytes, near(8))
			b = append(b, '.')
			run(tokenBytes, near(8))
		},
	}
	for n := rng.IntN(12); n >= 0; n-- {
		switch rng.IntN(3) {
		case 0:
			length := []int{1, 7, 8, 9, 10, 15, 16, 17, 19, 20, 21, 34, 35, 36, 37, 59, 60, 61, rng.IntN(100)}[rng.IntN(19)]
			run(alphabets[rng.IntN(len(alphabets))], length)
		case 1:
			shapes[rng.IntN(len(shapes))]()
		default:
			b = append(b, secretFragments[rng.IntN(len(secretFragments))]...)
		}
	}
	return b
}

// The matchers find exactly what the regular expressions find, where they
// find it, on adversarial and random inputs and on real secrets in text.
func TestSecretPatternsMatchOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 1))
	inputs := [][]byte{
		[]byte("-----BEGIN PRIVATE KEY-----BEGIN RSA PRIVATE KEY-----"),
		[]byte("x-----BEGIN A B C PRIVATE KEY----- -----BEGIN  PRIVATE KEY-----"),
		[]byte("eyJ-eyJabcdefgh.eyJabcdefgh.abcdefgh.eyJabcdefgh.abcdefghij"),
		[]byte("_eyJabcdefgh.eyJabcdefgh.abcdefgh -eyJabcdefgh.eyJabcdefgh.abcdefgh"),
		[]byte("AKIAIOSFODNN7EXAMPLE AKIAIOSFODNN7EXAMPLEX ASIAIOSFODNN7EXAMPL _AKIAIOSFODNN7EXAMPLE -ASIAIOSFODNN7EXAMPLE-"),
		[]byte("github_pat_" + strings.Repeat("a_", 30) + " ghp_" + strings.Repeat("x", 36) + "_"),
		[]byte("xoxb-1234567890 xoxp--------- xoxs-12345678901 AIzaSyA1234567890abcdefghijklmnopqrstuv"),
		[]byte("sk_live_51Habcdefghijklmnopqrstuv rk_live_1234567890123456789 ask_live_51Habcdefghijklmnopqrstuv"),
	}
	for range 20000 {
		inputs = append(inputs, secretInput(rng))
	}
	// Bodies large enough for findSecrets to pick anchors from a sample:
	// secrets in base64, hex and prose that favour one anchor or another.
	bodies := secretScanBodies(3 * anchorSample)
	for _, name := range []string{"base64", "hex", "prose", "logs"} {
		for range 50 {
			body := bytes.Clone(bodies[name])
			for range rng.IntN(4) {
				at := rng.IntN(len(body))
				body = slices.Insert(body, at, secretInput(rng)...)
			}
			inputs = append(inputs, body)
		}
	}
	for _, b := range inputs {
		if err := matchesLikeOracle(b); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
	}
}

func FuzzSecretPatterns(f *testing.F) {
	rng := rand.New(rand.NewPCG(18, 2))
	for range 64 {
		f.Add(secretInput(rng))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := matchesLikeOracle(b); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
	})
}

// secretScanBodies are tool results of the kinds that were dense in the old
// markers ("IA", "gh", '.', 'J'): base64, hex, prose, and log lines; and an
// adversarial one, a third of its bytes anchors.
func secretScanBodies(size int) map[string][]byte {
	logs := strings.Repeat("2026-11-27T10:00:00Z order=81723 customer=acme amount=1299.00 status=shipped\n", size/77)
	wrap := func(text string) []byte {
		quoted, err := json.Marshal(text)
		if err != nil {
			panic(err)
		}
		return append(append([]byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":`), quoted...), `}]}}`...)
	}
	return map[string][]byte{
		"base64":      wrap(benchgen.Base64Text(size)),
		"hex":         wrap(benchgen.HexText(size)),
		"prose":       wrap(benchgen.ProseText(size)),
		"logs":        wrap(logs),
		"adversarial": wrap(strings.Repeat("IA gh .eyJ xox PRIVATE KEY----- _live_ Iza ", size/44)),
	}
}

// BenchmarkFindSecrets scans 4 MB tool results without credentials, the
// common case on the hot path. MB/cpu-s is the rate per CPU-second of the
// process, which other work on a shared machine moves less than wall time.
func BenchmarkFindSecrets(b *testing.B) {
	bodies := secretScanBodies(4 << 20)
	for _, name := range []string{"base64", "hex", "prose", "logs", "adversarial"} {
		body := bodies[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			cpu := processCPU(b)
			for b.Loop() {
				if findSecrets(body) != nil {
					b.Fatal("false positive")
				}
			}
			b.ReportMetric(float64(b.N)*float64(len(body))/1e6/(processCPU(b)-cpu).Seconds(), "MB/cpu-s")
		})
	}
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
