package pipeline

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
	"github.com/mcpwatch/mcpwatch/internal/testenv"
	"github.com/mcpwatch/mcpwatch/sink"
)

// uniqueSensor keeps this test's event ids apart from every other run that
// published the same capture to a shared server: ids derive from the sensor.
func uniqueSensor(t *testing.T) string {
	return fmt.Sprintf("test-%s-%d", t.Name(), time.Now().UnixNano())
}

func TestRunWithExternalNATS(t *testing.T) {
	url := testenv.NATSURL(t)
	pcap, logged := demoCapture(t)
	cfg := testConfig(t, pcap)
	cfg.Sensor = uniqueSensor(t)
	cfg.Bus.URL = url
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	var messages int
	for _, ev := range readEvents(t, cfg.EventsOut) {
		if ev.Sensor != cfg.Sensor {
			continue // another test's run on the shared server
		}
		if ev.Kind == event.KindMessage {
			messages++
		}
	}
	if messages != len(logged) {
		t.Errorf("%d message events through the external server, the SDK logged %d messages", messages, len(logged))
	}
	var unexpected []string
	for _, a := range readAlerts(t, cfg.AlertsOut) {
		if a.RuleID == "unexpected-server" {
			unexpected = append(unexpected, a.ServerKey)
		}
	}
	if !slices.Contains(unexpected, "http://10.0.0.9:3000/mcp") || slices.Contains(unexpected, "http://files.corp.example:8080/mcp") {
		t.Errorf("unexpected-server alerts for %v", unexpected)
	}
}

func TestRunIntoClickHouse(t *testing.T) {
	addr := testenv.ClickHouseAddr(t)
	pcap, _ := demoCapture(t)
	cfg := testConfig(t, pcap)
	cfg.ClickHouse = sink.ClickHouseConfig{Addr: addr, Database: fmt.Sprintf("mcpwatch_pipeline_%d", time.Now().UnixNano())}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ch, err := sink.OpenClickHouse(ctx, cfg.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ch.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+cfg.ClickHouse.Database)
		ch.Close()
	}()

	want := map[string]int{}
	wantIDs := map[string][]string{}
	for _, ev := range readEvents(t, cfg.EventsOut) {
		table := map[event.Kind]string{
			event.KindMessage: "messages", event.KindSession: "sessions", event.KindAuth: "auth",
			event.KindManifest: "manifests", event.KindFlow: "flows",
		}[ev.Kind]
		want[table]++
		wantIDs[table] = append(wantIDs[table], ev.EventID)
	}
	alerts := readAlerts(t, cfg.AlertsOut)
	want["alerts"] = len(alerts)
	if want["messages"] == 0 || want["sessions"] == 0 || want["alerts"] == 0 {
		t.Fatalf("the run produced too little to check: %v", want)
	}
	for table, n := range want {
		var rows, distinct uint64
		idColumn := "event_id"
		if table == "alerts" {
			idColumn = "alert_id"
		}
		q := fmt.Sprintf("SELECT count(), uniqExact(%s) FROM %s.%s", idColumn, cfg.ClickHouse.Database, table)
		if err := ch.Conn().QueryRow(ctx, q).Scan(&rows, &distinct); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if rows != uint64(n) || distinct != uint64(n) {
			t.Errorf("%s: %d rows, %d distinct ids; the JSONL output has %d", table, rows, distinct, n)
		}
	}
	// The rows are the events themselves, not just as many.
	rows, err := ch.Conn().Query(ctx, fmt.Sprintf("SELECT event_id FROM %s.messages", cfg.ClickHouse.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	slices.Sort(got)
	slices.Sort(wantIDs["messages"])
	if !slices.Equal(got, wantIDs["messages"]) {
		t.Errorf("message event ids in ClickHouse differ from the JSONL output")
	}
}
