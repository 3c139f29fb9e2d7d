package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/pipeline"
)

// reloadSignal delivers SIGHUP, which reloads the allowlist, until the
// returned stop is called.
func reloadSignal() (<-chan os.Signal, func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup, func() { signal.Stop(hup) }
}

func newRunCommand() *cobra.Command {
	cfg := pipeline.DefaultConfig()
	var out *outputFlags
	var in *inputFlags
	cmd := &cobra.Command{
		Use:   "run [FILE…] (--pcap FILE | --iface NAME | --tap FORMAT:FILE)… [flags]",
		Short: "Capture, decode, detect and store in one process (embedded NATS by default)",
		Long: `run is the all-in-one mode: it reads capture files or interfaces, reconstructs
MCP sessions, publishes events to NATS JetStream (an in-process server unless
--nats is given), runs the detection rules as a JetStream consumer and writes
events and alerts to JSONL, ClickHouse (--clickhouse) and alert feeds.

With --pcap it exits when every event and alert has been delivered, and prints a
summary: packets, flows, MCP sessions, the servers found, alerts by rule, rule
errors, and what each alert feed delivered. Alert feeds get --feed-wait after
the alerts are stored; what a feed has not delivered by then, and what its
receiver refused for good (HTTP 4xx but 408/429, a message too large), is in
its dead-letter file (--dead-letter-dir) and makes the exit status 5 when the
input was files.
Replaying the same capture gives the same events (same event_ids) and alerts.
With --iface it runs until interrupted (Ctrl-C, SIGTERM), then delivers what it
read and prints the summary.

A damaged capture file does not end the run: a record header (pcap) or block
(pcapng) that cannot be right is skipped up to the next valid record, frames of
an unsupported link type are skipped, and every other packet is read and
delivered; the later files are read too. Exit status: 0 when every input was
read; 3 when records were skipped as damaged or a file was cut short inside a
record (the summary names the file, the byte offset, the record and the bytes
skipped); 2 when the run could not start (bad flags, an unreadable input); 1 on
an error that stopped the run, or a file whose reading failed part way (after
what was read was delivered); 6 with --fail-on SEVERITY when alerts of that
severity or higher were raised. Capture files may be given as arguments too.`,
		Example: `  # Analyse a capture; flag servers that are not on the allowlist
  mcpwatch run testdata/demo.pcap --allowlist testdata/demo-allowlist.yaml

  # A CI gate: exit status 6 when an alert of high severity or more is raised
  mcpwatch run --pcap capture.pcapng.gz --fail-on high --alerts-out alerts.jsonl

  # Keep the events and alerts as JSONL
  mcpwatch run --pcap span.pcapng --events-out events.jsonl --alerts-out alerts.jsonl

  # Watch a span port, store into ClickHouse, feed alerts to the SIEM
  mcpwatch run --iface eth1 --clickhouse 127.0.0.1:9000 --alert-syslog udp://siem:514 --metrics-addr 127.0.0.1:9108`,
		RunE: func(cmd *cobra.Command, files []string) error {
			cfg.Pcaps = append(cfg.Pcaps, files...)
			return runAll(cmd, &cfg, in, out)
		},
	}
	f := cmd.Flags()
	in = addInputFlags(f, &cfg)
	addRuleFlags(f, &cfg)
	out = addOutputFlags(f, &cfg, "-")
	addFeedWaitFlag(f, &cfg)
	addFailOnFlag(f, out)
	addSummaryJSONFlag(f, &out.summaryJSON)
	addBusFlags(f, &cfg, true)
	addMetricsFlag(f, &cfg)
	return cmd
}

// addFailOnFlag adds --fail-on to a command that ends with runAll.
func addFailOnFlag(f *pflag.FlagSet, out *outputFlags) {
	f.StringVar(&out.failOn, "fail-on", "", "exit with status 6 when an alert of this severity or higher was raised: "+strings.Join(event.Severities, ", ")+" (a CI gate)")
}

func addFeedWaitFlag(f *pflag.FlagSet, cfg *pipeline.Config) {
	f.DurationVar(&cfg.FeedWait, "feed-wait", pipeline.DefaultFeedWait, "how long the alert feeds may take to deliver once the input is read; then what is undelivered is dead-lettered")
}

// runAll is the body of run and tap.
func runAll(cmd *cobra.Command, cfg *pipeline.Config, in *inputFlags, out *outputFlags) error {
	if err := in.apply(cfg); err != nil {
		return usage(err)
	}
	if err := out.apply(cfg); err != nil {
		return usage(err)
	}
	hup, stop := reloadSignal()
	defer stop()
	cfg.ReloadAllowlist = hup
	summary, err := pipeline.Run(cmd.Context(), *cfg)
	if err != nil {
		return err
	}
	summary.Print(cmd.ErrOrStderr())
	if err := writeSummaryJSON(cmd, out.summaryJSON, summary); err != nil {
		return err
	}
	return cmp.Or(checkInputLoss(summary), checkFeedLoss(cfg, summary), checkFindings(out.failOn, summary), checkResumed(summary))
}

