package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are stamped by scripts/release.sh (-ldflags
// "-X main.version=… -X main.commit=…"). A plain go build leaves them
// empty and the Go toolchain's build info says what it knows: the module
// version and VCS revision when built from a git clone, nothing when built
// with -buildvcs=false or from a git worktree.
var (
	version = ""
	commit  = ""
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the mcpwatch version, the commit it was built from and the Go toolchain",
		Example: "  mcpwatch version",
		Args:    cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			v, c := buildVersion()
			fmt.Fprintf(cmd.OutOrStdout(), "mcpwatch %s commit %s %s %s/%s\n", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}

// buildVersion is the stamped version and commit, else what the build
// info holds, else "unstamped" and "unknown".
func buildVersion() (ver, rev string) {
	ver, rev = version, commit
	info, ok := debug.ReadBuildInfo()
	if ok && ver == "" && info.Main.Version != "(devel)" {
		ver = info.Main.Version
	}
	if ok && rev == "" {
		rev = buildSetting(info, "vcs.revision")
		if rev != "" && buildSetting(info, "vcs.modified") == "true" {
			rev += "-dirty"
		}
	}
	if ver == "" {
		ver = "unstamped"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev
}

func buildSetting(info *debug.BuildInfo, key string) string {
	for _, s := range info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}
