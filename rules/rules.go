// Package rules is the default detection rule pack of mcpwatch and an
// example allowlist, embedded into the binary. The rule format is described
// in README.md; package detect loads and runs it.
package rules

import "embed"

// Default holds the rule files (*.yaml at the top level), their tests
// (tests/*.yaml, for detect.RunTests) and examples/allowlist.yaml.
//
//go:embed *.yaml tests/*.yaml examples/allowlist.yaml
var Default embed.FS

// TestsDir is the directory of Default, and of a --rules directory, that
// holds the rule tests.
const TestsDir = "tests"
