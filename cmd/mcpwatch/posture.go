package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/posture"
)

func newPostureCommand() *cobra.Command {
	var src querySource
	var asJSON, save bool
	cmd := &cobra.Command{
		Use:   "posture [SERVER] (--events FILE | --pcap FILE | --clickhouse ADDR) [flags]",
		Short: "Grade each MCP server's security posture: a scorecard of checks and a grade A–F",
		Long: `posture grades every MCP server seen against what the MCP specification and the
OAuth RFCs it cites require: TLS, the current transport and protocol revision,
401 for requests without credentials, Protected Resource Metadata (RFC 9728)
naming the server, discoverable authorization server metadata (RFC 8414), PKCE
S256, RFC 8707 resource indicators, audience enforcement, session id quality,
Origin validation and a stable tool manifest. Each check is pass, fail or
not_observed, with the event_ids that decided it and the section of the
specification that requires it. The grade is the worst cap that applies
(docs/posture.md); a check that was not observed never counts as a pass.

Without SERVER it prints one line per server; with SERVER (its server_key) the
checks of that server. It reads an events JSONL file (--events), decodes a
capture (--pcap), or reads the events stored in ClickHouse (it creates nothing
there; --save stores the scorecards in the posture tables for Grafana).
Scorecards of servers the active probe (mcpwatch probe) visited include its
findings, with source "probe".`,
		Example: `  mcpwatch posture --events events.jsonl
  mcpwatch posture --pcap span.pcap http://secure.corp.example:9000/mcp
  mcpwatch posture --events events.jsonl --json | jq -c '{server_key, grade}'
  mcpwatch posture --clickhouse 127.0.0.1:9000 --save`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fromFile, err := src.fromFile()
			if err != nil {
				return err
			}
			if save && fromFile {
				return usage(errors.New("--save stores what ClickHouse holds; it does not go with --events or --pcap"))
			}
			var cards []posture.Scorecard
			if fromFile {
				a := posture.NewAssessor(posture.Config{})
				if err := src.eachEvent(cmd.Context(), a.Observe); err != nil {
					return err
				}
				cards = a.Scorecards()
			} else {
				ch, err := src.store(cmd)
				if err != nil {
					return err
				}
				defer ch.Close()
				if cards, err = ch.AssessPosture(cmd.Context()); err != nil {
					return err
				}
				if save {
					if err := ch.SavePosture(cmd.Context(), time.Now().UTC(), cards); err != nil {
						return err
					}
				}
			}
			if len(args) == 1 {
				cards = selectServer(cards, args[0])
				if len(cards) == 0 {
					return usage(fmt.Errorf("no MCP server %q in what was read (server keys look like http://host:port/path)", args[0]))
				}
			}
			switch {
			case asJSON:
				return writeJSONLines(cmd.OutOrStdout(), cards)
			case len(args) == 1:
				return printScorecard(cmd.OutOrStdout(), cards[0])
			default:
				return printScorecards(cmd.OutOrStdout(), cards)
			}
		},
	}
	addQuerySourceFlags(cmd, &src)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per server and line: server_key, grade, grade_reasons, checks [{id, status, evidence, sources, spec}], …")
	cmd.Flags().BoolVar(&save, "save", false, "store the scorecards in ClickHouse (tables posture, posture_checks) for the Grafana posture dashboard")
	return cmd
}

func selectServer(cards []posture.Scorecard, key string) []posture.Scorecard {
	canon := event.CanonicalURL(key)
	for _, c := range cards {
		if event.CanonicalURL(c.ServerKey) == canon {
			return []posture.Scorecard{c}
		}
	}
	return nil
}

func checksWithStatus(sc posture.Scorecard, st posture.Status) []string {
	var out []string
	for _, c := range sc.Checks {
		if c.Status == st {
			out = append(out, c.ID)
		}
	}
	return out
}

func printScorecards(w io.Writer, cards []posture.Scorecard) error {
	p := event.Printable
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tGRADE\tFAILED\tNOT OBSERVED\tSOURCES\tLAST SEEN")
	for _, sc := range cards {
		failed := strings.Join(checksWithStatus(sc, posture.Fail), ",")
		if failed == "" {
			failed = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", p(sc.ServerKey), sc.Grade, failed,
			len(checksWithStatus(sc, posture.NotObserved)), strings.Join(sc.Sources, ","), sc.LastSeen.Format(time.RFC3339))
	}
	return tw.Flush()
}

func printScorecard(w io.Writer, sc posture.Scorecard) error {
	reasons := ""
	if len(sc.GradeReasons) > 0 {
		reasons = " (" + strings.Join(sc.GradeReasons, ", ") + ")"
	}
	fmt.Fprintf(w, "%s  grade %s%s\nseen %s … %s  sources %s\n\n", event.Printable(sc.ServerKey), sc.Grade, reasons,
		sc.FirstSeen.Format(time.RFC3339), sc.LastSeen.Format(time.RFC3339), strings.Join(sc.Sources, ","))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tEVIDENCE\tSPEC")
	for _, c := range sc.Checks {
		evidence := "-"
		if n := len(c.Evidence); n > 0 {
			// The first event; --json lists them all.
			evidence = c.Evidence[0]
			if n > 1 {
				evidence += fmt.Sprintf(" +%d", n-1)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, c.Status, evidence, c.Spec)
	}
	return tw.Flush()
}
