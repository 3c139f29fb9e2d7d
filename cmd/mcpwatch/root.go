package main

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "mcpwatch",
		Short: "Passive sensor and detection pipeline for Model Context Protocol traffic",
		Long: `mcpwatch watches MCP (Model Context Protocol) traffic passively — from pcap
files or a span port — reconstructs MCP JSON-RPC sessions, publishes events over
NATS JetStream to rule-based detectors, and writes events and alerts to JSONL
and ClickHouse.

Every flag can also be set by an environment variable (MCPWATCH_ + the flag
name in upper case, dashes as underscores: --events-out → MCPWATCH_EVENTS_OUT)
or by a key of the YAML file given with --config (the flag name as key).
Flags win over the environment, which wins over the config file. One file
serves every command: a key is ignored by the commands without that flag,
and a key that is a flag of no command is an error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("config", "", "YAML config file whose keys are flag names")
	root.PersistentFlags().String("log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().String("cpu-profile", "", "write a pprof CPU profile of the command to this file")
	root.PersistentFlags().String("memory-limit", "384MiB", "soft limit of the Go heap (KiB, MiB, GiB; 0 = none); GOMEMLIMIT in the environment wins unless this flag is given")
	var stopProfile func() error
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := cmp.Or(bindConfig(cmd), setupLogging(cmd), setMemoryLimit(cmd)); err != nil {
			return usage(err)
		}
		var err error
		stopProfile, err = startCPUProfile(cmd)
		return err
	}
	root.PersistentPostRunE = func(*cobra.Command, []string) error { return stopProfile() }
	root.AddCommand(newRunCommand(), newTapCommand(), newSensorCommand(), newDetectCommand(), newStoreCommand(), newServersCommand(), newPostureCommand(), newToolsCommand(), newClientsCommand(), newManifestsCommand(), newProbeCommand(), newAlertsCommand(), newReportCommand(), newRulesCommand(), newVersionCommand())
	// A command line mcpwatch cannot place is a usage error (exit status
	// 2), whichever command it is for; so is no command at all.
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		cmd.Help()
		return usage(errors.New("a command is required (see above)"))
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage(err) })
	markArgsUsage(root)
	return root
}

// markArgsUsage makes the positional-argument errors of cmd and its
// subcommands usage errors.
func markArgsUsage(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error { return usageOrNil(check(c, args)) }
	}
	for _, sub := range cmd.Commands() {
		markArgsUsage(sub)
	}
}

func usageOrNil(err error) error {
	if err == nil {
		return nil
	}
	return usage(err)
}

func startCPUProfile(cmd *cobra.Command) (stop func() error, err error) {
	path, _ := cmd.Flags().GetString("cpu-profile")
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// setMemoryLimit makes the garbage collector keep the heap under the limit:
// the data every stage holds is capped, but garbage would otherwise let the
// process grow to twice its live heap.
func setMemoryLimit(cmd *cobra.Command) error {
	f := cmd.Flags().Lookup("memory-limit")
	if _, env := os.LookupEnv("GOMEMLIMIT"); env && !f.Changed {
		return nil
	}
	limit, err := parseBytes(f.Value.String())
	if err != nil {
		return fmt.Errorf("--memory-limit: %w", err)
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	return nil
}

// parseBytes reads a size such as 384MiB, 2GiB, 65536 or 0.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}, {"", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n < 0 {
				break
			}
			return n * u.mult, nil
		}
	}
	return 0, fmt.Errorf("%q: want a size such as 384MiB, 2GiB or 0", s)
}

func setupLogging(cmd *cobra.Command) error {
	name, _ := cmd.Flags().GetString("log-level")
	var level slog.Level
	if err := level.UnmarshalText([]byte(name)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", name)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	return nil
}
