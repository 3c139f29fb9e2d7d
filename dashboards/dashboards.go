package dashboards

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The datasource every panel and variable queries, as provisioned in
// provisioning/datasources/clickhouse.yaml.
const (
	DatasourceType = "grafana-clickhouse-datasource"
	DatasourceUID  = "mcpwatch-clickhouse"
)

// All builds every dashboard, in the order of the dashboards' links.
func All() ([]dashboard.Dashboard, error) {
	builders := []*dashboard.DashboardBuilder{overview(), posture(), traffic(), manifests(), alerts()}
	out := make([]dashboard.Dashboard, 0, len(builders))
	for _, b := range builders {
		d, err := b.Build()
		if err != nil {
			return nil, fmt.Errorf("build dashboard: %w", err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Render is the committed form of a dashboard: indented JSON with a final
// newline, so diffs of regenerated files stay readable.
func Render(d dashboard.Dashboard) ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render dashboard %s: %w", *d.Uid, err)
	}
	return append(b, '\n'), nil
}

// FileName is the name of a dashboard's file in dashboards/json.
func FileName(d dashboard.Dashboard) string { return *d.Uid + ".json" }

// newDashboard starts a dashboard with what they all share: tags, UTC (the
// tables store UTC and alerts are compared across sites), the last 24 hours,
// and links to the other mcpwatch dashboards.
func newDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"mcpwatch", "mcp"}).
		Timezone("utc").
		Time("now-24h", "now").
		Refresh("1m").
		Editable().
		Link(dashboard.NewDashboardLinkBuilder("mcpwatch").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"mcpwatch"}).
			AsDropdown(true).
			KeepTime(true).
			IncludeVars(true))
}

func datasource() common.DataSourceRef {
	t, uid := DatasourceType, DatasourceUID
	return common.DataSourceRef{Type: &t, Uid: &uid}
}

// Query is a target of the ClickHouse datasource in SQL editor mode: the
// fields of the plugin's CHSqlQuery (grafana/clickhouse-datasource
// src/types/sql.ts). Format is sqlutil's FormatQueryOption, which the
// plugin's backend uses to shape the frame: 0 time series (long rows of
// time, labels, values are turned wide), 1 table.
type Query struct {
	RefID      string               `json:"refId"`
	Datasource common.DataSourceRef `json:"datasource"`
	EditorType string               `json:"editorType"`
	QueryType  string               `json:"queryType"`
	Format     int                  `json:"format"`
	RawSQL     string               `json:"rawSql"`
}

// The two shapes a panel asks for.
const (
	formatTimeSeries = 0
	formatTable      = 1
)

var (
	_ variants.Dataquery              = Query{}
	_ cog.Builder[variants.Dataquery] = Query{}
)

// ImplementsDataqueryVariant marks Query as a target for the SDK's panels.
func (Query) ImplementsDataqueryVariant() {}

// DataqueryType is the plugin the query is for.
func (Query) DataqueryType() string { return DatasourceType }

// Validate refuses a query without SQL.
func (q Query) Validate() error {
	if strings.TrimSpace(q.RawSQL) == "" {
		return fmt.Errorf("query %s: no SQL", q.RefID)
	}
	return nil
}

// Equals compares two targets field by field.
func (q Query) Equals(other variants.Dataquery) bool {
	o, ok := other.(Query)
	return ok && q == o
}

// Build lets a Query be its own builder.
func (q Query) Build() (variants.Dataquery, error) { return q, q.Validate() }

func sqlQuery(format int, sql string) Query {
	queryType := "table"
	if format == formatTimeSeries {
		queryType = "timeSeries"
	}
	return Query{RefID: "A", Datasource: datasource(), EditorType: "sql", QueryType: queryType, Format: format, RawSQL: sql}
}

// Panel sizes on Grafana's 24-column grid.
const (
	statHeight  = 4
	graphHeight = 8
	tableHeight = 10
	fullWidth   = 24
	halfWidth   = 12
)

func timeSeriesPanel(title, description, sql string) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		WithTarget(sqlQuery(formatTimeSeries, sql)).
		Height(graphHeight).
		Span(halfWidth)
}

func tablePanel(title, description, sql string) *table.PanelBuilder {
	return table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		WithTarget(sqlQuery(formatTable, sql)).
		Height(tableHeight).
		Span(fullWidth)
}

// statPanel shows the one value its SQL returns.
func statPanel(title, description, sql string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		WithTarget(sqlQuery(formatTable, sql)).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		Height(statHeight).
		Span(6)
}

// queryVariable is a multi-value variable filled by sql, refreshed when the
// time range changes, "All" by default. Its query is the plugin's object
// form ({rawSql, editorType}), which metricFindQuery runs like a panel's.
func queryVariable(name, label, sql string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(datasource()).
		Query(dashboard.StringOrMap{Map: map[string]any{"refId": name, "editorType": "sql", "rawSql": sql}}).
		Definition(sql).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		Current(allSelected())
}

// severityVariable offers the alert severities of EVENTS.md, fixed values
// so that a severity with no alert yet can still be picked.
func severityVariable() *dashboard.CustomVariableBuilder {
	values := "low,medium,high,critical"
	return dashboard.NewCustomVariableBuilder("severity").
		Label("Severity").
		Values(dashboard.StringOrMap{String: &values}).
		Multi(true).
		IncludeAll(true).
		Current(allSelected())
}

func allSelected() dashboard.VariableOption {
	all, allValue, selected := "All", "$__all", true
	return dashboard.VariableOption{
		Selected: &selected,
		Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{all}},
		Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{allValue}},
	}
}

// serverVariable is the MCP endpoints seen in the time range.
func serverVariable() *dashboard.QueryVariableBuilder {
	return queryVariable("server", "MCP server",
		"SELECT DISTINCT server_key FROM messages WHERE $__timeFilter(ts) AND server_key != '' ORDER BY server_key")
}

// in filters column by a multi-value variable. The datasource renders the
// selected values as 'a','b'; with "All" selected, $__conditionalAll turns
// the whole condition into 1=1 instead of listing every value.
func in(column, variable string) string {
	return fmt.Sprintf("$__conditionalAll(%s IN ($%s), $%s)", column, variable, variable)
}

// bucket is the start of the $__interval_s bucket a DateTime column falls
// in, named time for the datasource's time series. It is the 18.16 form of
// the datasource's $__timeInterval(column), which expands to
// toStartOfInterval, a function 18.16 does not have.
func bucket(column string) string {
	return fmt.Sprintf("toDateTime(intDiv(toUInt32(%s), $__interval_s) * $__interval_s) AS time", column)
}
