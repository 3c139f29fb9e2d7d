package bus

import (
	"fmt"
	"strconv"
	"strings"
)

// MinServerVersion is the oldest nats-server mcpwatch works with: the
// JetStream API of nats.go's jetstream package (consumer create with its
// filter in the request subject, consumer info in fetch) needs 2.9.
const MinServerVersion = "2.9.0"

// features210 is the first nats-server release whose consumers take
// several filter subjects and that reads the reason of a +TERM ack. With
// an older server a consumer filtered to several subjects reads the whole
// stream and skips the other subjects itself (ackOutside), and malformed
// messages are terminated without a reason (an older server ignores a
// +TERM that has one, and would redeliver the message for ever).
const features210 = "2.10.0"

// serverFeatures is what the connected nats-server can do.
type serverFeatures struct {
	version     string
	multiFilter bool // several filter subjects per consumer
	termReason  bool // +TERM with a reason
}

// checkServerVersion fails for a server older than MinServerVersion and
// tells what an older-than-current one lacks.
func checkServerVersion(version string) (serverFeatures, error) {
	have, err := parseServerVersion(version)
	if err != nil {
		return serverFeatures{}, err
	}
	if min, _ := parseServerVersion(MinServerVersion); have.less(min) {
		return serverFeatures{}, fmt.Errorf("nats-server %s is too old: mcpwatch needs %s or later", version, MinServerVersion)
	}
	v210, _ := parseServerVersion(features210)
	recent := !have.less(v210)
	return serverFeatures{version: version, multiFilter: recent, termReason: recent}, nil
}

type serverVersion [3]int

// parseServerVersion reads MAJOR.MINOR.PATCH, ignoring a leading v and a
// pre-release or build suffix (2.11.0-RC.1).
func parseServerVersion(s string) (serverVersion, error) {
	core, _, _ := strings.Cut(strings.TrimPrefix(s, "v"), "-")
	core, _, _ = strings.Cut(core, "+")
	parts := strings.Split(core, ".")
	var v serverVersion
	if len(parts) != 3 {
		return v, fmt.Errorf("nats-server version %q: want MAJOR.MINOR.PATCH", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("nats-server version %q: want MAJOR.MINOR.PATCH", s)
		}
		v[i] = n
	}
	return v, nil
}

func (v serverVersion) less(w serverVersion) bool {
	for i := range v {
		if v[i] != w[i] {
			return v[i] < w[i]
		}
	}
	return false
}
