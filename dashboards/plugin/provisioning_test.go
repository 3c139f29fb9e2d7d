package plugin

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"gopkg.in/yaml.v3"
)

// TestProvisioning reads the provisioning file of the plugin's datasource
// the way Grafana does (environment variables expanded, jsonData handed to
// the backend as JSON, secureJsonData decrypted) and checks that the
// backend reads every setting from it: a key the backend does not know
// would leave its setting empty.
func TestProvisioning(t *testing.T) {
	raw, err := os.ReadFile("../provisioning/datasources/mcpwatch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"MCPWATCH_CLICKHOUSE_HOST": "clickhouse", "MCPWATCH_CLICKHOUSE_USER": "grafana",
		"MCPWATCH_CLICKHOUSE_PASSWORD": "s3cret", "MCPWATCH_NATS_URL": "nats://nats:4222",
	}
	var file struct {
		Datasources []struct {
			UID            string            `yaml:"uid"`
			Type           string            `yaml:"type"`
			JSONData       map[string]any    `yaml:"jsonData"`
			SecureJSONData map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal([]byte(os.Expand(string(raw), func(k string) string { return env[k] })), &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Datasources) != 1 || file.Datasources[0].Type != ID {
		t.Fatalf("datasources %+v, want one of type %s", file.Datasources, ID)
	}
	d := file.Datasources[0]
	jsonData, err := json.Marshal(d.JSONData)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := NewInstance(context.Background(), backend.DataSourceInstanceSettings{
		UID: d.UID, JSONData: jsonData, DecryptedSecureJSONData: d.SecureJSONData})
	if err != nil {
		t.Fatal(err)
	}
	ds := inst.(*Datasource)
	defer ds.Dispose()
	want := Settings{Addr: "clickhouse:9000", Database: "mcpwatch", Username: "grafana", Password: "s3cret", NATSURL: "nats://nats:4222"}
	if ds.settings != want {
		t.Errorf("settings %+v, want %+v", ds.settings, want)
	}
}
