package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	f.StringVar(&cfg.Addr, "clickhouse", "127.0.0.1:9000", "ClickHouse native address host:port")
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
	var since time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "alerts [flags]",
		Short: "List recent alerts, filtered by rule, severity or server",
		Long: `alerts prints the stored alerts, newest first. It reads ClickHouse and creates
nothing there: a database that does not exist is an error, not an empty list.`,
		Example: `  mcpwatch alerts --since 24h --severity high,critical
  mcpwatch alerts --rule unexpected-server --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, s := range filter.Severities {
				if err := (&event.Alert{Schema: event.SchemaVersion, AlertID: "-", RuleID: "-", Severity: s}).Validate(); err != nil {
					return fmt.Errorf("--severity %q: want one of %s", s, strings.Join(event.Severities, ", "))
				}
			}
			if since > 0 {
				filter.Since = time.Now().Add(-since)
			}
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
	f.StringVar(&filter.ServerKey, "server", "", "only alerts about this server_key")
	f.DurationVar(&since, "since", 0, "only alerts of the last DURATION, e.g. 24h (by alert time)")
	f.IntVar(&filter.Limit, "limit", 100, "most alerts to print")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per line")
	return cmd
}
