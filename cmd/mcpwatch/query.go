package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/pipeline"
	"github.com/mcpwatch/mcpwatch/sink"
)

// openStore connects to ClickHouse for the query commands; it applies the
// migrations, so querying an empty server works and shows nothing.
func openStore(cmd *cobra.Command, cfg sink.ClickHouseConfig) (*sink.ClickHouse, error) {
	if cfg.Addr == "" {
		return nil, errors.New("--clickhouse ADDR is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return sink.OpenClickHouse(cmd.Context(), cfg)
}

func migrate(cmd *cobra.Command, cfg pipeline.Config) error {
	ch, err := openStore(cmd, cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer ch.Close()
	fmt.Fprintf(cmd.ErrOrStderr(), "schema of %s up to date on ClickHouse %s at %s\n", ch.Database(), ch.ServerVersion(), cfg.ClickHouse.Addr)
	return nil
}

func addClickHouseFlags(cmd *cobra.Command, cfg *sink.ClickHouseConfig, defaultAddr string) {
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "clickhouse", defaultAddr, "ClickHouse native address host:port")
	f.StringVar(&cfg.Database, "clickhouse-database", "mcpwatch", "ClickHouse database")
	f.StringVar(&cfg.Username, "clickhouse-user", "default", "ClickHouse user")
	f.StringVar(&cfg.Password, "clickhouse-password", "", "ClickHouse password")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newServersCommand() *cobra.Command {
	var cfg sink.ClickHouseConfig
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "servers [flags]",
		Short: "List the MCP server inventory with its authorization posture",
		Long: `servers prints every MCP server seen, most recently seen first, with what the
traffic says of its posture: negotiated protocol versions, whether requests
succeed without credentials, 401 challenges, Protected Resource Metadata served,
token audiences, and how many clients, sessions and tool calls it had.`,
		Example: `  mcpwatch servers --clickhouse 127.0.0.1:9000
  mcpwatch servers --json | jq '.[] | select(.auth_required | not) | .server_key'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ch, err := openStore(cmd, cfg)
			if err != nil {
				return err
			}
			defer ch.Close()
			servers, err := ch.Servers(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), servers)
			}
			// Wire strings are escaped for the terminal (event.Printable);
			// --json output is JSON, escaped by its encoder.
			p := event.Printable
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVER\tNAME\tPROTOCOL\tAUTH\tUNAUTH OK\t401s\tPRM\tCLIENTS\tTOOL CALLS\tLAST SEEN")
			for _, s := range servers {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\t%s\n",
					p(s.ServerKey), p(strings.TrimSpace(s.ServerName+" "+s.ServerVersion)), event.PrintableList(s.ProtocolVersions, ","),
					yesNo(s.AuthRequired, "required", "none"), s.UnauthenticatedOK, s.Challenges, yesNo(s.PRMServed, "yes", "no"),
					s.Clients, s.ToolCalls, s.LastSeen.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	addClickHouseFlags(cmd, &cfg, "127.0.0.1:9000")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	return cmd
}

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
			ch, err := openStore(cmd, cfg)
			if err != nil {
				return err
			}
			defer ch.Close()
			alerts, err := ch.Alerts(cmd.Context(), filter)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), alerts)
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
	addClickHouseFlags(cmd, &cfg, "127.0.0.1:9000")
	f := cmd.Flags()
	f.StringVar(&filter.RuleID, "rule", "", "only this rule id")
	f.StringSliceVar(&filter.Severities, "severity", nil, "only these severities (low, medium, high, critical)")
	f.StringVar(&filter.ServerKey, "server", "", "only alerts about this server_key")
	f.DurationVar(&since, "since", 0, "only alerts of the last DURATION, e.g. 24h (by alert time)")
	f.IntVar(&filter.Limit, "limit", 100, "most alerts to print")
	f.BoolVar(&asJSON, "json", false, "print JSON for scripts")
	return cmd
}
