package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// statsCollector exports the counters of one stage's Stats snapshot as
// Prometheus metrics, so every counter a stage keeps — every cap's drops
// included — is a metric without a second list of names to keep in step:
//
//	integer field Packets               → mcpwatch_<stage>_packets_total
//	field named …Active/…InUse/…Open…   → a gauge, no _total (gaugeSuffixes)
//	nested struct FlowsEnded{FIN, RST}  → mcpwatch_<stage>_flows_ended_total{reason="fin"}
//	map Rules[id]{Alerts, …}            → mcpwatch_<stage>_rules_alerts_total{rule="id"}
//	map Events[kind] int                → mcpwatch_<stage>_events_total{kind="message"}
type statsCollector struct {
	stage    string
	snapshot func() any
}

// mapLabels names the label of a map-typed Stats field; others get "key".
var mapLabels = map[string]string{"Events": "kind", "Rules": "rule", "Backlog": "durable", "Feed": "feed"}

// gaugeSuffixes mark a field that is a level, not a running count.
var gaugeSuffixes = []string{"Active", "InUse", "Open", "InFlight", "Pending", "Unacked", "Groups", "Failing"}

func (c *statsCollector) Describe(chan<- *prometheus.Desc) {} // unchecked: fields vary by build

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	v := reflect.ValueOf(c.snapshot())
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	c.collectStruct(ch, "mcpwatch_"+c.stage, v, nil, nil)
}

func (c *statsCollector) collectStruct(ch chan<- prometheus.Metric, prefix string, v reflect.Value, labels, values []string) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := prefix + "_" + snake(f.Name)
		fv := v.Field(i)
		switch fv.Kind() {
		case reflect.Struct:
			if f.Type == reflect.TypeFor[time.Time]() {
				continue
			}
			c.collectReasons(ch, name, f.Name, fv, labels, values)
		case reflect.Map:
			label := mapLabels[f.Name]
			if label == "" {
				label = "key"
			}
			keys := fv.MapKeys()
			sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
			for _, k := range keys {
				lv := append(append([]string(nil), values...), k.String())
				ll := append(append([]string(nil), labels...), label)
				elem := fv.MapIndex(k)
				if elem.Kind() == reflect.Struct {
					c.collectStruct(ch, name, elem, ll, lv)
				} else {
					c.emit(ch, name, f.Name, elem, ll, lv)
				}
			}
		default:
			c.emit(ch, name, f.Name, fv, labels, values)
		}
	}
}

// collectReasons exports a struct of counters as one metric labelled by
// reason (the field names).
func (c *statsCollector) collectReasons(ch chan<- prometheus.Metric, name, field string, v reflect.Value, labels, values []string) {
	t := v.Type()
	for i := range t.NumField() {
		if !t.Field(i).IsExported() {
			continue
		}
		c.emit(ch, name, field, v.Field(i), append(append([]string(nil), labels...), "reason"),
			append(append([]string(nil), values...), snake(t.Field(i).Name)))
	}
}

func (c *statsCollector) emit(ch chan<- prometheus.Metric, name, field string, v reflect.Value, labels, values []string) {
	var f float64
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f = float64(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f = float64(v.Uint())
	case reflect.Float32, reflect.Float64:
		f = v.Float()
	default:
		return
	}
	kind := prometheus.CounterValue
	for _, w := range gaugeSuffixes {
		if strings.HasSuffix(field, w) {
			kind = prometheus.GaugeValue
		}
	}
	if kind == prometheus.CounterValue {
		name += "_total"
	}
	desc := prometheus.NewDesc(name, fmt.Sprintf("%s.%s (see the %s package's Stats)", c.stage, field, c.stage), labels, nil)
	ch <- prometheus.MustNewConstMetric(desc, kind, f, values...)
}

// snake turns a Go field name into snake_case: FlowsCreated → flows_created,
// GapsInBody → gaps_in_body, MCPExchanges → mcp_exchanges, FIN → fin.
func snake(s string) string {
	var b strings.Builder
	runes := []rune(s)
	for i, r := range runes {
		if unicode.IsUpper(r) && i > 0 {
			prevLower := unicode.IsLower(runes[i-1])
			nextLower := i+1 < len(runes) && unicode.IsLower(runes[i+1])
			if prevLower || (nextLower && unicode.IsUpper(runes[i-1])) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// snapshot holds the latest Stats of a stage whose Stats method may only be
// called from the stage's own goroutine; that goroutine stores, the metrics
// handler loads.
type snapshot[T any] struct{ p atomic.Pointer[T] }

func (s *snapshot[T]) store(v T) { s.p.Store(&v) }
func (s *snapshot[T]) load() any { return s.p.Load() }

// serveMetrics serves /metrics on addr until ctx ends, and Go's runtime
// profiles under /debug/pprof/ when pprof is set. Registering fails only on
// a programming error.
// newRegistry is the Go and process metrics and those of every stage.
func newRegistry(stages map[string]func() any) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for stage, snap := range stages {
		reg.MustRegister(&statsCollector{stage: stage, snapshot: snap})
	}
	return reg
}

func serveMetrics(ctx context.Context, addr string, pprof bool, log *slog.Logger, reg *prometheus.Registry) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	if pprof {
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", "err", err)
		}
	}()
	log.Info("serving metrics", "url", "http://"+l.Addr().String()+"/metrics")
	return nil
}

// statsRecord is one line of --stats-out: every mcpwatch counter and gauge
// and the process's memory and CPU, as Suricata's stats records are.
type statsRecord struct {
	Kind    string             `json:"kind"`
	TS      time.Time          `json:"ts"`
	UptimeS float64            `json:"uptime_s"`
	Metrics map[string]float64 `json:"metrics"`
}

// writeStats appends a statsRecord to w every interval until ctx ends, and
// a last one then.
func writeStats(ctx context.Context, w io.Writer, every time.Duration, reg prometheus.Gatherer, log *slog.Logger) {
	start := time.Now()
	enc := json.NewEncoder(w)
	t := time.NewTicker(every)
	defer t.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-t.C:
		}
		rec, err := gatherStats(reg)
		if err == nil {
			rec.TS, rec.UptimeS = time.Now().UTC(), time.Since(start).Seconds()
			err = enc.Encode(rec)
		}
		if err != nil {
			log.Warn("stats record not written", "err", err)
		}
	}
}

// gatherStats flattens the counters and gauges of reg into name{label=value}
// keys; Go runtime histograms and summaries are left out.
func gatherStats(reg prometheus.Gatherer) (statsRecord, error) {
	families, err := reg.Gather()
	rec := statsRecord{Kind: "stats", Metrics: map[string]float64{}}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			if len(m.GetLabel()) > 0 {
				pairs := make([]string, len(m.GetLabel()))
				for i, l := range m.GetLabel() {
					pairs[i] = l.GetName() + "=" + l.GetValue()
				}
				key += "{" + strings.Join(pairs, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				rec.Metrics[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				rec.Metrics[key] = m.GetGauge().GetValue()
			}
		}
	}
	return rec, err
}
