package event

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// MaxJSONLLine caps one line of an events file: events are a few KiB, a
// manifest with long tool descriptions some hundreds.
const MaxJSONLLine = 16 << 20

// ReadEvents calls fn with every event of a JSONL stream (one event per
// line, blank lines skipped), and stops at the first error, which names
// the line.
func ReadEvents(r io.Reader, fn func(*Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, MaxJSONLLine)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		ev, err := DecodeEvent(sc.Bytes())
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return sc.Err()
}
