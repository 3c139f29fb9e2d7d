// Command gen writes the mcpwatch Grafana dashboards (package dashboards)
// as JSON files for provisioning:
//
//	go run ./dashboards/gen               # writes dashboards/json/*.json
//	go run ./dashboards/gen -out DIR
//
// Files of dashboards that no longer exist are not removed: delete them by
// hand, and TestJSONUpToDate reports any that are left.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mcpwatch/mcpwatch/dashboards"
)

func main() {
	out := flag.String("out", "dashboards/json", "directory to write the dashboard JSON files into")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	ds, err := dashboards.All()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	for _, d := range ds {
		b, err := dashboards.Render(d)
		if err != nil {
			return err
		}
		path := filepath.Join(out, dashboards.FileName(d))
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}
