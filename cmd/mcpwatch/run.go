package main

import (
	"os"
	"os/signal"
	"syscall"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mcpwatch/mcpwatch/pipeline"
)

func newRunCommand() *cobra.Command {
	cfg := pipeline.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "run --pcap FILE [--pcap FILE…] [flags]",
		Short: "Capture, decode, detect and store in one process (embedded NATS by default)",
		Long: `run is the all-in-one mode: it reads capture files, reconstructs MCP sessions,
publishes events to NATS JetStream (an in-process server unless --nats is given),
runs the detection rules as a JetStream consumer and writes events and alerts to
JSONL and, with --clickhouse, to ClickHouse.

With --pcap it exits when every event and alert has been delivered, and prints a
summary: packets, flows, MCP sessions, the servers found and alerts by rule.
Replaying the same capture gives the same events (same event_ids) and alerts.`,
		Example: `  # Analyse a capture; flag servers that are not on the allowlist
  mcpwatch run --pcap testdata/demo.pcap --allowlist testdata/demo-allowlist.yaml

  # Keep the events and alerts as JSONL
  mcpwatch run --pcap span.pcapng --events-out events.jsonl --alerts-out -

  # Use an external NATS cluster and store into ClickHouse
  mcpwatch run --pcap span.pcap --nats nats://nats-1:4222 --clickhouse 127.0.0.1:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			cfg.ReloadAllowlist = hup
			summary, err := pipeline.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			summary.Print(cmd.ErrOrStderr())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&cfg.Pcaps, "pcap", nil, "pcap or pcapng file to analyse (repeatable)")
	f.StringVar(&cfg.AllowlistPath, "allowlist", "", "YAML allowlist of approved servers (servers: server_key, host:port, CIDR or glob); reloaded on change and on SIGHUP")
	f.StringVar(&cfg.RulesDir, "rules", "", "directory of rule files replacing the built-in rule pack")
	f.StringVar(&cfg.EventsOut, "events-out", "", "write events as JSONL to this file (- = stdout)")
	f.StringVar(&cfg.AlertsOut, "alerts-out", "-", "write alerts as JSONL to this file (- = stdout, empty = none)")
	f.StringVar(&cfg.Bus.URL, "nats", "", "external NATS URL (default: an embedded server)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "JetStream store of the embedded NATS server (default: a temporary directory)")
	f.StringVar(&cfg.ClickHouse.Addr, "clickhouse", "", "ClickHouse native address host:port to store events and alerts in")
	f.StringVar(&cfg.ClickHouse.Database, "clickhouse-database", "mcpwatch", "ClickHouse database (created if missing)")
	f.StringVar(&cfg.Sensor, "sensor", "", "sensor name carried in every event (default: hostname)")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address, e.g. 127.0.0.1:9108 (default off)")
	f.StringVar(&cfg.TokenKeyFile, "token-key-file", defaultTokenKeyFile(), "HMAC key for bearer-token fingerprints (created if missing)")
	return cmd
}

// defaultTokenKeyFile keeps the fingerprint key in the user's config
// directory, so token_ids stay comparable across runs.
func defaultTokenKeyFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "mcpwatch", "token.key")
}
