// Command gpx_mcpwatch is the backend executable of the mcpwatch Grafana
// datasource plugin (package plugin). Grafana starts it and talks to it
// over gRPC (hashicorp/go-plugin); it is not run by hand.
//
// Grafana loads a plugin from a directory with a plugin.json and a
// frontend module as well; those are not written yet (see the package doc
// of dashboards/plugin).
package main

import (
	"os"

	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"

	"github.com/mcpwatch/mcpwatch/dashboards/plugin"
)

// pluginID is the id Grafana knows the plugin by (its plugin.json).
const pluginID = "mcpwatch-mcpwatch-datasource"

func main() {
	if err := datasource.Manage(pluginID, plugin.NewInstance, datasource.ManageOpts{}); err != nil {
		log.DefaultLogger.Error("mcpwatch datasource plugin stopped", "error", err)
		os.Exit(1)
	}
}
