package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mcpwatch/mcpwatch/dashboards/plugin"
	"github.com/mcpwatch/mcpwatch/internal/testenv"
)

// start builds the executable and starts it the way Grafana does: with
// go-plugin's magic cookie in the environment; it answers with its
// handshake line (core protocol|app protocol|network|address|grpc) and
// serves gRPC there.
func start(t *testing.T) *grpc.ClientConn {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gpx_mcpwatch")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "grafana_plugin_type=datasource")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	parts := strings.Split(strings.TrimSpace(line), "|")
	if len(parts) < 5 || parts[0] != "1" || parts[1] != "2" || parts[4] != "grpc" {
		t.Fatalf("handshake %q, want 1|2|network|address|grpc", line)
	}
	target := parts[3]
	if parts[2] == "unix" {
		target = "unix:" + target
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestExecutable runs the plugin's executable as Grafana would and asks it
// over gRPC, as Grafana does: health of a datasource on an empty database
// of the test ClickHouse (reached, schema missing), and a query of an
// unknown view.
func TestExecutable(t *testing.T) {
	addr, db := testenv.ClickHouseDatabase(t, "mcpwatch_gpx")
	conn := start(t)
	settings, err := json.Marshal(plugin.Settings{Addr: addr, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	pctx := &pluginv2.PluginContext{PluginId: plugin.ID, DataSourceInstanceSettings: &pluginv2.DataSourceInstanceSettings{
		Id: 1, Uid: "mcpwatch", Name: "mcpwatch", JsonData: settings, LastUpdatedMS: time.Now().UnixMilli()}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	health, err := pluginv2.NewDiagnosticsClient(conn).CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: pctx})
	if err != nil {
		t.Fatal(err)
	}
	if health.Status != pluginv2.CheckHealthResponse_ERROR || !strings.Contains(health.Message, "lacks messages") {
		t.Errorf("CheckHealth = %v %q, want an error naming the missing tables", health.Status, health.Message)
	}

	resp, err := pluginv2.NewDataClient(conn).QueryData(ctx, &pluginv2.QueryDataRequest{PluginContext: pctx, Queries: []*pluginv2.DataQuery{
		{RefId: "A", Json: []byte(`{"view": "sessions"}`), TimeRange: &pluginv2.TimeRange{FromEpochMS: 0, ToEpochMS: time.Now().UnixMilli()}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Responses["A"]; r == nil || !strings.Contains(r.Error, `unknown view "sessions"`) {
		t.Errorf("QueryData: %+v, want the unknown view refused", r)
	}
}
