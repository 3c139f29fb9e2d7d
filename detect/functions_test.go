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
		c := newCompiler()
		prog, err := c.compile(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		e := &Engine{schema: c.schema}
		got, err := e.newEvalCtx(authFailure(1, 0, "10.0.0.7", "")).run(prog)
		if err != nil || got != tc.want {
			t.Errorf("%s = %v, %v; want %v", tc.expr, got, err, tc.want)
		}
	}
}

func TestInCIDRBadPrefix(t *testing.T) {
	c := newCompiler()
	prog, err := c.compile(`in_cidr(server_address, "10.1.0.0/99")`)
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{schema: c.schema}
	e.uses = []*field{c.schema.fields["server_address"]}
	if _, err := e.newEvalCtx(authFailure(1, 0, "10.0.0.7", "")).run(prog); err == nil {
		t.Error("bad prefix evaluated without error")
	}
}
