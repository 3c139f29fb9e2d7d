package logtap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// object is a decoded JSON object. Records are decoded generically rather
// than into structs because the same message comes with snake_case keys
// (Envoy's own JSON) or lowerCamelCase ones (protojson, go-control-plane),
// which proto3 JSON readers must both accept.
type object map[string]any

func decodeObject(data []byte) (object, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber() // trace ids are uint64s, beyond float64
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if m == nil {
		return nil, errNotJSON
	}
	return m, nil
}

// get returns the value under key, or under its lowerCamelCase spelling.
func (o object) get(key string) any {
	if v, ok := o[key]; ok {
		return v
	}
	if strings.Contains(key, "_") {
		return o[camel(key)]
	}
	return nil
}

func camel(key string) string {
	var b strings.Builder
	up := false
	for _, r := range key {
		switch {
		case r == '_':
			up = true
		case up:
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (o object) obj(key string) object {
	m, _ := o.get(key).(map[string]any)
	return m
}

func (o object) list(key string) []any {
	l, _ := o.get(key).([]any)
	return l
}

// str returns a string value, or a number as text.
func (o object) str(key string) string { return text(o.get(key)) }

func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// num returns a numeric value (or a number in a string, as loggers and
// proto3 JSON for 64-bit ints write them); ok is false when absent or not
// a number.
func (o object) num(key string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(o.str(key)), 64)
	return f, err == nil
}

func (o object) boolean(key string) bool {
	b, _ := o.get(key).(bool)
	return b
}
