package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpwatch/mcpwatch/pipeline"
	"github.com/mcpwatch/mcpwatch/report"
	"github.com/mcpwatch/mcpwatch/sink"
)

func newReportCommand() *cobra.Command {
	cfg := pipeline.DefaultConfig()
	var (
		eventsFiles, alertsFiles []string
		ch                       sink.ClickHouseConfig
		since                    time.Duration
		server, out, format      string
		rc                       report.Config
	)
	cmd := &cobra.Command{
		Use:   "report (--pcap FILE | --tap FORMAT:FILE | --events FILE [--alerts FILE] | --clickhouse ADDR) [-o FILE] [--format html|md|json]",
		Short: "Write a self-contained report of MCP servers, posture, alerts and traffic (HTML, Markdown or JSON)",
		Long: `report analyses captures or proxy logs (running the pipeline with the embedded
bus, as run does), or reads back events and alerts (JSONL files written with
--events-out/--alerts-out, or ClickHouse), and writes one report: the server
inventory with posture grades, alerts over time, auth failures, top talkers,
tools per server, manifest drift, sessions per protocol revision and the
capture's health, each number linked to its evidence.

The HTML report is one file that makes no network request (styles, script
and SVG charts inline; a Content-Security-Policy forbids anything else), to
be opened anywhere and handed on. From ClickHouse the inventory comes from
the servers view and the alerts table (evidence ids are those of the alerts).`,
		Example: `  mcpwatch report --pcap capture.pcapng --allowlist allow.yaml -o report.html
  mcpwatch report --tap har:session.har --format md -o ticket.md
  mcpwatch report --events events.jsonl --alerts alerts.jsonl --format json
  mcpwatch report --clickhouse clickhouse:9000 --since 24h --server https://mcp.example.com/mcp -o today.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != report.FormatHTML && format != report.FormatMarkdown && format != report.FormatJSON {
				return usage(fmt.Errorf("--format %q: want html, md or json", format))
			}
			packets := len(cfg.Pcaps) + len(cfg.Taps)
			// Without a capture, logs or files, the report is of what
			// ClickHouse stored (--clickhouse, by default on this host).
			stored := packets+len(eventsFiles)+len(alertsFiles) == 0
			if !stored && cmd.Flags().Changed("clickhouse") {
				return usage(fmt.Errorf("--clickhouse reads stored data: give it without --pcap, --tap, --events or --alerts"))
			}
			if !stored {
				ch.Addr = ""
			}
			rc.Source = reportSource(cfg, eventsFiles, alertsFiles, ch, since, server)
			ctx := cmd.Context()
			var grader report.Grader = report.NewPosture()
			var store *sink.ClickHouse
			if stored {
				var err error
				if store, err = (&querySource{ch: ch}).store(cmd); err != nil {
					return err
				}
				defer store.Close()
				cards, err := store.AssessPosture(ctx)
				if err != nil {
					return err
				}
				grader = report.StoredGrades(report.GradesOf(cards))
			}
			b := report.NewBuilder(rc, grader)
			if packets > 0 {
				files, err := analyse(ctx, cfg, b)
				if err != nil {
					return err
				}
				eventsFiles, alertsFiles = append(eventsFiles, files[0]), append(alertsFiles, files[1])
			}
			for _, f := range append(eventsFiles, alertsFiles...) {
				if err := readRecords(f, b); err != nil {
					return err
				}
			}
			if store != nil {
				if err := fromClickHouse(ctx, store, since, server, b); err != nil {
					return err
				}
			}
			return writeReport(cmd.OutOrStdout(), out, b.Build(time.Now()), format)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&cfg.Pcaps, "pcap", nil, "capture file (pcap or pcapng) to analyse; repeatable")
	f.StringArrayVar(&cfg.Taps, "tap", nil, "proxy log to analyse, FORMAT:FILE with FORMAT envoy-tap, har or access-log; repeatable")
	f.StringArrayVar(&eventsFiles, "events", nil, "events JSONL file (--events-out of run, tap or store; alerts in it are read too); repeatable")
	f.StringArrayVar(&alertsFiles, "alerts", nil, "alerts JSONL file (--alerts-out); repeatable")
	f.DurationVar(&since, "since", 0, "with --clickhouse: only the last DURATION, e.g. 24h")
	f.StringVar(&server, "server", "", "with --clickhouse: only this server: a server_key, a host, host:port, or a glob of either")
	f.StringVarP(&out, "output", "o", "-", "file to write (- for stdout)")
	f.StringVar(&format, "format", report.FormatHTML, "html (one self-contained page), md (for tickets) or json")
	f.StringVar(&rc.Title, "title", "", "heading of the report")
	f.StringVar(&cfg.TokenKeyFile, "token-key-file", defaultStateDir("token.key"), "HMAC key for bearer-token fingerprints (created if missing)")
	addRuleFlags(f, &cfg)
	addClickHouseFlags(cmd, &ch) // read stored servers, posture and alerts from there
	return cmd
}

// analyse runs the pipeline over the captures and logs of cfg with the
// embedded bus, writing events and alerts to JSONL files in a temporary
// directory (returned), and adds the capture's counters to b.
func analyse(ctx context.Context, cfg pipeline.Config, b *report.Builder) ([2]string, error) {
	dir, err := os.MkdirTemp("", "mcpwatch-report-")
	if err != nil {
		return [2]string{}, err
	}
	context.AfterFunc(ctx, func() { os.RemoveAll(dir) })
	cfg.EventsOut, cfg.AlertsOut = filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "alerts.jsonl")
	summary, err := pipeline.Run(ctx, cfg)
	if err != nil {
		return [2]string{}, err
	}
	for _, c := range summary.Captures {
		b.AddCapture(captureHealth(c, summary.Warnings))
	}
	return [2]string{cfg.EventsOut, cfg.AlertsOut}, nil
}

// captureHealth is what the report shows of one input's capture counters.
// Drops are frames and messages capture could not use: IP fragments,
// undecodable headers, header blocks over the cap, requests past the
// per-connection queue, reordered segments still held at the end, evicted
// connections.
func captureHealth(c pipeline.CaptureSummary, warnings []string) report.Capture {
	s := c.Stats
	t := s.Truncations
	h := report.Capture{
		Input: c.Input, Packets: int64(s.Packets), Flows: int64(s.FlowsCreated), Gaps: int64(s.Gaps), GapBytes: int64(s.GapBytes),
		Truncations: int64(t.BodyCap + t.DecompressCap + t.DecodeError + t.Gap + t.ConnEnd + t.EarlyResponse),
		Drops:       int64(s.Fragments + s.DecodeErrors + s.HeaderCapDrops + s.UnansweredDropped + s.ReorderDropped + s.FlowsEnded.Evicted),
	}
	if c.Read != nil {
		h.DamagedRecords = int64(c.Read.BadRecords)
	}
	var notes []string
	for _, w := range warnings {
		if strings.HasPrefix(w, c.Input+":") {
			notes = append(notes, strings.TrimPrefix(w, c.Input+": "))
		}
	}
	h.Note = strings.Join(notes, "; ")
	return h
}

// readRecords adds the records of a JSONL file to b: events and alerts
// (one stream may hold both, as --events-out - --alerts-out - writes it),
// each validated; summary and stats records are skipped.
func readRecords(file string, b *report.Builder) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if err := addRecord(sc.Bytes(), b); err != nil {
			return fmt.Errorf("%s:%d: %w", file, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	return nil
}

func addRecord(data []byte, b *report.Builder) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	var head struct {
		Kind    string `json:"kind"`
		AlertID string `json:"alert_id"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return err
	}
	switch {
	case head.Kind == "summary" || head.Kind == "stats":
		return nil
	case head.Kind == "alert" || head.AlertID != "": // alerts written before they had a kind
		return decodeValid(data, b.ObserveAlert)
	default:
		return decodeValid(data, b.Observe)
	}
}

