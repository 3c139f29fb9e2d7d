package dashboards

import (
	"strings"
	"testing"
	"time"
)

// The expected expansions follow the plugin's own tests and sources
// (grafana/clickhouse-datasource pkg/macros, src/data/CHDatasource.ts).
func TestExpand(t *testing.T) {
	r := Request{
		From:     time.Date(2014, 11, 12, 11, 45, 26, 371e6, time.UTC),
		To:       time.Date(2015, 11, 12, 11, 45, 26, 371e6, time.UTC),
		Interval: 20 * time.Second,
		Variables: map[string]Variable{
			"server": {Values: []string{"http://a/mcp", "http://b/mcp"}},
			"rule":   {All: true, Values: []string{"r1", "r2"}},
		},
	}
	cases := []struct{ name, sql, want string }{
		{"fromTime", "SELECT $__fromTime", "SELECT toDateTime(1415792726)"},
		{"toTime", "SELECT $__toTime", "SELECT toDateTime(1447328726)"},
		{"timeFilter", "WHERE $__timeFilter(ts)", "WHERE ts >= toDateTime(1415792726) AND ts <= toDateTime(1447328726)"},
		{"timeFilter argument trimmed", "WHERE $__timeFilter( ts )", "WHERE ts >= toDateTime(1415792726) AND ts <= toDateTime(1447328726)"},
		{"timeFrom", "WHERE $__timeFrom(ts)", "WHERE ts >= toDateTime(1415792726)"},
		{"dateFilter", "WHERE $__dateFilter(d)", "WHERE d >= toDate('2014-11-12') AND d <= toDate('2015-11-12')"},
		{"timeInterval", "SELECT $__timeInterval(ts)", "SELECT toStartOfInterval(toDateTime(ts), INTERVAL 20 second)"},
		{"interval_s", "SELECT intDiv(x, $__interval_s)", "SELECT intDiv(x, 20)"},
		{"nested brackets", "WHERE $__timeFilter(toDateTime(ts_ns / 1000000000))",
			"WHERE toDateTime(ts_ns / 1000000000) >= toDateTime(1415792726) AND toDateTime(ts_ns / 1000000000) <= toDateTime(1447328726)"},
		{"multi-value variable", "WHERE server_key IN ($server)", "WHERE server_key IN ('http://a/mcp','http://b/mcp')"},
		{"braced variable", "WHERE server_key IN (${server})", "WHERE server_key IN ('http://a/mcp','http://b/mcp')"},
		{"All is every option", "WHERE rule_id IN ($rule)", "WHERE rule_id IN ('r1','r2')"},
		{"conditionalAll with a selection", "WHERE $__conditionalAll(server_key IN ($server), $server)",
			"WHERE server_key IN ('http://a/mcp','http://b/mcp')"},
		{"conditionalAll with All", "WHERE $__conditionalAll(rule_id IN ($rule), $rule) AND x", "WHERE 1=1 AND x"},
		{"both", "WHERE $__conditionalAll(a IN ($rule), $rule) AND $__conditionalAll(b IN (${server}), ${server})",
			"WHERE 1=1 AND b IN ('http://a/mcp','http://b/mcp')"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Expand(c.sql, r)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("Expand(%q)\n got %q\nwant %q", c.sql, got, c.want)
			}
		})
	}
}

func TestExpandRefuses(t *testing.T) {
	r := Request{Variables: map[string]Variable{"server": {Values: []string{"x"}}}}
	cases := []struct{ name, sql, want string }{
		{"unknown variable", "WHERE a IN ($severity)", "$severity"},
		{"macro the datasource lacks", "SELECT $__timeGroup(ts, 1m)", "$__timeGroup"},
		{"prefix of a macro", "WHERE $__timeFilterX(ts)", "$__timeFilterX"},
		{"explicit format", "WHERE a IN (${server:csv})", "formatting"},
		{"macro without its argument", "WHERE $__timeFilter", "1 argument"},
		{"unclosed macro", "WHERE $__timeFilter(ts", "close bracket"},
		{"conditionalAll with one argument", "WHERE $__conditionalAll(a IN ($server))", "two arguments"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Expand(c.sql, r)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Expand(%q) = %q, %v; want an error about %s", c.sql, got, err, c.want)
			}
		})
	}
}
