package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/event"
)

// recordOffsets are the offsets of a little-endian classic pcap's records.
func recordOffsets(b []byte) []int {
	var offs []int
	for off := 24; off+16 <= len(b); off += 16 + int(binary.LittleEndian.Uint32(b[off+8:])) {
		offs = append(offs, off)
	}
	return offs
}

// recordTime is the timestamp of the record at off.
func recordTime(pcap []byte, off int) time.Time {
	frac := int64(binary.LittleEndian.Uint32(pcap[off+4:]))
	if binary.LittleEndian.Uint32(pcap) == 0xa1b2c3d4 {
		frac *= 1000 // microseconds
	}
	return time.Unix(int64(binary.LittleEndian.Uint32(pcap[off:])), frac)
}

// damagedRun runs the pipeline over pcap, a copy of a real capture with
// the header of record k overwritten with junk, kept under the clean
// file's name so that event ids compare.
func damagedRun(t *testing.T, clean []byte, name string, k int, log *slog.Logger) (*Summary, Config, string) {
	offs := recordOffsets(clean)
	bad := bytes.Clone(clean)
	for i := offs[k]; i < offs[k]+16; i++ {
		bad[i] = 0xa5 ^ byte(i*37)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, path)
	cfg.Log = log
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("damaged %s: %v", name, err)
	}
	return sum, cfg, path
}

// TestRunDamagedPcap: a record header overwritten with junk in the middle
// of a real capture costs only the events that needed that packet. Every
// event before the damage is exactly a clean run's (by event_id), every
// event after it of the other connections is delivered, alerts come
// through, and the summary names the file, the offset, the record and the
// bytes skipped, warned once in the log.
func TestRunDamagedPcap(t *testing.T) {
	for _, c := range []struct {
		name string
		// at is where the damaged record is, as a fraction of the records.
		at float64
	}{{"demo.pcap", 0.25}, {"demo.pcap", 0.5}, {"decode/ts-streamable.pcap", 0.5}, {"decode/gosdk-2025-06-18-sse.pcap", 0.5}} {
		name := c.name
		t.Run(filepath.Base(name), func(t *testing.T) {
			src := filepath.Join("..", "testdata", name)
			clean, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			cleanPath := filepath.Join(t.TempDir(), filepath.Base(name))
			os.WriteFile(cleanPath, clean, 0o644)
			cleanCfg := testConfig(t, cleanPath)
			if _, err := Run(context.Background(), cleanCfg); err != nil {
				t.Fatal(err)
			}
			want := readEvents(t, cleanCfg.EventsOut)

			offs := recordOffsets(clean)
			k := int(float64(len(offs)) * c.at)
			ends := tcpEndpoints(t, cleanPath)
			damagedConn := ends[k]
			at := recordTime(clean, offs[k])

			// The clean file's prefix, up to the damaged record, under the
			// same name: its events are what was known before the damage.
			prefixPath := filepath.Join(t.TempDir(), filepath.Base(name))
			os.WriteFile(prefixPath, clean[:offs[k]], 0o644)
			prefixCfg := testConfig(t, prefixPath)
			if _, err := Run(context.Background(), prefixCfg); err != nil {
				t.Fatal(err)
			}
			prefix := readEvents(t, prefixCfg.EventsOut)

			var logBuf bytes.Buffer
			sum, cfg, _ := damagedRun(t, clean, filepath.Base(name), k, slog.New(slog.NewTextHandler(&logBuf, nil)))
			got := readEvents(t, cfg.EventsOut)

			byID := func(evs []*event.Event) map[string]string {
				m := map[string]string{}
				for _, e := range evs {
					b, _ := json.Marshal(e)
					m[e.EventID] = string(b)
				}
				return m
			}
			gotByID, wantByID := byID(got), byID(want)
			// A session event sums up every connection of its session.
			damagedSessions := map[string]bool{}
			for _, e := range append(slices.Clone(want), got...) {
				if eventClient(e) == damagedConn[0] || eventClient(e) == damagedConn[1] {
					damagedSessions[e.SessionID] = true
				}
			}
			onDamaged := func(e *event.Event) bool {
				return eventClient(e) == damagedConn[0] || eventClient(e) == damagedConn[1] ||
					e.Kind == event.KindSession && damagedSessions[e.SessionID]
			}
			// Messages, auth and manifests complete before the damage are
			// exactly the prefix's; sessions and flows the prefix ended at
			// its input end.
			var before int
			for _, e := range prefix {
				if e.Kind == event.KindSession || e.Kind == event.KindFlow || !e.TS.Before(at) {
					continue
				}
				before++
				if b, _ := json.Marshal(e); gotByID[e.EventID] != string(b) {
					t.Errorf("event of the prefix %s %s %s: damaged run has %q", e.EventID, e.Kind, e.Method, gotByID[e.EventID])
				}
			}
			// What the damage cost is on its connection alone.
			var lost, after int
			for _, e := range want {
				if gotByID[e.EventID] == wantByID[e.EventID] {
					if e.TS.After(at) {
						after++
					}
					continue
				}
				lost++
				if !onDamaged(e) {
					t.Errorf("event %s %s %s of another connection lost or changed", e.EventID, e.Kind, e.Method)
				}
			}
			for _, e := range got {
				if _, ok := wantByID[e.EventID]; !ok && !onDamaged(e) {
					t.Errorf("event %s %s %s not in the clean run", e.EventID, e.Kind, e.Method)
				}
			}
			if before == 0 || len(got) == 0 {
				t.Errorf("nothing before the damage to compare (%d) or no events (%d)", before, len(got))
			}
			t.Logf("%s: record %d of %d damaged (%d bytes); events: clean %d, damaged run %d; lost or changed %d (all on the damaged connection or its session); %d before the damage as in the prefix, %d after it delivered",
				name, k+1, len(offs), offs[k+1]-offs[k], len(want), len(got), lost, before, after)

			if len(sum.DamagedInputs) != 1 {
				t.Fatalf("damaged inputs %q, want one", sum.DamagedInputs)
			}
			wantLine := "byte " + strconv.Itoa(offs[k]) + " (record " + strconv.Itoa(k+1) + "): 1 damaged stretch(es), " + strconv.Itoa(offs[k+1]-offs[k]) + " bytes skipped"
			if d := sum.DamagedInputs[0]; !strings.Contains(d, filepath.Base(name)) || !strings.Contains(d, wantLine) {
				t.Errorf("summary line %q, want the file and %q", d, wantLine)
			}
			if n := strings.Count(logBuf.String(), "damaged capture file"); n != 1 {
				t.Errorf("%d damage warnings in the log, want 1:\n%s", n, logBuf.String())
			}
		})
	}
}

