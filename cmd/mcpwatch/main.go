// Command mcpwatch is the passive MCP sensor and detection pipeline: one
// binary whose subcommands run the stages together (run) or apart.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCommand()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mcpwatch:", err)
		os.Exit(1)
	}
}
