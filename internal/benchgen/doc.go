// Package benchgen writes large, realistic MCP captures for benchmarks,
// deterministically from a seed.
//
// A capture replicates templates — conversations recorded once from real
// official Go SDK servers and clients (bench/templates.json.gz, recorded by
// bench/gen -record) — across many concurrent clients, each with its own
// address and Mcp-Session-Id, segmented like a span port would see them.
// The same templates and seed give the same bytes. bench/gen is its command
// line; package benchmarks call it to build their input in memory.
package benchgen