// decodeValid decodes data as a T, validates it and hands it to add.
func decodeValid[T any, P interface {
	*T
	Validate() error
}](data []byte, add func(P)) error {
	v := P(new(T))
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	if err := v.Validate(); err != nil {
		return err
	}
	add(v)
	return nil
}

// fromClickHouse adds the stored servers and alerts.
func fromClickHouse(ctx context.Context, store *sink.ClickHouse, since time.Duration, server string, b *report.Builder) error {
	filter := sink.AlertFilter{Server: server, Limit: maxStoredAlerts}
	selected := regexp.MustCompile(sink.ServerRegexp(server))
	var from time.Time
	if since > 0 {
		from = time.Now().Add(-since)
		filter.Since = from
	}
	servers, err := store.Servers(ctx)
	if err != nil {
		return err
	}
	for _, s := range servers {
		if (server == "" || selected.MatchString(s.ServerKey)) && !s.LastSeen.Before(from) {
			b.AddStoredServer(report.StoredServer{ServerKey: s.ServerKey, Name: s.ServerName, Version: s.ServerVersion,
				ProtocolVersions: s.ProtocolVersions, Transports: s.Transports, Clients: int(s.Clients),
				Sessions: int64(s.Sessions), ToolCalls: int64(s.ToolCalls), AuthFailures: int64(s.Challenges + s.Forbidden),
				FirstSeen: s.FirstSeen, LastSeen: s.LastSeen})
		}
	}
	alerts, err := store.Alerts(ctx, filter)
	if err != nil {
		return err
	}
	for _, a := range alerts {
		b.ObserveAlert(a)
	}
	return nil
}

// maxStoredAlerts bounds the alerts read from ClickHouse for one report.
const maxStoredAlerts = 1_000_000

func reportSource(cfg pipeline.Config, events, alerts []string, ch sink.ClickHouseConfig, since time.Duration, server string) string {
	var parts []string
	for _, group := range [][]string{cfg.Pcaps, cfg.Taps, events, alerts} {
		parts = append(parts, group...)
	}
	if ch.Addr != "" {
		s := fmt.Sprintf("ClickHouse %s/%s", ch.Addr, ch.Database)
		if since > 0 {
			s += ", last " + since.String()
		}
		if server != "" {
			s += ", server " + server
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// writeReport renders r to path (- for w) through a temporary file, so a
// failed run leaves no half-written report.
func writeReport(w io.Writer, path string, r *report.Report, format string) error {
	if path == "-" {
		return report.Write(w, r, format)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*")
	if err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriter(tmp)
	if err := report.Write(bw, r, format); err != nil {
		tmp.Close()
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
