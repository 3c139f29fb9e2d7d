package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/inventory"
	"github.com/mcpwatch/mcpwatch/pipeline"
	"github.com/mcpwatch/mcpwatch/sink"
)

func migrate(cmd *cobra.Command, cfg pipeline.Config) error {
	if cfg.ClickHouse.Addr == "" {
		return errors.New("--clickhouse ADDR is required")
	}
	ch, err := sink.OpenClickHouse(cmd.Context(), cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer ch.Close()
	fmt.Fprintf(cmd.ErrOrStderr(), "schema of %s up to date on ClickHouse %s at %s\n", ch.Database(), ch.ServerVersion(), cfg.ClickHouse.Addr)
	return nil
}

func addClickHouseFlags(cmd *cobra.Command, cfg *sink.ClickHouseConfig) {
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "clickhouse", "127.0.0.1:9000", "ClickHouse native address host:port; several servers of one cluster separated by commas, tried in order")
	f.StringVar(&cfg.Database, "clickhouse-database", "mcpwatch", "ClickHouse database")
	f.StringVar(&cfg.Username, "clickhouse-user", "default", "ClickHouse user")
	f.StringVar(&cfg.Password, "clickhouse-password", "", "ClickHouse password")
}

// listCommand is a read-only command listing inventory rows, from an
// events file or a capture (inventory.Builder) or from ClickHouse's views.
type listCommand[T any] struct {
	use, short, long, example string
	fromFile                  func(*inventory.Builder) ([]T, error)
	fromStore                 func(*sink.ClickHouse, context.Context) ([]T, error)
	print                     func(io.Writer, []T) error
}

func (l listCommand[T]) command() *cobra.Command {
	var src querySource
	var asJSON bool
	cmd := &cobra.Command{
		Use: l.use + " (--events FILE | --pcap FILE | --clickhouse ADDR) [flags]", Short: l.short, Example: l.example,
		Long: l.long + `

It reads an events JSONL file (--events), decodes a capture (--pcap), or
queries ClickHouse (--clickhouse, the default), where it creates nothing: a
database that does not exist is an error, not an empty list.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rows, err := l.rows(cmd, &src)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSONLines(cmd.OutOrStdout(), rows)
			}
			return l.print(cmd.OutOrStdout(), rows)
		},
	}
	addQuerySourceFlags(cmd, &src)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	return cmd
}

func (l listCommand[T]) rows(cmd *cobra.Command, src *querySource) ([]T, error) {
	fromFile, err := src.fromFile()
	if err != nil {
		return nil, err
	}
	if fromFile {
		b := inventory.NewBuilder()
		if err := src.eachEvent(cmd.Context(), b.Observe); err != nil {
			return nil, err
		}
		return l.fromFile(b)
	}
	ch, err := src.store(cmd)
	if err != nil {
		return nil, err
	}
	defer ch.Close()
	return l.fromStore(ch, cmd.Context())
}

// Wire strings are escaped for the terminal (event.Printable); --json
// output is JSON, escaped by its encoder.
var p = event.Printable

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func newAlertsCommand() *cobra.Command {
	var cfg sink.ClickHouseConfig
	var filter sink.AlertFilter
	var since sinceFlag
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "alerts [flags]",
		Short: "List recent alerts, filtered by rule, severity or server",
		Long: `alerts prints the stored alerts, newest first. It reads ClickHouse and creates
nothing there: a database that does not exist is an error, not an empty list.`,
		Example: `  mcpwatch alerts --since 24h --severity high,critical
  mcpwatch alerts --since 7d --server 10.0.0.9 --json
  mcpwatch alerts --server '*.corp.example' --rule unexpected-server`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for i, sev := range filter.Severities {
				filter.Severities[i] = strings.ToLower(sev)
				if !slices.Contains(event.Severities, filter.Severities[i]) {
					return usage(fmt.Errorf("--severity %q: want one of %s", sev, strings.Join(event.Severities, ", ")))
				}
			}
			filter.Since = since.from(time.Now())
			ch, err := (&querySource{ch: cfg}).store(cmd)
			if err != nil {
				return err
			}
			defer ch.Close()
			alerts, err := ch.Alerts(cmd.Context(), filter)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSONLines(cmd.OutOrStdout(), alerts)
			}
			p := event.Printable
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tSEVERITY\tRULE\tSERVER\tCLIENT\tSUMMARY")
			for _, a := range alerts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.TS.Format(time.RFC3339), p(a.Severity), p(a.RuleID), p(a.ServerKey), p(a.ClientAddress), p(a.Summary))
			}
			return tw.Flush()
		},
	}
	addClickHouseFlags(cmd, &cfg)
	f := cmd.Flags()
	f.StringVar(&filter.RuleID, "rule", "", "only this rule id")
	f.StringSliceVar(&filter.Severities, "severity", nil, "only these severities (low, medium, high, critical)")
	f.StringVar(&filter.Server, "server", "", "only alerts about this server: a server_key, a host, host:port, or a glob of either (*.corp.example)")
	f.Var(&since, "since", "only alerts since then (by alert time): a duration back from now (90m, 24h, 7d, 2w) or a date or time (2026-12-01, 2026-12-01T08:00:00Z)")
	f.IntVar(&filter.Limit, "limit", 100, "most alerts to print")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per line")
	return cmd
}

// sinceFlag is --since: a duration back from now, with d (days) and w
// (weeks) besides Go's units, or an RFC 3339 date or time.
type sinceFlag struct {
	back time.Duration
	at   time.Time
	text string
}

func (f *sinceFlag) String() string { return f.text }
func (f *sinceFlag) Type() string   { return "since" }

func (f *sinceFlag) Set(v string) error {
	f.text = v
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			f.at = t
			return nil
		}
	}
	if n, unit := strings.TrimRight(v, "dw"), strings.TrimLeft(v, "0123456789"); unit == "d" || unit == "w" {
		days, err := strconv.Atoi(n)
		if err != nil {
			return fmt.Errorf("%q: want e.g. 7d", v)
		}
		f.back = time.Duration(days) * 24 * time.Hour
		if unit == "w" {
			f.back *= 7
		}
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("%q: want a duration (90m, 24h, 7d, 2w) or a date (2026-12-01)", v)
	}
	f.back = d
	return nil
}

// from is the time --since names, seen at now; zero when not given.
func (f *sinceFlag) from(now time.Time) time.Time {
	if f.back > 0 {
		return now.Add(-f.back)
	}
	return f.at
}
