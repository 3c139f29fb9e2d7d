package report

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// Config bounds a report. Zero fields take the defaults.
type Config struct {
	// Title heads the report; default "mcpwatch report".
	Title string
	// Source says what the report was made from (file names, a query).
	Source string
	// MaxServers caps the servers with state of their own. Default 10 000.
	MaxServers int
	// MaxEvidence caps the ids kept per number. Default 10.
	MaxEvidence int
	// TimeBuckets caps the buckets of a chart over time. Default 48.
	TimeBuckets int
	// TopN caps top talkers, bulk transfers and tools per server. Default 20.
	TopN int
	// RecentAlerts is how many alerts are listed one by one. Default 100.
	RecentAlerts int
	// PageSize is the inventory rows the HTML page shows at a time. Default 50.
	PageSize int
}

func (c Config) withDefaults() Config {
	c.Title = cmp.Or(c.Title, "mcpwatch report")
	c.MaxServers = cmp.Or(c.MaxServers, 10_000)
	c.MaxEvidence = cmp.Or(c.MaxEvidence, 10)
	c.TimeBuckets = cmp.Or(c.TimeBuckets, 48)
	c.TopN = cmp.Or(c.TopN, 20)
	c.RecentAlerts = cmp.Or(c.RecentAlerts, 100)
	c.PageSize = cmp.Or(c.PageSize, 50)
	return c
}

// Evidence is a number and the ids behind it (capped; Count is the
// number itself). Ref is its anchor in the appendix.
type Evidence struct {
	Count int64    `json:"count"`
	IDs   []string `json:"ids,omitempty"`
	Ref   string   `json:"ref,omitempty"`
}

// Report is everything the renderers show.
type Report struct {
	Title     string    `json:"title"`
	Source    string    `json:"source,omitempty"`
	Generated time.Time `json:"generated"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	PageSize  int       `json:"-"`

	Events map[string]int64 `json:"events"`
	Alerts Evidence         `json:"alerts"`

	Servers        []Server `json:"servers"`
	ServersDropped int64    `json:"servers_dropped,omitempty"`
	Graded         bool     `json:"graded"`

	AlertTimeline    Timeline       `json:"alert_timeline"`
	AlertsByRule     []Count        `json:"alerts_by_rule"`
	RecentAlerts     []*event.Alert `json:"recent_alerts"`
	AlertsListed     int            `json:"-"`
	AuthFailures     Timeline       `json:"auth_failures"`
	TopTalkers       []Talker       `json:"top_talkers"`
	BulkTransfers    []*event.Alert `json:"bulk_transfers"`
	ProtocolSessions []Count        `json:"sessions_by_protocol_version"`
	Drift            []Drift        `json:"manifest_drift"`
	Capture          []Capture      `json:"capture"`

	// Appendix lists every Evidence with its ids, by Ref.
	Appendix []Appendix `json:"-"`
}

// Server is one row of the inventory.
type Server struct {
	ServerKey        string        `json:"server_key"`
	Name             string        `json:"server_name,omitempty"`
	Version          string        `json:"server_version,omitempty"`
	Allowlisted      bool          `json:"allowlisted"`
	Grade            string        `json:"grade"`
	FailedChecks     []FailedCheck `json:"failed_checks,omitempty"`
	ProtocolVersions []string      `json:"protocol_versions,omitempty"`
	Transports       []string      `json:"transports,omitempty"`
	Clients          int           `json:"clients"`
	Sessions         Evidence      `json:"sessions"`
	ToolCalls        Evidence      `json:"tool_calls"`
	Alerts           Evidence      `json:"alerts"`
	AuthFailures     Evidence      `json:"auth_failures"`
	Bytes            int64         `json:"bytes"`
	Tools            []Count       `json:"tools_called,omitempty"`
	ToolsOmitted     int           `json:"tools_omitted,omitempty"`
	FirstSeen        time.Time     `json:"first_seen"`
	LastSeen         time.Time     `json:"last_seen"`
}

// Count is a named number with its evidence.
type Count struct {
	Name string `json:"name"`
	Evidence
}

// Timeline is counts per time bucket and series (severities, or auth
// events).
type Timeline struct {
	Start  time.Time           `json:"start"`
	Bucket time.Duration       `json:"bucket_ns"`
	Series []string            `json:"series"`
	Counts [][]int64           `json:"counts"` // [bucket][series]
	Totals map[string]Evidence `json:"totals"`
}

// Talker is client → server traffic.
type Talker struct {
	Client string `json:"client"`
	Server string `json:"server_key"`
	Evidence
	Bytes int64 `json:"bytes"`
}

// Drift is one change of a server's tool manifest.
type Drift struct {
	ServerKey string     `json:"server_key"`
	TS        time.Time  `json:"ts"`
	From      string     `json:"from_hash"`
	To        string     `json:"to_hash"`
	Changes   []ToolDiff `json:"changes"`
	Evidence
}

// ToolDiff is one tool added, removed or redefined.
type ToolDiff struct {
	Op     string `json:"op"` // "+", "-", "~"
	Tool   string `json:"tool"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// Capture is the capture's health for one input.
type Capture struct {
	Input          string `json:"input"`
	Packets        int64  `json:"packets"`
	Flows          int64  `json:"flows"`
	Gaps           int64  `json:"gaps"`
	GapBytes       int64  `json:"gap_bytes"`
	Truncations    int64  `json:"truncations"`
	Drops          int64  `json:"drops"`
	DamagedRecords int64  `json:"damaged_records"`
	Note           string `json:"note,omitempty"`
}

// Appendix is one entry of the evidence appendix.
type Appendix struct {
	Ref, What string
	Evidence
}

// FailedCheck is a posture check a server failed, and why.
type FailedCheck struct {
	ID       string   `json:"id"`
	Reason   string   `json:"reason"`
	Evidence []string `json:"evidence,omitempty"`
}

// Grade is the posture of one server as a Grader sees it.
type Grade struct {
	ServerKey string
	Grade     string
	Failed    []FailedCheck
}

// Grader grades servers from the events (package posture's Assessor).
type Grader interface {
	Observe(ev *event.Event)
	Grades() []Grade
}

// NotGraded is the grade column without a Grader.
const NotGraded = "not graded"

func joinSorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// byteSize is n bytes for people.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// shortHash is the first 12 characters of a hash.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
