package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/inventory"
	"github.com/mcpwatch/mcpwatch/posture"
	"github.com/mcpwatch/mcpwatch/probe"
	"github.com/mcpwatch/mcpwatch/sink"
)

func newProbeCommand() *cobra.Command {
	var src querySource
	var cfg probe.Config
	var allow []string
	var discovered, store, asJSON bool
	var eventsOut string
	cmd := &cobra.Command{
		Use:   "probe (URL… | --discovered) --probe-allow CIDR… [flags]",
		Short: "Actively check MCP servers the way a client would, without credentials (opt-in)",
		Long: `probe visits MCP servers and does the unauthenticated checks any MCP client does
on first contact: initialize without credentials (a 401 and its WWW-Authenticate,
or an open server), the Protected Resource Metadata (RFC 9728), the metadata of
the authorization servers it lists (RFC 8414 / OpenID Connect), and an
initialize with a foreign Origin. What it finds are events with source
"probe:URL"; they feed the same scorecards as captured traffic, which it prints.

It is active, so it is opt-in and bounded: it connects only to addresses inside
--probe-allow (every address a name resolves to is checked, also for URLs the
servers name), never sends credentials or cookies, follows no redirects, and
sends at most --rate requests a second.

With --discovered it probes the servers found passively, read like the other
read-only commands (--events, --pcap or ClickHouse); servers seen only as TLS
are probed at https://SNI[:port]/mcp. --events-out appends the probe's events to
a JSONL file; --store writes them to ClickHouse, so that mcpwatch posture and
the Grafana posture dashboard include them.`,
		Example: `  mcpwatch probe https://mcp.corp.example/mcp --probe-allow 10.0.0.0/8
  mcpwatch probe --discovered --clickhouse 127.0.0.1:9000 --probe-allow 10.20.0.0/16 --store
  mcpwatch probe --discovered --events events.jsonl --probe-allow 10.0.0.0/8 --events-out probe.jsonl --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range allow {
				pfx, err := netip.ParsePrefix(a)
				if err != nil {
					return usage(fmt.Errorf("--probe-allow %q: want a CIDR such as 10.0.0.0/8", a))
				}
				cfg.Allow = append(cfg.Allow, pfx)
			}
			p, err := probe.New(cfg)
			if err != nil {
				return usage(err)
			}
			if discovered == (len(args) > 0) {
				return usage(errors.New("give the URLs to probe, or --discovered"))
			}
			a := posture.NewAssessor(posture.Config{})
			targets := args
			var ch *sink.ClickHouse
			fromFile, err := src.fromFile()
			if err != nil {
				return err
			}
			if store && fromFile {
				return usage(errors.New("--store writes to ClickHouse: it does not go with --events or --pcap"))
			}
			if !fromFile && (discovered || store) {
				if ch, err = src.store(cmd); err != nil {
					return err
				}
				defer ch.Close()
			}
			if discovered {
				b := inventory.NewBuilder()
				observe := func(ev *event.Event) { b.Observe(ev); a.Observe(ev) }
				if fromFile {
					err = src.eachEvent(cmd.Context(), observe)
				} else {
					var servers []inventory.Server
					if servers, err = ch.Servers(cmd.Context()); err == nil {
						for _, s := range servers {
							targets = append(targets, probeTarget(s))
						}
					}
					if err == nil {
						err = ch.PostureEvents(cmd.Context(), posture.DefaultMaxEvidence, a.Observe)
					}
				}
				if err != nil {
					return err
				}
				for _, s := range b.Servers() {
					targets = append(targets, probeTarget(s))
				}
			}
			var all []*event.Event
			probed := map[string]bool{}
			for _, target := range targets {
				evs, err := p.Probe(cmd.Context(), target)
				switch {
				case errors.Is(err, probe.ErrNotAllowed):
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: skipped, %v\n", event.Printable(target), err)
				case err != nil:
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", event.Printable(target), err)
				}
				if len(evs) > 0 {
					probed[event.CanonicalURL(target)] = true
				}
				for _, ev := range evs {
					a.Observe(ev)
				}
				all = append(all, evs...)
			}
			if err := saveProbeEvents(cmd, all, eventsOut, store, ch); err != nil {
				return err
			}
			var cards []posture.Scorecard
			for _, sc := range a.Scorecards() {
				if probed[event.CanonicalURL(sc.ServerKey)] {
					cards = append(cards, sc)
				}
			}
			if asJSON {
				return writeJSONLines(cmd.OutOrStdout(), cards)
			}
			return printScorecards(cmd.OutOrStdout(), cards)
		},
	}
	addQuerySourceFlags(cmd, &src)
	f := cmd.Flags()
	f.StringSliceVar(&allow, "probe-allow", nil, "networks the probe may connect to, CIDR (repeat or comma-separate); required")
	f.Float64Var(&cfg.Rate, "rate", probe.DefaultRate, "most requests a second, over all targets")
	f.DurationVar(&cfg.Timeout, "timeout", probe.DefaultTimeout, "timeout of each request")
	f.BoolVar(&discovered, "discovered", false, "probe the servers found passively (from --events, --pcap or ClickHouse)")
	f.StringVar(&eventsOut, "events-out", "", "append the probe's events to this JSONL file")
	f.BoolVar(&store, "store", false, "write the probe's events to ClickHouse (--clickhouse), for mcpwatch posture and Grafana")
	f.BoolVar(&asJSON, "json", false, "print one scorecard per line as JSON")
	return cmd
}

// probeTarget is the URL to probe for a discovered server: its key, or
// for a server seen only as TLS (no path known) its /mcp.
func probeTarget(s inventory.Server) string {
	if s.TLSOnly {
		return strings.TrimSuffix(s.ServerKey, "/") + "/mcp"
	}
	return s.ServerKey
}

func saveProbeEvents(cmd *cobra.Command, evs []*event.Event, path string, store bool, ch *sink.ClickHouse) error {
	if path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("open --events-out: %w", err)
		}
		if err := writeJSONLines(f, evs); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if store {
		return ch.WriteEvents(cmd.Context(), evs)
	}
	return nil
}
