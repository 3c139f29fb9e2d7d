package main

import (
	"fmt"
	"maps"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// bindConfig fills every flag the command line left unset from the
// environment (MCPWATCH_<FLAG_NAME>) and then from the --config YAML file,
// so one precedence rule holds for every subcommand: flag > env > file >
// default.
//
// One file serves every command: a key sets the flag of that name where
// the command has one and is ignored by the commands that do not (a
// sensor's pcap by servers, say). A key that is a flag of no mcpwatch
// command is an error, so a misspelt key does not pass unnoticed.
func bindConfig(cmd *cobra.Command) error {
	file := map[string]any{}
	if path, _ := cmd.Flags().GetString("config"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read config: %w", err)
		}
		if err := yaml.Unmarshal(data, &file); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
	}
	var errs []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := setFlag(f, v); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", envName(f.Name), err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := setFlagFromYAML(f, v); err != nil {
				errs = append(errs, fmt.Sprintf("config key %q: %v", f.Name, err))
			}
		}
	})
	known := flagNames(cmd.Root())
	for key := range file {
		if !known[key] {
			errs = append(errs, fmt.Sprintf("config key %q is not a flag of any mcpwatch command", key))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}

// flagNames is every flag name of cmd and the commands under it.
func flagNames(cmd *cobra.Command) map[string]bool {
	names := map[string]bool{}
	add := func(f *pflag.Flag) { names[f.Name] = true }
	cmd.Flags().VisitAll(add)
	cmd.PersistentFlags().VisitAll(add)
	for _, sub := range cmd.Commands() {
		maps.Copy(names, flagNames(sub))
	}
	return names
}

func envName(flag string) string {
	return "MCPWATCH_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// setFlag sets a flag from a text value; repeatable flags take a
// comma-separated list, as on the command line.
func setFlag(f *pflag.Flag, v string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.Replace(splitList(v))
	}
	return f.Value.Set(v)
}

func setFlagFromYAML(f *pflag.Flag, v any) error {
	list, isList := v.([]any)
	if !isList {
		return setFlag(f, fmt.Sprint(v))
	}
	sv, ok := f.Value.(pflag.SliceValue)
	if !ok {
		return fmt.Errorf("takes one value, not a list")
	}
	items := make([]string, len(list))
	for i, item := range list {
		items[i] = fmt.Sprint(item)
	}
	return sv.Replace(items)
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
