// Command gpx_mcpwatch is the backend executable of the mcpwatch Grafana
// datasource plugin (package plugin). Grafana starts it and talks to it
// over gRPC (hashicorp/go-plugin); it is not run by hand. scripts/plugin.sh
// builds it for linux/amd64 and linux/arm64 into the plugin's dist/, as
// gpx_mcpwatch_linux_<arch> (plugin.json names the executable gpx_mcpwatch).
package main

import (
	"os"

	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"

	"github.com/mcpwatch/mcpwatch/dashboards/plugin"
)

func main() {
	if err := datasource.Manage(plugin.ID, plugin.NewInstance, datasource.ManageOpts{}); err != nil {
		log.DefaultLogger.Error("mcpwatch datasource plugin stopped", "error", err)
		os.Exit(1)
	}
}
