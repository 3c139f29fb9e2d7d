package pipeline

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/capture/logtap"
	"github.com/mcpwatch/mcpwatch/event"
)

// Summary is what a finished run reports.
type Summary struct {
	Packets int64 `json:"packets"`
	Flows   int64 `json:"flows"`
	// LogRecords and BadLogRecords count what log taps read and skipped.
	LogRecords    int64 `json:"log_records"`
	BadLogRecords int64 `json:"bad_log_records"`
	// BadLogRecordsRead is the part of BadLogRecords skipped in logs read
	// to their end (not followed): cmd/mcpwatch then exits with status 3.
	BadLogRecordsRead int64 `json:"bad_log_records_read"`
	// LogFallbacks counts exchanges whose log record lacked a time or an
	// address, by what stood in for it.
	LogFallbacks logtap.Fallbacks `json:"log_fallbacks,omitempty"`
	Sessions     int64            `json:"sessions"`
	// Events counts delivered events per kind.
	Events map[event.Kind]int64 `json:"events"`
	// Servers lists every MCP server seen, by server_key.
	Servers []ServerSummary `json:"servers"`
	// AlertsByRule counts delivered alerts per rule id, AlertsBySeverity
	// per severity.
	AlertsByRule     map[string]int64 `json:"alerts_by_rule"`
	AlertsBySeverity map[string]int64 `json:"alerts_by_severity"`
	// Warnings are non-fatal problems with the input (unsupported link
	// types, bad log records).
	Warnings []string `json:"warnings,omitempty"`
	// DamagedInputs say which capture files had damaged records skipped
	// (capture.ReadStats) or were cut short inside a record, where and what
	// it cost; everything else in them was read and delivered.
	// FailedInputs are the packet inputs whose reading failed part way:
	// what came before was delivered, and the inputs after them were read.
	// cmd/mcpwatch exits non-zero for either.
	DamagedInputs []string `json:"damaged_inputs,omitempty"`
	FailedInputs  []string `json:"failed_inputs,omitempty"`
	// Faults are the panics contained per stage ("capture": a frame's
	// header decoding; "decode": a decoder callback, whose connection was
	// dropped), none when empty. FailureDumps are the reproducer pcaps
	// written for them (Config.FailureDumps).
	Faults       map[string]FaultSummary `json:"faults,omitempty"`
	FailureDumps []string                `json:"failure_dumps,omitempty"`
	// Feeds are the alert feeds' deliveries, by feed name.
	Feeds []FeedSummary `json:"feeds,omitempty"`
	// RuleErrors lists the rules that had run-time errors, by rule id.
	RuleErrors []RuleErrorSummary `json:"rule_errors,omitempty"`
	// Resumed is set when the run resumed one on the same data dir that
	// stopped before it delivered everything: the input was read again from
	// the start, and Deduplicated counts, per output, the events or alerts
	// skipped because the interrupted run (or a redelivery) had written them.
	Resumed      *Resume          `json:"resumed,omitempty"`
	Deduplicated map[string]int64 `json:"deduplicated,omitempty"`
	// DiskPauses counts the times the input paused because the data dir
	// was short of space, for DiskPaused in all.
	DiskPauses int64         `json:"disk_pauses,omitempty"`
	DiskPaused time.Duration `json:"disk_paused_ns,omitempty"`
	// StoreRestarts counts the times the embedded server's JetStream was
	// started again after a write to the data dir had failed (a full disk).
	StoreRestarts int64 `json:"store_restarts,omitempty"`
	// Captures are the capture's own counters of each packet input (gaps,
	// truncations, drops), for reports on the capture's health; the
	// summary's JSON leaves them out (capture.Stats has no JSON names).
	Captures []CaptureSummary `json:"-"`
}

// CaptureSummary is what capture counted reading one packet input; Read
// is set for capture files.
type CaptureSummary struct {
	Input string
	Stats capture.Stats
	Read  *capture.ReadStats
}

// Resume names the interrupted run a run resumed.
type Resume struct {
	RunID   string    `json:"run_id,omitempty"`
	PID     int       `json:"pid,omitempty"`
	Started time.Time `json:"started,omitempty"`
	// Resumes counts the runs of the dedup epoch before this one.
	Resumes int `json:"resumes,omitempty"`
	// Backlog is set when the interrupted run read live input: the events
	// and alerts it stored but had not delivered were delivered from the
	// data dir by its own durable consumers: BacklogEventBatches bus
	// messages of events, and BacklogAlertBatches of alerts summed over the
	// alert outputs and feeds.
	Backlog             bool   `json:"backlog,omitempty"`
	BacklogEventBatches uint64 `json:"backlog_event_batches,omitempty"`
	BacklogAlertBatches uint64 `json:"backlog_alert_batches,omitempty"`
}

