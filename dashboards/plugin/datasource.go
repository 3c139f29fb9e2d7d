package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/mcpwatch/mcpwatch/sink"
)

// ID is the id Grafana knows the plugin by (src/plugin.json).
const ID = "mcpwatch-mcpwatch-datasource"

// Settings are the datasource's jsonData: where ClickHouse is and which
// database the sink writes. Password comes from secureJsonData.
type Settings struct {
	Addr     string `json:"addr"`
	Database string `json:"database"`
	Username string `json:"username"`
	Password string `json:"-"`
	// NATSURL is the NATS server of the bus, for live alerts; empty turns
	// them off. NATSCredsFile is a .creds file on Grafana's host for a
	// server that requires one.
	NATSURL       string `json:"natsUrl"`
	NATSCredsFile string `json:"natsCredsFile"`
}

// Datasource answers Grafana's queries and health checks from ClickHouse.
type Datasource struct {
	settings Settings
	conn     driver.Conn
}

var (
	_ backend.QueryDataHandler      = (*Datasource)(nil)
	_ backend.CheckHealthHandler    = (*Datasource)(nil)
	_ backend.StreamHandler         = (*Datasource)(nil)
	_ instancemgmt.InstanceDisposer = (*Datasource)(nil)
)

// NewInstance is the instance factory for datasource.Manage: one Datasource
// per configured datasource.
func NewInstance(_ context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	var settings Settings
	if err := json.Unmarshal(s.JSONData, &settings); err != nil {
		return nil, fmt.Errorf("mcpwatch datasource %s: settings: %w", s.Name, err)
	}
	settings.Password = s.DecryptedSecureJSONData["password"]
	return New(settings)
}

// New opens a connection pool to ClickHouse; it does not connect until the
// first query, so that a datasource can be saved while ClickHouse is down.
func New(s Settings) (*Datasource, error) {
	if s.Database == "" {
		s.Database = sink.DefaultClickHouseDatabase
	}
	if s.Username == "" {
		s.Username = "default"
	}
	if s.Addr == "" {
		return nil, fmt.Errorf("mcpwatch datasource: ClickHouse address (host:port) is required")
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: []string{s.Addr},
		Auth: clickhouse.Auth{Database: s.Database, Username: s.Username, Password: s.Password},
		// A dashboard must not be able to write: every query runs in a
		// read-only session.
		Settings:    clickhouse.Settings{"readonly": 2},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("mcpwatch datasource: connect to ClickHouse at %s: %w", s.Addr, err)
	}
	return &Datasource{settings: s, conn: conn}, nil
}

// Dispose closes the pool when Grafana drops the instance (settings changed).
func (d *Datasource) Dispose() { d.conn.Close() }

// schemaObjects are the tables and views the dashboards and views read.
var schemaObjects = []string{"messages", "sessions", "auth", "manifests", "flows", "alerts", "servers", "clients", "server_tools", "posture"}

// CheckHealth reports whether ClickHouse answers and the mcpwatch schema
// has been applied to the database.
func (d *Datasource) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	fail := func(format string, args ...any) (*backend.CheckHealthResult, error) {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: fmt.Sprintf(format, args...)}, nil
	}
	var version string
	if err := d.conn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		return fail("ClickHouse at %s does not answer: %v", d.settings.Addr, err)
	}
	rows, err := d.conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ?", d.settings.Database)
	if err != nil {
		return fail("ClickHouse %s at %s: list tables of %s: %v", version, d.settings.Addr, d.settings.Database, err)
	}
	defer rows.Close()
	present := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fail("ClickHouse %s at %s: list tables of %s: %v", version, d.settings.Addr, d.settings.Database, err)
		}
		present[name] = true
	}
	var missing []string
	for _, name := range schemaObjects {
		if !present[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fail("ClickHouse %s at %s: database %s lacks %s: run mcpwatch store --migrate-only",
			version, d.settings.Addr, d.settings.Database, strings.Join(missing, ", "))
	}
	return &backend.CheckHealthResult{Status: backend.HealthStatusOk,
		Message: fmt.Sprintf("ClickHouse %s at %s: mcpwatch schema in %s", version, d.settings.Addr, d.settings.Database)}, nil
}

// QueryData answers each query on its own: one that fails does not fail
// the others.
func (d *Datasource) QueryData(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	resp := backend.NewQueryDataResponse()
	for _, q := range req.Queries {
		resp.Responses[q.RefID] = d.query(ctx, q)
	}
	return resp, nil
}

func (d *Datasource) query(ctx context.Context, q backend.DataQuery) backend.DataResponse {
	var m Query
	if err := json.Unmarshal(q.JSON, &m); err != nil {
		return backend.ErrDataResponse(backend.StatusBadRequest, fmt.Sprintf("query %s: %v", q.RefID, err))
	}
	sql, args, err := m.sql(q.TimeRange)
	if err != nil {
		return backend.ErrDataResponse(backend.StatusBadRequest, fmt.Sprintf("query %s: %v", q.RefID, err))
	}
	frame, err := d.frame(ctx, m.View, sql, args)
	if err != nil {
		return backend.ErrDataResponse(backend.StatusInternal, fmt.Sprintf("query %s (%s) on ClickHouse at %s: %v", q.RefID, m.View, d.settings.Addr, err))
	}
	return backend.DataResponse{Frames: data.Frames{frame}}
}

// frame runs sql and turns its columns into fields. Arrays, which data
// frames cannot hold, become comma-separated text.
func (d *Datasource) frame(ctx context.Context, name, sql string, args []any) (*data.Frame, error) {
	rows, err := d.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	values := make([]reflect.Value, len(types))
	for i, ct := range types {
		t := ct.ScanType()
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String {
			t = reflect.TypeFor[string]()
		}
		values[i] = reflect.MakeSlice(reflect.SliceOf(t), 0, 16)
	}
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		for i := range dest {
			v := reflect.ValueOf(dest[i]).Elem()
			if list, ok := v.Interface().([]string); ok {
				v = reflect.ValueOf(strings.Join(list, ", "))
			}
			values[i] = reflect.Append(values[i], v)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	frame := data.NewFrame(name)
	for i, c := range rows.Columns() {
		frame.Fields = append(frame.Fields, data.NewField(c, nil, values[i].Interface()))
	}
	return frame, nil
}
