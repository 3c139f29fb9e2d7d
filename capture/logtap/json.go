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

func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// fields reads a record's values with the JSON type the format gives them
// and keeps the first field found with another type: a record whose
// request is a number or whose headers are a string is malformed, not
// empty. Absent and null fields read as zero values without error.
type fields struct{ err error }

func (f *fields) wrong(key string, v any, want string) {
	if f.err == nil {
		f.err = fmt.Errorf("field %q is %s, want %s", key, jsonType(v), want)
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

func (f *fields) obj(o object, key string) object {
	switch v := o.get(key).(type) {
	case nil:
		return nil
	case map[string]any:
		return v
	default:
		f.wrong(key, v, "an object")
		return nil
	}
}

func (f *fields) list(o object, key string) []any {
	switch v := o.get(key).(type) {
	case nil:
		return nil
	case []any:
		return v
	default:
		f.wrong(key, v, "an array")
		return nil
	}
}

// objects is list for arrays whose elements must be objects (headers).
func (f *fields) objects(o object, key string) []object {
	var out []object
	for _, v := range f.list(o, key) {
		m, ok := v.(map[string]any)
		if !ok {
			f.wrong(key+"[]", v, "an object")
			continue
		}
		out = append(out, m)
	}
	return out
}

// str reads a string, or a number as text (proto3 JSON writes 64-bit
// integers as strings, loggers write numbers either way).
func (f *fields) str(o object, key string) string {
	switch v := o.get(key).(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	default:
		f.wrong(key, v, "a string")
		return ""
	}
}

// num reads a number, or a number in a string; ok is false when absent.
func (f *fields) num(o object, key string) (float64, bool) {
	switch v := o.get(key).(type) {
	case nil:
		return 0, false
	case json.Number, string:
		n, err := strconv.ParseFloat(strings.TrimSpace(text(v)), 64)
		if err != nil {
			f.wrong(key, v, "a number")
			return 0, false
		}
		return n, true
	default:
		f.wrong(key, v, "a number")
		return 0, false
	}
}

func (f *fields) boolean(o object, key string) bool {
	switch v := o.get(key).(type) {
	case nil:
		return false
	case bool:
		return v
	default:
		f.wrong(key, v, "a boolean")
		return false
	}
}
