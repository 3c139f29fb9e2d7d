package capture

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// A gzip or zstd compressed capture reads as the plain one, packet for
// packet, and says it is compressed; a compressed file of something else
// is refused with its name.
func TestCompressedCaptures(t *testing.T) {
	dir := t.TempDir()
	var gz, zs bytes.Buffer
	zw := gzip.NewWriter(&gz)
	ze, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"demo.pcap", "decode/ts-streamable.pcap"} {
		plain, err := os.ReadFile(filepath.Join("..", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		gz.Reset()
		zw.Reset(&gz)
		zw.Write(plain)
		zw.Close()
		zs.Reset()
		ze.Reset(&zs)
		ze.Write(plain)
		ze.Close()
		want := readAll(t, filepath.Join("..", "testdata", name), false)
		for ext, data := range map[string][]byte{".gz": gz.Bytes(), ".zst": zs.Bytes()} {
			path := filepath.Join(dir, filepath.Base(name)+ext)
			os.WriteFile(path, data, 0o644)
			if got := readAll(t, path, true); !bytes.Equal(got, want) {
				t.Errorf("%s%s: %d bytes of packets, want %d", name, ext, len(got), len(want))
			}
		}
	}
	notes := filepath.Join(dir, "notes.txt.gz")
	zw.Reset(&gz)
	gz.Reset()
	zw.Write([]byte("not a capture"))
	zw.Close()
	os.WriteFile(notes, gz.Bytes(), 0o644)
	if _, err := OpenPcap(notes); err == nil || !bytes.Contains([]byte(err.Error()), []byte("notes.txt.gz")) {
		t.Errorf("compressed text: %v", err)
	}
}

// readAll returns every packet's bytes of the capture at path, in order.
func readAll(t *testing.T, path string, compressed bool) []byte {
	t.Helper()
	p, err := OpenPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Compressed() != compressed {
		t.Errorf("%s: compressed %v", path, p.Compressed())
	}
	var all []byte
	for {
		pkt, err := p.ReadPacket()
		if err == io.EOF {
			return all
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, pkt.Data...)
	}
}
