package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mcpwatch/mcpwatch/bus"
	"github.com/mcpwatch/mcpwatch/capture"
	"github.com/mcpwatch/mcpwatch/decode"
	"github.com/mcpwatch/mcpwatch/detect"
	"github.com/mcpwatch/mcpwatch/event"
)

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"FlowsCreated": "flows_created", "GapsInBody": "gaps_in_body", "MCPExchanges": "mcp_exchanges",
		"FIN": "fin", "PagesInUse": "pages_in_use", "SSEEvents": "sse_events", "Packets": "packets",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

// gather collects one stage's snapshot and indexes the samples by metric
// name and label values.
func gather(t *testing.T, stage string, snap any) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(&statsCollector{stage: stage, snapshot: func() any { return snap }})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, fam := range families {
		for _, m := range fam.Metric {
			key := fam.GetName()
			for _, l := range m.Label {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			out[key] = value(fam.GetType(), m)
		}
	}
	return out
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	if t == dto.MetricType_GAUGE {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

func TestStatsBecomeMetrics(t *testing.T) {
	st := capture.Stats{Packets: 7, FlowsActive: 3, PagesInUse: 2}
	st.FlowsEnded.FIN = 4
	st.Truncations.BodyCap = 1
	got := gather(t, "capture", &st)
	for name, want := range map[string]float64{
		"mcpwatch_capture_packets_total":                            7,
		"mcpwatch_capture_flows_active":                             3, // a gauge
		"mcpwatch_capture_pages_in_use":                             2,
		"mcpwatch_capture_flows_ended_total{reason=fin}":            4,
		"mcpwatch_capture_flows_ended_total{reason=rst}":            0,
		"mcpwatch_capture_truncations_total{reason=body_cap}":       1,
		"mcpwatch_capture_page_cap_gaps_total":                      0,
		"mcpwatch_capture_truncations_total{reason=decompress_cap}": 0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}

	rules := detect.Stats{Events: 10, Rules: map[string]detect.RuleStats{"unexpected-server": {Alerts: 2, Groups: 1}}}
	got = gather(t, "detect", rules)
	for name, want := range map[string]float64{
		"mcpwatch_detect_events_total":                                       10,
		"mcpwatch_detect_rules_alerts_total{rule=unexpected-server}":         2,
		"mcpwatch_detect_rules_groups{rule=unexpected-server}":               1, // a gauge
		"mcpwatch_detect_rules_groups_evicted_total{rule=unexpected-server}": 0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	lag := consumerLag{Backlog: map[string]bus.Backlog{"store-events": {Pending: 7, Unacked: 2}}}
	got = gather(t, "consumer", lag)
	for name, want := range map[string]float64{
		"mcpwatch_consumer_backlog_pending{durable=store-events}": 7, // gauges
		"mcpwatch_consumer_backlog_unacked{durable=store-events}": 2,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	// Contained faults and the --dump-failures store.
	got = gather(t, "decode", decode.Stats{Faults: 2})
	if got["mcpwatch_decode_faults_total"] != 2 {
		t.Errorf("decode faults: %v", got)
	}
	got = gather(t, "dump", capture.DumpStats{ConnsActive: 3, BytesInUse: 100, ConnCapDrops: 4, Evictions: 5, Dumps: 1})
	for name, want := range map[string]float64{
		"mcpwatch_dump_conns_active":         3, // gauges
		"mcpwatch_dump_bytes_in_use":         100,
		"mcpwatch_dump_conn_cap_drops_total": 4,
		"mcpwatch_dump_evictions_total":      5,
		"mcpwatch_dump_dumps_total":          1,
		"mcpwatch_dump_dumps_skipped_total":  0,
		"mcpwatch_dump_dump_errors_total":    0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	// A stage that has not reported yet exports nothing rather than zeros.
	var empty snapshot[capture.Stats]
	if got := gather(t, "capture", empty.load()); len(got) != 0 {
		t.Errorf("unreported stage exported %v", got)
	}
}

// With pprof, the metrics address also serves Go's runtime profiles;
// without, it does not.
func TestMetricsPprof(t *testing.T) {
	for _, pprof := range []bool{true, false} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		ctx, cancel := context.WithCancel(context.Background())
		if err := serveMetrics(ctx, addr, pprof, slog.New(slog.DiscardHandler), nil); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get("http://" + addr + "/debug/pprof/heap?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if got := resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte("heap profile")); got != pprof {
			t.Errorf("pprof %v: status %d, profile served %v", pprof, resp.StatusCode, got)
		}
	}
}

// --stats-out gets, at the end of a run, a stats record whose counters are
// the run's: the packets and message events of the demo capture.
func TestStatsRecords(t *testing.T) {
	pcap, _ := demoCapture(t)
	cfg := testConfig(t, pcap)
	cfg.StatsOut = filepath.Join(t.TempDir(), "stats.jsonl")
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var last statsRecord
	readLines(t, cfg.StatsOut, func(line []byte) error { return json.Unmarshal(line, &last) })
	if last.Kind != "stats" || last.Metrics["mcpwatch_capture_packets_total"] != float64(sum.Packets) || sum.Packets == 0 ||
		last.Metrics["mcpwatch_decode_events_total{kind=message}"] != float64(sum.Events[event.KindMessage]) || last.Metrics["process_resident_memory_bytes"] == 0 {
		t.Errorf("last stats record %s at %v: packets %v, message events %v; the run had %d and %d",
			last.Kind, last.TS, last.Metrics["mcpwatch_capture_packets_total"], last.Metrics["mcpwatch_decode_events_total{kind=message}"], sum.Packets, sum.Events[event.KindMessage])
	}
}
