// Package scenario runs real MCP conversations with the official Go SDK
// (github.com/modelcontextprotocol/go-sdk) over loopback HTTP, records them
// with tcprec so they can be written as pcaps, and keeps what the SDK itself
// logged of every JSON-RPC message (mcp.LoggingTransport) as the ground truth
// that decoded events are compared against.
//
// A test server listens on 127.0.0.1 but appears in the capture at the
// address and Host name the scenario gives it (10.0.0.5:8080,
// files.corp.example), so captures look like a span port, not loopback.
//
// It is used by tests and by the testdata generator (testdata/gen); it is not
// part of the mcpwatch binary.
package scenario
