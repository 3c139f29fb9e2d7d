package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpwatch/mcpwatch/detect"
	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/inventory"
	"github.com/mcpwatch/mcpwatch/sink"
)

func newServersCommand() *cobra.Command {
	var allowlist string
	cmd := listCommand[inventory.Server]{
		use:   "servers",
		short: "List the MCP server inventory with its authorization posture",
		long: `servers prints every MCP server seen, most recently seen first, with what the
traffic says of its posture: negotiated protocol versions, whether requests
succeed without credentials, 401 challenges, Protected Resource Metadata served
(a document whose resource names the server), the audiences of tokens it
accepted and refused, the authorization servers its PRM lists, whether it is on
the allowlist (ClickHouse only: unexpected-server never fired for it), and how
many clients, sessions and tool calls it had. Servers seen only as TLS
connections whose SNI looks like MCP are listed as https://SNI[:port], TLS-only.
mcpwatch posture grades them.`,
		example: `  mcpwatch servers --clickhouse 127.0.0.1:9000
  mcpwatch servers --events events.jsonl
  mcpwatch servers --json | jq -r 'select(.auth_required | not) | .server_key'`,
		fromFile: func(b *inventory.Builder) ([]inventory.Server, error) {
			if allowlist == "" {
				return b.Servers(), nil
			}
			al, err := detect.LoadAllowlist(allowlist)
			if err != nil {
				return nil, err
			}
			return b.ServersAllowlisted(al.Allowed), nil
		},
		fromStore: (*sink.ClickHouse).Servers,
		print:     printServers,
	}.command()
	cmd.Flags().StringVar(&allowlist, "allowlist", "", "with --events or --pcap: mark the servers this allowlist approves (as unexpected-server would); from ClickHouse, allowlisted says whether unexpected-server fired")
	return cmd
}

func printServers(w io.Writer, servers []inventory.Server) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tNAME\tPROTOCOL\tAUTH\tUNAUTH OK\t401s\tPRM\tAUDIENCES OK/REFUSED\tAUTH SERVERS\tALLOWLISTED\tCLIENTS\tTOOL CALLS\tLAST SEEN")
	for _, s := range servers {
		auth := yesNo(s.AuthRequired, "required", "none")
		if s.TLSOnly {
			auth = "TLS-only"
		}
		allowlisted := "?"
		if s.Allowlisted != nil {
			allowlisted = yesNo(*s.Allowlisted, "yes", "no")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d/%d\t%s\t%s\t%d\t%d\t%s\n",
			p(s.ServerKey), p(strings.TrimSpace(s.ServerName+" "+s.ServerVersion)), event.PrintableList(s.ProtocolVersions, ","),
			auth, s.UnauthenticatedOK, s.Challenges, yesNo(s.PRMServed, "yes", "no"),
			len(s.AcceptedAudiences), len(s.RefusedAudiences), event.PrintableList(s.AuthorizationServers, ","), allowlisted,
			s.Clients, s.ToolCalls, s.LastSeen.Format(time.RFC3339))
	}
	return tw.Flush()
}

func newClientsCommand() *cobra.Command {
	return listCommand[inventory.Client]{
		use:   "clients",
		short: "List the MCP clients seen: address, clientInfo, servers used",
		long:  `clients prints every MCP client (address and clientInfo name), most recently seen first, with its version, user agents, the servers it talked to and how many sessions, requests and tool calls it made.`,
		example: `  mcpwatch clients --clickhouse 127.0.0.1:9000
  mcpwatch clients --pcap span.pcap --json`,
		fromFile:  infallible((*inventory.Builder).Clients),
		fromStore: (*sink.ClickHouse).Clients,
		print: func(w io.Writer, clients []inventory.Client) error {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT\tNAME\tVERSION\tSERVERS\tSESSIONS\tREQUESTS\tTOOL CALLS\tLAST SEEN")
			for _, c := range clients {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", p(c.ClientAddress), p(c.ClientName), p(c.ClientVersion),
					event.PrintableList(c.Servers, ","), c.Sessions, c.Requests, c.ToolCalls, c.LastSeen.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}.command()
}

func newToolsCommand() *cobra.Command {
	return listCommand[inventory.Tool]{
		use:   "tools",
		short: "List the tools of every MCP server, with their latest definition and drift",
		long: `tools prints every tool of every server, from the tools/list results seen: its
latest definition hash and annotations, and how many distinct definitions it
had — more than one is drift (a rug pull, a redefinition).`,
		example: `  mcpwatch tools --clickhouse 127.0.0.1:9000
  mcpwatch tools --events events.jsonl --json | jq -c 'select(.definitions > 1)'`,
		fromFile:  infallible((*inventory.Builder).Tools),
		fromStore: (*sink.ClickHouse).Tools,
		print: func(w io.Writer, tools []inventory.Tool) error {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVER\tTOOL\tREAD-ONLY\tDESTRUCTIVE\tDEFINITIONS\tHASH\tLAST SEEN")
			for _, t := range tools {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", p(t.ServerKey), p(t.ToolName), yesNo(t.ReadOnly, "yes", "no"),
					yesNo(t.Destructive, "yes", "no"), t.Definitions, shortHash(t.Hash), t.LastSeen.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}.command()
}

func newManifestsCommand() *cobra.Command {
	return listCommand[inventory.Manifest]{
		use:   "manifests",
		short: "List every version of each server's tool manifest, with what changed between versions",
		long: `manifests prints, per server, every distinct tool manifest (tools/list result)
in the order it was first seen, and for each version after the first the tools
added, removed and changed (same name, another definition) since the version
before.`,
		example: `  mcpwatch manifests --clickhouse 127.0.0.1:9000
  mcpwatch manifests --pcap rugpull.pcap --json | jq -c 'select(.diff) | {server_key, diff}'`,
		fromFile:  infallible((*inventory.Builder).Manifests),
		fromStore: (*sink.ClickHouse).Manifests,
		print: func(w io.Writer, ms []inventory.Manifest) error {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVER\tMANIFEST\tTOOLS\tLISTINGS\tFIRST SEEN\tCHANGES")
			for _, m := range ms {
				changes := "first version"
				if d := m.Diff; d != nil {
					var parts []string
					for _, c := range []struct {
						sign  string
						names []string
					}{{"+", d.Added}, {"-", d.Removed}, {"~", d.Changed}} {
						for _, n := range c.names {
							parts = append(parts, c.sign+p(n))
						}
					}
					changes = strings.Join(parts, " ")
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", p(m.ServerKey), shortHash(m.ManifestHash), len(m.Tools), m.Listings,
					m.FirstSeen.Format(time.RFC3339), changes)
			}
			return tw.Flush()
		},
	}.command()
}

func shortHash(h string) string { return h[:min(len(h), 12)] }

// infallible adapts a Builder method that cannot fail to listCommand.fromFile.
func infallible[T any](rows func(*inventory.Builder) []T) func(*inventory.Builder) ([]T, error) {
	return func(b *inventory.Builder) ([]T, error) { return rows(b), nil }
}
