package main

import (
	"testing"

	"github.com/spf13/cobra"
)

// Every command a user runs shows an example in its --help.
func TestEveryCommandHasAnExample(t *testing.T) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c.HasParent() && c.Example == "" {
			t.Errorf("mcpwatch %s --help shows no example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand())
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"384MiB": 384 << 20, "2GiB": 2 << 30, "65536": 65536, "0": 0, "512KiB": 512 << 10, "10B": 10} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "12XB", "-1MiB", "1.5GiB", "MiB"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
		}
	}
}
