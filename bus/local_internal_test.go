package bus

import (
	"reflect"
	"testing"

	"github.com/segmentio/encoding/json"

	"github.com/mcpwatch/mcpwatch/event"
)

// asDecoded leaves an event as the stream's JSON round trip would, with
// invalid UTF-8 in every string, list and tool it has.
func TestAsDecodedIsTheJSONRoundTrip(t *testing.T) {
	ev := &event.Event{}
	fillText(reflect.ValueOf(ev).Elem())
	data, err := encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	var want event.Event
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	asDecoded(ev)
	if !reflect.DeepEqual(*ev, want) {
		t.Errorf("after asDecoded:\n%+v\nwant\n%+v", *ev, want)
	}
}

// fillText puts invalid UTF-8 in every exported string of v, and one such
// element in every slice.
func fillText(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("a\xffb\xfe")
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillText(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range v.Len() {
			fillText(v.Index(i))
		}
	}
}
