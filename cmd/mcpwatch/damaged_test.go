package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/event"
)

// eventsBySource counts the events of a JSONL file per source.
func eventsBySource(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		ev, err := event.DecodeEvent([]byte(line))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		n[ev.Source]++
	}
	return n
}

// mcpwatch run --pcap good --pcap bad --pcap good: both good files'
// events are delivered, the bad one's too but for its damaged record, the
// exit status is 3 and the summary names the bad file and the offset.
func TestRunGoodBadGoodExitStatus(t *testing.T) {
	demo, err := os.ReadFile(repoFile("demo.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good1, bad, good2 := filepath.Join(dir, "good1.pcap"), filepath.Join(dir, "bad.pcap"), filepath.Join(dir, "good2.pcap")
	os.WriteFile(good1, demo, 0o644)
	other, err := os.ReadFile(repoFile("decode/ts-streamable.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(good2, other, 0o644)
	// The 13th record's header of the demo, overwritten with junk.
	off := 24
	for range 12 {
		off += 16 + int(binary.LittleEndian.Uint32(demo[off+8:]))
	}
	size := 16 + int(binary.LittleEndian.Uint32(demo[off+8:]))
	damaged := bytes.Clone(demo)
	copy(damaged[off:], bytes.Repeat([]byte{0xee}, 16))
	os.WriteFile(bad, damaged, 0o644)

	counts := map[string]int{}
	for _, f := range []string{good1, good2, bad} {
		out := filepath.Join(t.TempDir(), "events.jsonl")
		r := mcpwatch(t, nil, "run", "--pcap", f, "--events-out", out, "--alerts-out", "")
		if f != bad && r.code != 0 {
			t.Fatalf("%s alone: exit %d\n%s", f, r.code, r.stderr)
		}
		counts[filepath.Base(f)] = eventsBySource(t, out)["pcap:"+filepath.Base(f)]
	}

	out := filepath.Join(dir, "events.jsonl")
	r := mcpwatch(t, nil, "run", "--pcap", good1, "--pcap", bad, "--pcap", good2, "--events-out", out, "--allowlist", repoFile("demo-allowlist.yaml"))
	if r.code != exitBadLogRecords {
		t.Errorf("exit %d, want %d:\n%s", r.code, exitBadLogRecords, r.stderr)
	}
	got := eventsBySource(t, out)
	for _, f := range []string{good1, good2, bad} {
		name := filepath.Base(f)
		if got["pcap:"+name] != counts[name] || counts[name] == 0 {
			t.Errorf("%s: %d events, alone %d", name, got["pcap:"+name], counts[name])
		}
	}
	want := "damaged input: " + bad + ": damaged pcap from byte " + strconv.Itoa(off) + " (record 13): 1 damaged stretch(es), " + strconv.Itoa(size) + " bytes skipped"
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stdout, "unexpected-server") {
		t.Errorf("want %q in the summary and alerts on stdout:\n%s", want, r.stderr)
	}
	t.Logf("events: good1 %d, bad %d (the same capture clean: %d), good2 %d; exit %d", got["pcap:good1.pcap"], got["pcap:bad.pcap"], got["pcap:good1.pcap"], got["pcap:good2.pcap"], r.code)
}

// A bogus link type is warned about once, with the frames it cost; the run
// succeeds.
func TestRunUnsupportedLinkTypeWarns(t *testing.T) {
	demo, err := os.ReadFile(repoFile("demo.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	bogus := bytes.Clone(demo)
	binary.LittleEndian.PutUint32(bogus[20:], 4660)
	path := filepath.Join(t.TempDir(), "bogus.pcap")
	os.WriteFile(path, bogus, 0o644)
	r := mcpwatch(t, nil, "run", "--pcap", path, "--alerts-out", "")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "warning: "+path+": unsupported link type 4660: 50 frames skipped") || strings.Count(r.stderr, "4660") != 2 {
		t.Errorf("want one log line and one summary warning for link type 4660:\n%s", r.stderr)
	}
}
