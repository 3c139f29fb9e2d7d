package detect

import "testing"

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
		got, err := evalExpr(t, tc.expr)
		if err != nil || got != tc.want {
			t.Errorf("%s = %v, %v; want %v", tc.expr, got, err, tc.want)
		}
	}
}

func TestInCIDRBadPrefix(t *testing.T) {
	if _, err := evalExpr(t, `in_cidr(server_address, "10.1.0.0/99")`); err == nil {
		t.Error("bad prefix evaluated without error")
	}
}

// evalExpr evaluates a rule expression over an event of authFailure.
func evalExpr(t *testing.T, src string) (any, error) {
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
	return e.begin(authFailure(1, 0, "10.0.0.7", "")).run(prog)
}
