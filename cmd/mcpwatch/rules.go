package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcpwatch/mcpwatch/detect"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/rules"
)

func newRulesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Check and test detection rules",
		Long: `Rules are YAML files (see rules/README.md): each has an id, a severity, a
category, an expr-lang condition over event fields and a type (match,
threshold, new_value, change). The built-in pack is embedded in the binary;
--rules DIR replaces it, --rules-extra DIR adds to it: a rule of an extra pack
replaces the pack's rule of the same id, and a file of it may list ids to turn
off:

  disable: [plaintext-transport, legacy-sse-transport]`,
	}
	cmd.AddCommand(newRulesLintCommand(), newRulesTestCommand(), newRulesExportCommand())
	return cmd
}

func newRulesExportCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "export DIR",
		Short:   "Write the built-in rule pack, its tests and the example allowlist to DIR, to edit or start from",
		Example: `  mcpwatch rules export ./site-rules && mcpwatch run --pcap x.pcap --rules ./site-rules`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				return usage(fmt.Errorf("%s is not empty: export into a new directory", dir))
			}
			if err := os.CopyFS(dir, rules.Default); err != nil {
				return fmt.Errorf("export rules: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "built-in rules written to %s\n", dir)
			return nil
		},
	}
}

// rulesFS is DIR, or the built-in pack when DIR is "-" or absent.
func rulesFS(args []string) (fs.FS, string) {
	if len(args) == 0 || args[0] == "-" {
		return rules.Default, "built-in rules"
	}
	return os.DirFS(args[0]), args[0]
}

func newRulesLintCommand() *cobra.Command {
	var extra bool
	cmd := &cobra.Command{
		Use:   "lint [DIR]",
		Short: "Check rule files for schema and expression errors",
		Long: `lint loads every *.yaml rule file of DIR (default: the built-in pack) and
reports each error with file:line — unknown keys, keys that do not fit the rule
type, expressions that do not compile or name fields events do not have. With
--extra, DIR is checked as a --rules-extra pack on top of the built-in one.`,
		Example: `  mcpwatch rules lint ./my-rules
  mcpwatch rules lint --extra ./site-additions
  mcpwatch rules lint            # the built-in pack`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fsys, name := rulesFS(args)
			if fsys != rules.Default {
				if _, err := os.Stat(name); err != nil {
					return usage(fmt.Errorf("rules lint: %w", err))
				}
			}
			packs := []fs.FS{fsys}
			if extra {
				packs = []fs.FS{rules.Default, fsys}
			}
			errs := detect.Lint(packs...)
			for _, err := range errs {
				fmt.Fprintln(cmd.OutOrStdout(), event.Printable(inDir(args, err.Error())))
			}
			if len(errs) > 0 {
				return fmt.Errorf("%s: lint found %d problem(s)", name, len(errs))
			}
			loaded, err := detect.LoadRules(packs...)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d rules, no problems\n", name, len(loaded))
			return nil
		},
	}
	cmd.Flags().BoolVar(&extra, "extra", false, "check DIR as a --rules-extra pack on top of the built-in one")
	return cmd
}

// inDir puts the directory a lint problem's file is in before it (the
// problem starts "file.yaml:line: …"), so it can be opened from where lint
// ran; the built-in pack's problems stay as they are.
func inDir(args []string, problem string) string {
	file, _, ok := strings.Cut(problem, ":")
	if len(args) == 0 || args[0] == "-" || !ok || !strings.HasSuffix(file, ".yaml") {
		return problem
	}
	return filepath.Join(args[0], file) + problem[len(file):]
}

func newRulesTestCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "test [DIR]",
		Short: "Run the data-driven rule tests of DIR/tests",
		Long: `test replays the events of every test file in DIR/tests through the rules of
DIR and compares the alerts with those each test expects (a positive test
expects its alerts, a negative test none). Every rule should have both.`,
		Example: `  mcpwatch rules test ./my-rules
  mcpwatch rules test            # the built-in pack and its tests`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fsys, name := rulesFS(args)
			tests, err := fs.Sub(fsys, rules.TestsDir)
			if err != nil {
				return err
			}
			report, err := detect.RunTests(tests, fsys)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			failed := report.Failed()
			for _, t := range failed {
				fmt.Fprintf(out, "FAIL %s %s: %s\n", event.Printable(t.Where), event.Printable(t.Name), event.Printable(t.Failure))
			}
			loaded, err := detect.LoadRules(fsys)
			if err != nil {
				return err
			}
			if untested := report.Untested(loaded); len(untested) > 0 {
				fmt.Fprintf(out, "rules without both a positive and a negative test: %s\n", strings.Join(untested, ", "))
			}
			fmt.Fprintf(out, "%s: %d passed, %d failed\n", name, len(report.Results)-len(failed), len(failed))
			if len(failed) > 0 {
				return errors.New("rule tests failed")
			}
			return nil
		},
	}
}
