package decode

import (
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/capture/logtap"
	"github.com/mcpwatch/mcpwatch/event"
)

// tapDir holds proxy logs of real go-sdk conversations, written by
// capture/logtap's tests (go test ./capture/logtap -update).
const tapDir = "../testdata/logtap"

// decodeTap reads a proxy log (a file, or a file_per_tap directory of
// traces) through logtap and a Decoder, as `mcpwatch tap` does.
func decodeTap(t *testing.T, cfg logtap.Config, name string) ([]*event.Event, Stats) {
	t.Helper()
	d, evs := collect(t, Config{})
	paths := []string{filepath.Join(tapDir, name)}
	if traces, _ := filepath.Glob(filepath.Join(tapDir, name, "*.json")); len(traces) > 0 {
		sort.Strings(traces)
		paths = traces
	}
	cfg.OnBadRecord = func(b logtap.BadRecord) { t.Errorf("bad record: %s", b) }
	if _, err := logtap.ReadFiles(context.Background(), cfg, paths, d); err != nil {
		t.Fatal(err)
	}
	d.Finish(time.Time{})
	return *evs, d.Stats()
}

// HAR has no client address and Envoy streamed traces no address at all:
// the fields a log does not have are left out, not written as the zero
// netip.Addr ("invalid IP"), and those it has are kept.
func TestAddressesAbsentFromLogs(t *testing.T) {
	for _, tc := range []struct {
		name           string
		format         logtap.Format
		client, server bool
	}{
		{"demo.har", logtap.FormatHAR, false, true},
		{"demo.envoy-streamed", logtap.FormatEnvoyTap, false, false},
		{"demo.envoy-buffered.json", logtap.FormatEnvoyTap, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, _ := decodeTap(t, logtap.Config{Format: tc.format}, tc.name)
			if len(byKind(evs, event.KindMessage)) == 0 {
				t.Fatal("no message events")
			}
			// An address is there with its port, or neither is.
			present := func(addr string, port int) (bool, bool) {
				return addr != "" && port != 0, (addr == "") == (port == 0)
			}
			for _, e := range evs {
				client, clientOK := present(e.ClientAddress, e.ClientPort)
				server, serverOK := present(e.ServerAddress, e.ServerPort)
				if client != tc.client || server != tc.server || !clientOK || !serverOK {
					t.Fatalf("%s %s: client %q:%d server %q:%d, want client %v server %v",
						e.Kind, e.Method, e.ClientAddress, e.ClientPort, e.ServerAddress, e.ServerPort, tc.client, tc.server)
				}
			}
		})
	}
}
