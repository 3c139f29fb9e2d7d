//go:build libpcap && cgo

package capture

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runLibpcap reads src with an Engine and returns what it reconstructed.
func runLibpcap(t *testing.T, src Source) (*recorder, error) {
	t.Helper()
	rec := newRecorder(t)
	eng, err := NewEngine(DefaultConfig(), rec)
	if err != nil {
		t.Fatal(err)
	}
	err = eng.Run(context.Background(), src)
	eng.Finish()
	return rec, err
}

// A BPF expression through libpcap keeps one server's traffic of the real
// SDK demo capture, exchanges intact.
func TestLibpcapBPFFilter(t *testing.T) {
	all, err := OpenLibpcapFile("../testdata/demo.pcap", "")
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	everything, err := runLibpcap(t, all)
	if err != nil {
		t.Fatal(err)
	}
	src, err := OpenLibpcapFile("../testdata/demo.pcap", "tcp port 3000 and host 10.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rec, err := runLibpcap(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.reqs) == 0 || len(rec.reqs) >= len(everything.reqs) {
		t.Fatalf("filtered %d requests of %d", len(rec.reqs), len(everything.reqs))
	}
	for _, r := range rec.reqs {
		if r.Conn.Server.Port() != 3000 {
			t.Errorf("request %s %s to %s passed the filter", r.Method, r.Target, r.Conn.Server)
		}
	}
	if len(rec.resps) != len(rec.reqs) {
		t.Errorf("%d responses for %d requests", len(rec.resps), len(rec.reqs))
	}
}

func TestLibpcapErrors(t *testing.T) {
	if _, err := OpenLibpcapFile("../testdata/demo.pcap", "tcp port nonsense"); err == nil || !strings.Contains(err.Error(), "BPF filter") {
		t.Errorf("bad filter: %v", err)
	}
	if _, err := OpenLibpcapFile(filepath.Join(t.TempDir(), "nope.pcap"), ""); err == nil || !strings.Contains(err.Error(), "nope.pcap") {
		t.Errorf("missing file: %v", err)
	}
	data, err := os.ReadFile("../testdata/demo.pcap")
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	os.WriteFile(cut, data[:len(data)*2/3], 0o644)
	src, err := OpenLibpcapFile(cut, "")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rec, err := runLibpcap(t, src)
	if !errors.Is(err, ErrTruncated) || len(rec.reqs) == 0 {
		t.Errorf("truncated file: %d requests, err %v; want some and ErrTruncated", len(rec.reqs), err)
	}
}
