// Command mkpcapng rewrites a classic pcap as pcapng with gopacket's
// writer and, given a block number, sets that block's length to
// 0xFFFFFF00, for scripts/faults/inputs.sh.
//
//	mkpcapng IN.pcap OUT.pcapng [BLOCK]
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/google/gopacket/pcapgo"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkpcapng:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: mkpcapng IN.pcap OUT.pcapng [BLOCK]")
	}
	in, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, r.LinkType())
	if err != nil {
		return err
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := w.WritePacket(ci, data); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	b := buf.Bytes()
	if len(args) > 2 {
		k, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		// Walk to block k (from 1) and print its offset and length.
		off := 0
		for range k - 1 {
			off += int(binary.LittleEndian.Uint32(b[off+4:]))
		}
		fmt.Printf("%d %d\n", off, binary.LittleEndian.Uint32(b[off+4:]))
		binary.LittleEndian.PutUint32(b[off+4:], 0xFFFFFF00)
	}
	return os.WriteFile(args[1], b, 0o644)
}
