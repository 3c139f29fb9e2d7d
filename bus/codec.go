package bus

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"

	"github.com/segmentio/encoding/json"

	"github.com/mcpwatch/mcpwatch/event"
)

// Every event is encoded once and decoded by every consumer, so the bus
// uses segmentio/encoding/json, a drop-in for encoding/json that decodes
// events about twice as fast (see docs/performance.md, bus). The bytes are
// the same schema-v1 JSON; package event keeps the standard library.

func encode(v any) ([]byte, error) { return json.Marshal(v) }

func decodeEvent(data []byte) (*event.Event, error) {
	var e event.Event
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

func decodeAlert(data []byte) (*event.Alert, error) {
	var a event.Alert
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("decode alert: %w", err)
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return &a, nil
}

// decodeLines appends to items the values of a message's lines (one JSON
// object each; a message of one value has one line) and reports each line
// that does not decode, or a message without any, to bad.
func decodeLines[T any](items []T, data []byte, decode func([]byte) (T, error), bad func(error)) []T {
	lines := 0
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		lines++
		v, err := decode(line)
		if err != nil {
			bad(err)
			continue
		}
		items = append(items, v)
	}
	if lines == 0 {
		bad(errors.New("empty message"))
	}
	return items
}

// DecodeMessage decodes the events of one MCPWATCH_EVENTS message (one JSON
// object per line), for tools that read the stream without a consumer of
// this package. It fails on the first event that does not decode.
func DecodeMessage(data []byte) ([]*event.Event, error) {
	var first error
	evs := decodeLines(nil, data, decodeEvent, func(err error) { first = cmp.Or(first, err) })
	return evs, first
}