// How says how the interrupted run's undelivered events were recovered.
func (r *Resume) How() string {
	if r.Backlog {
		return fmt.Sprintf("its stored backlog (%d batches of events, %d of alerts) was delivered from the data dir", r.BacklogEventBatches, r.BacklogAlertBatches)
	}
	return "the input was replayed from the start"
}

// ServerSummary is one line of the server inventory.
type ServerSummary struct {
	ServerKey        string   `json:"server_key,omitempty"`
	Name             string   `json:"name,omitempty"`
	Version          string   `json:"version,omitempty"`
	ProtocolVersions []string `json:"protocol_versions,omitempty"`
	Clients          int      `json:"clients,omitempty"`
	Messages         int64    `json:"messages,omitempty"`
}

// inventory accumulates the summary from delivered events and alerts.
type inventory struct {
	mu       sync.Mutex
	events   map[event.Kind]int64
	sessions int64
	servers  map[string]*serverInv
	alerts   map[string]int64
	// severities counts the alerts per severity.
	severities map[string]int64
}

type serverInv struct {
	name, version string
	versions      map[string]bool
	clients       map[string]bool
	messages      int64
}

func newInventory() *inventory {
	return &inventory{events: map[event.Kind]int64{}, servers: map[string]*serverInv{}, alerts: map[string]int64{}, severities: map[string]int64{}}
}

func (inv *inventory) addEvents(evs []*event.Event) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for _, ev := range evs {
		inv.events[ev.Kind]++
		if ev.Kind == event.KindSession {
			inv.sessions++
		}
		if ev.Kind != event.KindMessage && ev.Kind != event.KindSession {
			continue
		}
		s := inv.servers[ev.ServerKey]
		if s == nil {
			s = &serverInv{versions: map[string]bool{}, clients: map[string]bool{}}
			inv.servers[ev.ServerKey] = s
		}
		s.name = cmp.Or(ev.ServerName, s.name)
		s.version = cmp.Or(ev.ServerVersion, s.version)
		if ev.ProtocolVersion != "" {
			s.versions[ev.ProtocolVersion] = true
		}
		if ev.ClientAddress != "" {
			s.clients[ev.ClientAddress] = true
		}
		if ev.Kind == event.KindMessage {
			s.messages++
		}
	}
}

func (inv *inventory) addAlerts(as []*event.Alert) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for _, a := range as {
		inv.alerts[a.RuleID]++
		inv.severities[a.Severity]++
	}
}

// fill copies the inventory into s.
func (inv *inventory) fill(s *Summary) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	s.Events = map[event.Kind]int64{}
	for k, n := range inv.events {
		s.Events[k] = n
	}
	s.Sessions = inv.sessions
	s.AlertsByRule = maps.Clone(inv.alerts)
	s.AlertsBySeverity = maps.Clone(inv.severities)
	s.Servers = s.Servers[:0]
	for key, srv := range inv.servers {
		versions := make([]string, 0, len(srv.versions))
		for v := range srv.versions {
			versions = append(versions, v)
		}
		sort.Strings(versions)
		s.Servers = append(s.Servers, ServerSummary{
			ServerKey: key, Name: srv.name, Version: srv.version,
			ProtocolVersions: versions, Clients: len(srv.clients), Messages: srv.messages,
		})
	}
	slices.SortFunc(s.Servers, func(a, b ServerSummary) int { return cmp.Compare(a.ServerKey, b.ServerKey) })
}

