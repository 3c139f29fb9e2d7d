package scenario

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/tcprec"
)

// The bulk read scenario's exports: a whole customer table and a summary.
const (
	BulkExportURI    = "file:///exports/customers.csv"
	BulkExportBytes  = 20 << 20
	SmallExportURI   = "file:///exports/summary.csv"
	SmallExportBytes = 100 << 10
)

// BulkServer offers the exports as text resources.
var BulkServer = ServerSpec{
	Name: "exports", Version: "1.0.0",
	As: netip.MustParseAddrPort("10.0.0.43:8080"), Host: "exports.corp.example:8080",
	Setup: func(s *mcp.Server) {
		for uri, size := range map[string]int{BulkExportURI: BulkExportBytes, SmallExportURI: SmallExportBytes} {
			s.AddResource(&mcp.Resource{URI: uri, Name: uri[strings.LastIndexByte(uri, '/')+1:], MIMEType: "text/csv", Size: int64(size)},
				func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
					return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/csv", Text: CustomerCSV(size)}}}, nil
				})
		}
	},
}

// BulkClient is the agent that reads the exports.
var BulkClient = ClientSpec{Name: "report-agent", Version: "0.9", IP: netip.MustParseAddr("10.0.1.80"), ProtocolVersion: "2025-11-25", DisableStandaloneSSE: true}

// CustomerCSV is size bytes of a plausible customer table: a large tool
// result or resource, as bulk exports return.
func CustomerCSV(size int) string {
	var b strings.Builder
	b.Grow(size + 64)
	b.WriteString("id,name,email,plan\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "%07d,Customer %07d,c%07d@example.com,enterprise\n", i, i, i)
	}
	return b.String()[:size]
}

// RunBulkRead records BulkClient reading the summary export and then the
// whole customer table from server (BulkServer, with options of the
// test's choosing), in one session.
func RunBulkRead(ctx context.Context, rec *tcprec.Recorder, server ServerSpec) (*Log, error) {
	srv, err := StartServer(server)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	log := &Log{}
	cs, err := srv.Connect(ctx, rec, BulkClient, log)
	if err != nil {
		return nil, err
	}
	for _, read := range []struct {
		uri  string
		size int
	}{{SmallExportURI, SmallExportBytes}, {BulkExportURI, BulkExportBytes}} {
		res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: read.uri})
		if err != nil {
			cs.Close()
			return nil, fmt.Errorf("read %s: %w", read.uri, err)
		}
		if len(res.Contents) != 1 || len(res.Contents[0].Text) != read.size {
			cs.Close()
			return nil, fmt.Errorf("read %s: got %d contents, want one of %d bytes", read.uri, len(res.Contents), read.size)
		}
	}
	return log, cs.Close()
}
