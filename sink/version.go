package sink

import (
	"fmt"
	"strconv"
	"strings"
)

// serverVersion is a ClickHouse release number, e.g. 18.16.1 or 24.8.4.13.
type serverVersion struct {
	text         string
	major, minor int
}

func parseServerVersion(s string) (serverVersion, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 2 {
		return serverVersion{}, fmt.Errorf("parse ClickHouse version %q: want MAJOR.MINOR[...]", s)
	}
	major, err := strconv.Atoi(parts[0])
	if err != nil {
		return serverVersion{}, fmt.Errorf("parse ClickHouse version %q: %w", s, err)
	}
	minor, err := strconv.Atoi(parts[1])
	if err != nil {
		return serverVersion{}, fmt.Errorf("parse ClickHouse version %q: %w", s, err)
	}
	return serverVersion{text: strings.TrimSpace(s), major: major, minor: minor}, nil
}

func (v serverVersion) atLeast(major, minor int) bool {
	return v.major > major || v.major == major && v.minor >= minor
}

// features are the storage options the schema uses when the server has them.
// None of them changes a column's name or how it is inserted or queried, so
// the Go code and the dashboards are the same on every version.
type features struct {
	// LowCardinality(String) is experimental (off by default) before 19.x.
	lowCardinality bool
	// CODEC(...) clauses appeared in 19.x.
	codecs bool
	// Table TTL appeared in 19.6; older servers drop partitions instead.
	ttl bool
}

func featuresOf(v serverVersion) features {
	return features{
		lowCardinality: v.atLeast(19, 3),
		codecs:         v.atLeast(19, 3),
		ttl:            v.atLeast(19, 6),
	}
}
