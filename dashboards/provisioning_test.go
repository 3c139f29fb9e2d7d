package dashboards

import (
	"os"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/mcpwatch/mcpwatch/sink"
)

// TestProvisioning checks that the provisioned datasource is the one the
// dashboards name, on the database the sink writes by default, over the
// native protocol (the one that works with 18.16).
func TestProvisioning(t *testing.T) {
	var ds struct {
		Datasources []struct {
			UID      string `yaml:"uid"`
			Type     string `yaml:"type"`
			JSONData struct {
				Port            int    `yaml:"port"`
				Protocol        string `yaml:"protocol"`
				DefaultDatabase string `yaml:"defaultDatabase"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, "provisioning/datasources/clickhouse.yaml", &ds)
	if len(ds.Datasources) != 1 {
		t.Fatalf("%d datasources, want 1", len(ds.Datasources))
	}
	d := ds.Datasources[0]
	if d.UID != DatasourceUID || d.Type != DatasourceType {
		t.Errorf("datasource %s of type %s, want %s of type %s", d.UID, d.Type, DatasourceUID, DatasourceType)
	}
	if d.JSONData.DefaultDatabase != sink.DefaultClickHouseDatabase || d.JSONData.Protocol != "native" || d.JSONData.Port != 9000 {
		t.Errorf("datasource on %+v, want the native port 9000 and database %s", d.JSONData, sink.DefaultClickHouseDatabase)
	}

	var dash struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "provisioning/dashboards/mcpwatch.yaml", &dash)
	if len(dash.Providers) != 1 || dash.Providers[0].Type != "file" || dash.Providers[0].Options.Path == "" {
		t.Errorf("dashboard providers %+v, want one file provider with a path", dash.Providers)
	}
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