// Print writes the summary for a person. Every string in it may have come
// off the wire (a Host header, a server name, a log record quoted in a
// warning), so each goes through event.Printable: control characters
// show as escapes instead of driving the terminal.
func (s *Summary) Print(w io.Writer) {
	p := event.Printable
	fmt.Fprintf(w, "packets: %d  flows: %d  MCP sessions: %d  events: %s\n",
		s.Packets, s.Flows, s.Sessions, s.eventCounts())
	if s.LogRecords > 0 || s.BadLogRecords > 0 {
		fmt.Fprintf(w, "log records: %d  skipped as bad: %d\n", s.LogRecords, s.BadLogRecords)
	}
	if fb := s.fallbacks(); fb != "" {
		fmt.Fprintf(w, "log fields filled in: %s\n", fb)
	}
	fmt.Fprintf(w, "MCP servers (%d):\n", len(s.Servers))
	table := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, srv := range s.Servers {
		name := "(unknown)"
		if srv.Name != "" {
			name = p(srv.Name) + " " + p(srv.Version)
		}
		versions := "-"
		if len(srv.ProtocolVersions) > 0 {
			versions = event.PrintableList(srv.ProtocolVersions, ",")
		}
		fmt.Fprintf(table, "  %s\t%s\tprotocol %s\tclients %d\tmessages %d\n",
			p(srv.ServerKey), name, versions, srv.Clients, srv.Messages)
	}
	table.Flush()
	var total int64
	rules := make([]string, 0, len(s.AlertsByRule))
	for r, n := range s.AlertsByRule {
		rules = append(rules, r)
		total += n
	}
	sort.Strings(rules)
	fmt.Fprintf(w, "alerts (%d):\n", total)
	for _, r := range rules {
		fmt.Fprintf(table, "  %s\t%d\n", p(r), s.AlertsByRule[r])
	}
	table.Flush()
	s.printFeeds(w)
	s.printRuleErrors(w)
	if len(s.Faults) > 0 {
		fmt.Fprintf(w, "faults contained: %s\n", p(s.faultLine()))
	}
	if len(s.FailureDumps) > 0 {
		fmt.Fprintf(w, "failure dumps (%d, please send with a bug report): %s\n", len(s.FailureDumps), event.PrintableList(s.FailureDumps, " "))
	}
	if r := s.Resumed; r != nil {
		fmt.Fprintf(w, "resumed: run %s (pid %d, started %s) stopped before delivering everything; %s\n",
			r.RunID, r.PID, r.Started.Format(time.RFC3339), r.How())
	}
	if len(s.Deduplicated) > 0 || s.Resumed != nil {
		fmt.Fprintf(w, "deduplicated (already written, skipped): %s\n", s.dedupLine())
	}
	if s.DiskPauses > 0 {
		fmt.Fprintf(w, "input paused %d times for %s: data dir short of space\n", s.DiskPauses, s.DiskPaused.Round(time.Millisecond))
	}
	if s.StoreRestarts > 0 {
		fmt.Fprintf(w, "JetStream restarted %d times after a write to the data dir failed (file system full)\n", s.StoreRestarts)
	}
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "warning: %s\n", p(warn))
	}
	for _, d := range s.DamagedInputs {
		fmt.Fprintf(w, "damaged input: %s\n", d)
	}
	for _, f := range s.FailedInputs {
		fmt.Fprintf(w, "failed input: %s\n", f)
	}
}

func (s *Summary) dedupLine() string {
	if len(s.Deduplicated) == 0 {
		return "none"
	}
	names := make([]string, 0, len(s.Deduplicated))
	for n := range s.Deduplicated {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, s.Deduplicated[n])
	}
	return strings.Join(parts, ", ")
}

// addTap adds what reading one proxy log gave; live is set for a followed
// file.
func (s *Summary) addTap(name string, run tapRun, live bool) {
	st := run.stats
	s.LogRecords += st.Records
	s.BadLogRecords += st.BadRecords
	s.LogFallbacks = s.LogFallbacks.Add(st.Fallbacks)
	if st.BadRecords == 0 {
		return
	}
	if !live {
		s.BadLogRecordsRead += st.BadRecords
	}
	s.Warnings = append(s.Warnings, fmt.Sprintf("%s: %d bad log records skipped, the rest read (first: %s)", name, st.BadRecords, run.firstBad))
}

// addReadStats adds what damage and unsupported link types cost in one
// capture file, warning once for each.
func (s *Summary) addReadStats(log *slog.Logger, path string, rs capture.ReadStats) {
	if rs.Damaged() {
		log.Warn("damaged capture file: skipped to the next valid record", "file", path, "offset", rs.FirstBadOffset,
			"record", rs.FirstBadRecord, "bad_records", rs.BadRecords, "skipped_bytes", rs.SkippedBytes)
		s.DamagedInputs = append(s.DamagedInputs, fmt.Sprintf("%s: %s", path, rs.DamageString()))
	}
	if len(rs.UnsupportedLinkTypes) > 0 {
		log.Warn("unsupported link types: frames skipped", "file", path, "link_types", rs.UnsupportedLinkTypes)
		s.Warnings = append(s.Warnings, fmt.Sprintf("%s: unsupported %s", path, rs.LinkTypesString()))
	}
}

// fallbacks says which missing log fields were filled in from where.
func (s *Summary) fallbacks() string {
	fb := s.LogFallbacks
	var parts []string
	for _, c := range []struct {
		n    int64
		what string
	}{
		{fb.TimeFile, "time from the file's modification time"},
		{fb.TimePrevious, "time from the record before"},
		{fb.TimeClock, "time from the clock"},
		{fb.ClientForwardedFor, "client from X-Forwarded-For"},
		{fb.ServerAuthority, "server from the authority"},
	} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c.what, c.n))
		}
	}
	return strings.Join(parts, ", ")
}

func (s *Summary) eventCounts() string {
	var parts []string
	for _, k := range event.Kinds {
		if n := s.Events[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