// TestRunGoodBadGood: a damaged file between two good ones costs neither
// its neighbours' events nor the alerts on them.
func TestRunGoodBadGood(t *testing.T) {
	demo, err := os.ReadFile("../testdata/demo.pcap")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good1, good2 := filepath.Join(dir, "good1.pcap"), filepath.Join(dir, "good2.pcap")
	os.WriteFile(good1, demo, 0o644)
	ts, _ := os.ReadFile("../testdata/decode/ts-streamable.pcap")
	os.WriteFile(good2, ts, 0o644)
	offs := recordOffsets(demo)
	bad := bytes.Clone(demo)
	copy(bad[offs[len(offs)/2]:], bytes.Repeat([]byte{0xff}, 16))
	badPath := filepath.Join(dir, "bad.pcap")
	os.WriteFile(badPath, bad, 0o644)

	cfg := testConfig(t, good1)
	cfg.Pcaps = []string{good1, badPath, good2}
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]int{}
	for _, e := range readEvents(t, cfg.EventsOut) {
		sources[e.Source]++
	}
	for _, good := range []string{good1, good2} {
		only := testConfig(t, good)
		if _, err := Run(context.Background(), only); err != nil {
			t.Fatal(err)
		}
		if want := len(readEvents(t, only.EventsOut)); sources["pcap:"+filepath.Base(good)] != want {
			t.Errorf("%s: %d events, want %d", good, sources["pcap:"+filepath.Base(good)], want)
		}
	}
	if sources["pcap:bad.pcap"] == 0 || len(readAlerts(t, cfg.AlertsOut)) == 0 {
		t.Errorf("events per source %v, %d alerts", sources, len(readAlerts(t, cfg.AlertsOut)))
	}
	if len(sum.DamagedInputs) != 1 || !strings.Contains(sum.DamagedInputs[0], badPath+": damaged pcap from byte "+strconv.Itoa(offs[len(offs)/2])) {
		t.Errorf("damaged inputs %q", sum.DamagedInputs)
	}
}