// addSummaryJSONFlag adds --summary-json to a command that prints a run
// summary.
func addSummaryJSONFlag(f *pflag.FlagSet, path *string) {
	f.StringVar(path, "summary-json", "", `also write the end-of-run summary as one JSON object ({"kind":"summary",…}) to this file (- = stdout)`)
}

// writeSummaryJSON writes s to path as one JSON line, kind "summary"; an
// empty path writes nothing.
func writeSummaryJSON(cmd *cobra.Command, path string, s *pipeline.Summary) error {
	if path == "" {
		return nil
	}
	data, err := json.Marshal(struct {
		Kind string `json:"kind"`
		*pipeline.Summary
	}{"summary", s})
	if err != nil {
		return fmt.Errorf("--summary-json: %w", err)
	}
	data = append(data, '\n')
	if path == "-" {
		_, err = cmd.OutOrStdout().Write(data)
	} else {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		return fmt.Errorf("--summary-json: %w", err)
	}
	return nil
}

func newTapCommand() *cobra.Command {
	cfg := pipeline.DefaultConfig()
	var out *outputFlags
	var in *inputFlags
	var format string
	cmd := &cobra.Command{
		Use:   "tap [--format auto|envoy-tap|har|access-log] [--follow] FILE… [flags]",
		Short: "Read MCP traffic from the logs of TLS-terminating proxies into the same events",
		Long: `tap reads what an ingress proxy that terminates TLS logs of MCP traffic — Envoy
HTTP tap traces, HAR files, or JSON access logs — and turns it into exactly the
events the packet path produces, then detects and stores as run does. It is
run with --tap FORMAT:FILE for each FILE. The format is told from each file's
first record unless given (standard input needs it); a file that plainly is
another format than the one given (a HAR file read as an access log) is refused
with exit status 2.

Logs as proxies write them by default are read: a record without a time
(Envoy's tap without record_headers_received_time; streamed segments never
have one) gets the time of the record before it in its file, else the file's
modification time (give file_per_tap files oldest first: ls -tr), else the
time reading began (a pipe); a record without a connection (no
record_downstream_connection; HAR has no client) gets its client from
X-Forwarded-For and its server from an IP-literal authority. Each stand-in is
counted (summary; metric mcpwatch_logtap_fallbacks_total{reason}). Event ids
derive from positions in the input, not times, so a copy with new
modification times gives the same event ids.

A bad record — not JSON, torn, a field of the wrong type, a required field
missing, or a panic while reading it — is skipped, counted, and logged with
file:line (the first ten, then a count every 10 s); the run goes on. Exit
status: 0 when every record was read; 3 when a log read to its end had
records skipped (all else was delivered, the summary names the first);
1 on an error that stopped the run. With --follow, skipped records are
counted and logged (mcpwatch_logtap_bad_records_total) but do not change
the exit status.

Header-only access logs still give method, tool, protocol version and session
of 2026-07-28 traffic (Mcp-Method, Mcp-Name, MCP-Protocol-Version headers) and
Mcp-Session-Id for older revisions; see deploy/logtap/ for an Envoy tap filter
and an nginx log_format that feed mcpwatch.`,
		Example: `  mcpwatch tap session.har --allowlist allow.yaml
  mcpwatch tap --format envoy-tap /var/log/envoy/taps/*.json --events-out -
  mcpwatch tap --format access-log --follow /var/log/envoy/mcp.jsonl --nats nats://nats-1:4222
  mcpwatch tap --format access-log --tap-fields nginx /var/log/nginx/mcp.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			for _, f := range files {
				cfg.Taps = append(cfg.Taps, format+":"+f)
			}
			return runAll(cmd, &cfg, in, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "auto", "log format: auto (told from the first record), envoy-tap, har or access-log")
	f.BoolVarP(&cfg.TapFollow, "follow", "f", false, "follow the files like tail -F, resuming from a checkpoint after a restart")
	f.StringVar(&cfg.TapCheckpointDir, "checkpoint-dir", defaultStateDir("checkpoints"), "where --follow keeps how far each file was read")
	f.StringVar(&cfg.Sensor, "sensor", "", "sensor name carried in every event (default: hostname)")
	f.StringVar(&cfg.TokenKeyFile, "token-key-file", defaultStateDir("token.key"), "HMAC key for bearer-token fingerprints (created if missing)")
	in = &inputFlags{}
	f.StringVar(&in.tapFields, "tap-fields", "envoy", "access-log field mapping: envoy, nginx, or a YAML file (see deploy/logtap/mcpwatch-fields.yaml)")
	addRuleFlags(f, &cfg)
	out = addOutputFlags(f, &cfg, "-")
	addFeedWaitFlag(f, &cfg)
	addFailOnFlag(f, out)
	addSummaryJSONFlag(f, &out.summaryJSON)
	addBusFlags(f, &cfg, true)
	addMetricsFlag(f, &cfg)
	return cmd
}

func newSensorCommand() *cobra.Command {
	cfg := pipeline.DefaultConfig()
	var in *inputFlags
	var summaryJSON string
	cmd := &cobra.Command{
		Use:   "sensor (--pcap FILE | --iface NAME)… --nats URL [flags]",
		Short: "Capture and decode, and publish the events to a shared NATS JetStream",
		Long: `sensor is the capture half of a distributed deployment: one per span port or
tap. It publishes events to the NATS cluster given by --nats, where detect and
store processes consume them.`,
		Example: `  mcpwatch sensor --iface eth1 --nats nats://nats-1:4222,nats://nats-2:4222 --sensor dc1-span3
  mcpwatch sensor --pcap yesterday.pcapng --nats nats://127.0.0.1:4222`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := in.apply(&cfg); err != nil {
				return usage(err)
			}
			summary, err := pipeline.Sense(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			summary.Print(cmd.ErrOrStderr())
			if err := writeSummaryJSON(cmd, summaryJSON, summary); err != nil {
				return err
			}
			return checkInputLoss(summary)
		},
	}
	f := cmd.Flags()
	addSummaryJSONFlag(f, &summaryJSON)
	in = addInputFlags(f, &cfg)
	addBusFlags(f, &cfg, false)
	addMetricsFlag(f, &cfg)
	return cmd
}

