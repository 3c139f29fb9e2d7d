//go:build !libpcap || !cgo

package capture

import "errors"

// Libpcap is a libpcap Source; this build has none (see libpcap.go).
type Libpcap struct{ Source }

var errNoLibpcap = errors.New("BPF filter expressions need libpcap: rebuild with -tags libpcap (needs cgo and libpcap-dev); --port and --net filter without it")

// OpenLibpcapFile fails: this build has no libpcap.
func OpenLibpcapFile(path, bpf string) (Source, error) { return nil, errNoLibpcap }

// OpenLibpcapLive fails: this build has no libpcap.
func OpenLibpcapLive(iface, bpf string) (*Libpcap, error) { return nil, errNoLibpcap }
