// Package counters sums the Stats structs of stages that run as several
// instances (capture shards, their decoders), so that a counter added to a
// Stats struct is summed without touching the code that sums it.
package counters

import "reflect"

// Add adds every counter of src to dst: integer fields, the fields of
// nested structs and the values of maps with integer values. Other fields
// are left as they are. Levels (gauges such as FlowsActive) add up too: the
// level of the whole is the sum of its parts'.
func Add[T any](dst *T, src T) {
	add(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src))
}

func add(dst, src reflect.Value) {
	switch dst.Kind() {
	case reflect.Struct:
		for i := range dst.NumField() {
			if dst.Type().Field(i).IsExported() {
				add(dst.Field(i), src.Field(i))
			}
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		dst.SetInt(dst.Int() + src.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		dst.SetUint(dst.Uint() + src.Uint())
	case reflect.Map:
		if src.Len() == 0 {
			return
		}
		if dst.IsNil() {
			// A map of its own: src's must not change under the sum.
			dst.Set(reflect.MakeMapWithSize(dst.Type(), src.Len()))
		}
		iter := src.MapRange()
		for iter.Next() {
			v := reflect.New(dst.Type().Elem()).Elem()
			if old := dst.MapIndex(iter.Key()); old.IsValid() {
				v.Set(old)
			}
			add(v, iter.Value())
			dst.SetMapIndex(iter.Key(), v)
		}
	}
}
