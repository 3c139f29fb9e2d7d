package main

import (
	"testing"
	"time"

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

// --since takes a duration back from now with days and weeks, or a date or
// time; nonsense is refused.
func TestSinceFlag(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"90m":                  now.Add(-90 * time.Minute),
		"24h":                  now.Add(-24 * time.Hour),
		"7d":                   now.Add(-7 * 24 * time.Hour),
		"2w":                   now.Add(-14 * 24 * time.Hour),
		"2026-12-01":           time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		"2026-12-01T08:00:00Z": time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC),
	} {
		var f sinceFlag
		if err := f.Set(in); err != nil || !f.from(now).Equal(want) {
			t.Errorf("--since %s: %v, %v; want %v", in, f.from(now), err, want)
		}
	}
	for _, bad := range []string{"d", "7x", "-1h", "yesterday", "1.5d"} {
		var f sinceFlag
		if err := f.Set(bad); err == nil {
			t.Errorf("--since %s accepted", bad)
		}
	}
}