func newDetectCommand() *cobra.Command {
	cfg := pipeline.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "detect --nats URL [--replica I --replicas R] [flags]",
		Short: "Run the detection rules over the shared JetStream and publish alerts",
		Long: `detect consumes events from NATS JetStream, runs the rules and publishes
alerts back to JetStream, acknowledging events only once their alerts are
stored. It runs until interrupted.

To scale out, run R replicas with --replicas R and --replica 0…R-1: replica I
owns the event partitions p with p mod R == I, so every server's events — and
the rule state about that server — live in one process. A second process with
the same --replica number is a hot standby: it shares the durable consumer and
takes over what a stopped one left unacknowledged.`,
		Example: `  mcpwatch detect --nats nats://nats-1:4222 --allowlist /etc/mcpwatch/allowlist.yaml
  mcpwatch detect --nats nats://nats-1:4222 --replicas 3 --replica 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hup, stop := reloadSignal()
			defer stop()
			cfg.ReloadAllowlist = hup
			return ignoreInterrupt(cmd, pipeline.Detect(cmd.Context(), cfg))
		},
	}
	f := cmd.Flags()
	addRuleFlags(f, &cfg)
	addBusFlags(f, &cfg, false)
	f.IntVar(&cfg.Replica, "replica", 0, "this process's replica number, 0…replicas-1")
	f.IntVar(&cfg.Replicas, "replicas", 1, "how many detect replicas split the partitions")
	addConsumerFlags(f, &cfg, "detect")
	addMetricsFlag(f, &cfg)
	return cmd
}

func newStoreCommand() *cobra.Command {
	cfg := pipeline.DefaultConfig()
	var out *outputFlags
	var migrateOnly bool
	cmd := &cobra.Command{
		Use:   "store --nats URL (--clickhouse ADDR | --events-out F | --alerts-out F | --alert-webhook URL | --alert-syslog URL) [flags]",
		Short: "Write events and alerts from the shared JetStream to ClickHouse, JSONL and alert feeds",
		Long: `store consumes events and alerts from NATS JetStream and writes them to their
destinations, acknowledging only what the destination confirmed, so a
ClickHouse outage delays rows and loses none. Each alert feed has a consumer of
its own. It runs until interrupted; several store processes share the work.`,
		Example: `  mcpwatch store --nats nats://nats-1:4222 --clickhouse 127.0.0.1:9000
  mcpwatch store --nats nats://nats-1:4222 --alert-webhook https://soc.example/hook --alert-webhook-secret "$SECRET" --alert-format ocsf
  mcpwatch store --clickhouse 127.0.0.1:9000 --migrate-only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if migrateOnly {
				return migrate(cmd, cfg)
			}
			if err := out.apply(&cfg); err != nil {
				return err
			}
			return ignoreInterrupt(cmd, pipeline.Store(cmd.Context(), cfg))
		},
	}
	f := cmd.Flags()
	out = addOutputFlags(f, &cfg, "")
	addBusFlags(f, &cfg, false)
	f.BoolVar(&migrateOnly, "migrate-only", false, "apply the ClickHouse schema migrations and exit")
	addConsumerFlags(f, &cfg, "store")
	addMetricsFlag(f, &cfg)
	return cmd
}

// ignoreInterrupt turns the end of a long-running job by a signal into a
// clean exit.
func ignoreInterrupt(cmd *cobra.Command, err error) error {
	if err != nil && cmd.Context().Err() != nil {
		return nil
	}
	return err
}
