package detect

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
)

// TestFunctions evaluates the rule-expression helpers through expr, as
// rules call them.
func TestFunctions(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{`loopback("127.0.0.1")`, true},
		{`loopback("::1")`, true},
		{`loopback("[::1]")`, true},
		{`loopback("LOCALHOST")`, true},
		{`loopback("mcp.localhost")`, true},
		{`loopback("10.0.0.1")`, false},
		{`loopback("localhost.corp.example")`, false},
		{`in_cidr("10.1.2.3", "10.1.0.0/16")`, true},
		{`in_cidr("::ffff:10.1.2.3", "10.1.0.0/16")`, true},
		{`in_cidr("10.2.2.3", "10.1.0.0/16")`, false},
		{`in_cidr("files.corp.example", "10.1.0.0/16")`, false},
		{`url_host("http://[::1]:8080/mcp") == "::1"`, true},
		{`url_host("https://Files.corp.example/mcp") == "Files.corp.example"`, true},
		{`audience_names(["https://files.corp.example/mcp"], "https://files.corp.example:443/mcp/")`, true},
		{`audience_names(["https://files.corp.example"], "https://files.corp.example/mcp")`, true},
		{`audience_names(["https://files.corp.example/m"], "https://files.corp.example/mcp")`, false},
		{`audience_names(["https://files.corp.example/mcp"], "http://files.corp.example/mcp")`, false},
		{`audience_names([], "https://files.corp.example/mcp")`, false},
	} {
		got, err := evalExpr(t, tc.expr, authFailure(1, 0, "10.0.0.7", ""))
		if err != nil || got != tc.want {
			t.Errorf("%s = %v, %v; want %v", tc.expr, got, err, tc.want)
		}
	}
}

func TestInCIDRBadPrefix(t *testing.T) {
	if _, err := evalExpr(t, `in_cidr(server_address, "10.1.0.0/99")`, authFailure(1, 0, "10.0.0.7", "")); err == nil {
		t.Error("bad prefix evaluated without error")
	}
}

// evalExpr evaluates a rule expression over ev.
func evalExpr(t *testing.T, src string, ev *event.Event) (any, error) {
	t.Helper()
	return compileExpr(t, src)(ev)
}

// compileExpr compiles a rule expression into a function of an event.
func compileExpr(t *testing.T, src string) func(*event.Event) (any, error) {
	t.Helper()
	c := newCompiler()
	prog, err := c.compile(src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	e, err := NewEngine(Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.uses = e.schema.lookup(c.schema.identifiers(src))
	e.cur.init(e)
	return func(ev *event.Event) (any, error) { return e.begin(ev).run(prog) }
}

// TestMatchesRemembered: a constant pattern answers through its memo as
// the regexp does, the second time too, for case-folded and invalid UTF-8
// text alike; a value that is not a string is an evaluation error.
func TestMatchesRemembered(t *testing.T) {
	patterns := []string{`(?i)user`, `^read\b.{0,5}key`, `[\x{200B}-\x{200F}]`, `.`}
	inputs := []string{"", "the USER", "the uſer", "read my key", "read a b c d e f key", "zero\u200bwidth", "\xff\xfe"}
	ev := authFailure(1, 0, "10.0.0.7", "")
	for _, p := range patterns {
		src := fmt.Sprintf("tool_name matches %q", p)
		eval := compileExpr(t, src)
		for _, in := range inputs {
			ev.ToolName = in
			want := regexp.MustCompile(p).MatchString(in)
			for range 2 {
				if got, err := eval(ev); err != nil || got != want {
					t.Errorf("%q matches %q = %v, %v; want %v", in, p, got, err, want)
				}
			}
		}
	}
	ev.TokenAud = []string{"aud"}
	if _, err := evalExpr(t, `any(token_aud, {let x = # == "aud" ? 1 : "a"; x matches "a"})`, ev); err == nil {
		t.Error("a number matched a pattern without error")
	}
}

func TestMemoBounded(t *testing.T) {
	m := newMemo(strings.ToUpper)
	for i := range 2 * memoBudget / memoEntryBytes {
		arg := strconv.Itoa(i)
		if got := m.get(arg); got != arg {
			t.Fatalf("get(%q) = %q", arg, got)
		}
		if m.bytes > memoBudget {
			t.Fatalf("memo holds %d bytes, budget %d", m.bytes, memoBudget)
		}
	}
	if got := m.get("abc"); got != "ABC" {
		t.Errorf(`get("abc") = %q`, got)
	}
}
