package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// dashboardFile is what the test reads of a committed dashboard: the SQL
// of every panel target and variable, as Grafana would load it.
type dashboardFile struct {
	UID    string `json:"uid"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			RefID      string `json:"refId"`
			RawSQL     string `json:"rawSql"`
			Datasource struct {
				Type string `json:"type"`
				UID  string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func readDashboardFiles(t *testing.T) []dashboardFile {
	t.Helper()
	paths, err := filepath.Glob("json/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboards in json/ (%v)", err)
	}
	var out []dashboardFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboardFile
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, d)
	}
	return out
}

// row is one result row, every value as text: times in UTC as ClickHouse
// prints them, arrays as Go prints slices.
type row map[string]string

func query(ctx context.Context, conn driver.Conn, sql string) ([]row, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := rows.Columns()
	types := rows.ColumnTypes()
	var out []row
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		r := row{}
		for i, c := range cols {
			v := reflect.ValueOf(dest[i]).Elem().Interface()
			if tm, ok := v.(time.Time); ok {
				v = tm.UTC().Format(time.DateTime)
			}
			r[c] = fmt.Sprint(v)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// queryRequest is the dashboards' time range around the seed, with one
// minute buckets, as Grafana would send it for a panel about 60 points wide.
func queryRequest() Request {
	return Request{
		From:     time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC),
		To:       time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC),
		Interval: time.Minute,
	}
}

// variables runs the dashboard's variable queries, as Grafana does when it
// loads a dashboard, and selects "All" of every variable, the dashboards'
// default.
func variables(ctx context.Context, t *testing.T, conn driver.Conn, d dashboardFile, r Request) map[string]Variable {
	t.Helper()
	vars := map[string]Variable{}
	for _, v := range d.Templating.List {
		var options []string
		switch v.Type {
		case "custom":
			var values string
			if err := json.Unmarshal(v.Query, &values); err != nil {
				t.Fatalf("%s: variable %s: %v", d.UID, v.Name, err)
			}
			options = strings.Split(values, ",")
		case "query":
			var q struct {
				RawSQL string `json:"rawSql"`
			}
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Fatalf("%s: variable %s: %v", d.UID, v.Name, err)
			}
			// Variable queries see no variables, only the time range.
			sql, err := Expand(q.RawSQL, r)
			if err != nil {
				t.Fatalf("%s: variable %s: %v", d.UID, v.Name, err)
			}
			rows, err := query(ctx, conn, sql)
			if err != nil {
				t.Fatalf("%s: variable %s: %v\n%s", d.UID, v.Name, err, sql)
			}
			for _, r := range rows {
				if len(r) != 1 {
					t.Fatalf("%s: variable %s: %d columns, want 1", d.UID, v.Name, len(r))
				}
				for _, val := range r {
					options = append(options, val)
				}
			}
		default:
			t.Fatalf("%s: variable %s: type %s not handled", d.UID, v.Name, v.Type)
		}
		if len(options) == 0 {
			t.Errorf("%s: variable %s has no options over the seed", d.UID, v.Name)
		}
		vars[v.Name] = Variable{All: true, Values: options}
	}
	return vars
}

func TestPanelQueries(t *testing.T) {
	conn := seed(t)
	ctx := context.Background()
	for _, d := range readDashboardFiles(t) {
		r := queryRequest()
		r.Variables = variables(ctx, t, conn, d, r)
		for _, p := range d.Panels {
			for _, target := range p.Targets {
				sql, err := Expand(target.RawSQL, r)
				if err != nil {
					t.Errorf("%s / %s: %v", d.UID, p.Title, err)
					continue
				}
				rows, err := query(ctx, conn, sql)
				if err != nil {
					t.Errorf("%s / %s: %v\n%s", d.UID, p.Title, err, sql)
					continue
				}
				t.Logf("%s / %s:", d.UID, p.Title)
				for _, r := range rows {
					t.Logf("  %v", r)
				}
			}
		}
	}
}
