package detect

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/types"

	"github.com/mcpwatch/mcpwatch/event"
)

// exprTool is event.Tool as rule expressions see it: schema names via expr
// tags. The conversion exprTool(t) stops compiling if event.Tool changes
// shape, which is the point.
type exprTool struct {
	Name        string `expr:"name"`
	Hash        string `expr:"hash"`
	Description string `expr:"description"`
	ReadOnly    bool   `expr:"read_only"`
	Destructive bool   `expr:"destructive"`
}

// field is one event field addressable by its schema name.
type field struct {
	name  string
	index int
	kind  reflect.Kind
	// zero is the value of the field's expression type, for type checking.
	zero any
}

// value returns the field of ev as rule expressions see it: Kind as string,
// nil times as the zero time, tools with schema names. Scalars are read
// through their kind, which boxes them without reflect's copy of the field.
func (f *field) value(ev *event.Event) any {
	v := reflect.ValueOf(ev).Elem().Field(f.index)
	switch f.kind {
	case reflect.String:
		return v.String()
	case reflect.Int:
		return int(v.Int())
	case reflect.Int64:
		return v.Int()
	case reflect.Float64:
		return v.Float()
	case reflect.Bool:
		return v.Bool()
	}
	if (v.Kind() == reflect.Slice || v.Kind() == reflect.Pointer) && v.IsNil() && f.zero != nil {
		return f.zero // boxed once, by newSchema
	}
	switch x := v.Interface().(type) {
	case *time.Time:
		if x == nil {
			return time.Time{}
		}
		return *x
	case []event.Tool:
		tools := make([]exprTool, len(x))
		for i, t := range x {
			tools[i] = exprTool(t)
		}
		return tools
	default:
		return x
	}
}

// holds reports whether prev is the value of the field in ev, for strings,
// integers and booleans; false for other kinds.
func (f *field) holds(ev *event.Event, prev any) bool {
	v := reflect.ValueOf(ev).Elem().Field(f.index)
	switch f.kind {
	case reflect.String:
		p, ok := prev.(string)
		return ok && p == v.String()
	case reflect.Int:
		p, ok := prev.(int)
		return ok && p == int(v.Int())
	case reflect.Int64:
		p, ok := prev.(int64)
		return ok && p == v.Int()
	case reflect.Bool:
		p, ok := prev.(bool)
		return ok && p == v.Bool()
	}
	return false
}

// appendText appends format(f.value(ev)) to buf; strings and integers,
// the usual group fields, without boxing them.
func (f *field) appendText(buf []byte, ev *event.Event) []byte {
	v := reflect.ValueOf(ev).Elem().Field(f.index)
	switch f.kind {
	case reflect.String:
		return append(buf, v.String()...)
	case reflect.Int, reflect.Int64:
		return strconv.AppendInt(buf, v.Int(), 10)
	}
	return append(buf, format(f.value(ev))...)
}

// text is format(f.value(ev)).
func (f *field) text(ev *event.Event) string {
	if f.kind == reflect.String {
		return reflect.ValueOf(ev).Elem().Field(f.index).String()
	}
	return format(f.value(ev))
}

// number is the field as a sum adds it: numbers as float64, anything else 0.
func (f *field) number(ev *event.Event) float64 {
	v := reflect.ValueOf(ev).Elem().Field(f.index)
	switch f.kind {
	case reflect.Int, reflect.Int64:
		return float64(v.Int())
	case reflect.Float64:
		return v.Float()
	}
	return 0
}

// schema is the table of event fields by schema (JSON) name.
type schema struct {
	fields map[string]*field
}

func newSchema() *schema {
	s := &schema{fields: map[string]*field{}}
	t := reflect.TypeFor[event.Event]()
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		f := &field{name: name, index: i, kind: scalarKind(sf.Type)}
		f.zero = f.value(&event.Event{})
		s.fields[name] = f
	}
	return s
}

// scalarKind is the kind of a predeclared string, int, int64, float64 or
// bool type, or of event.Kind, which rules see as a string; Invalid for any
// other type (a named int such as time.Duration keeps its type).
func scalarKind(t reflect.Type) reflect.Kind {
	switch {
	case t == reflect.TypeFor[event.Kind]():
		return reflect.String
	case t.PkgPath() != "":
		return reflect.Invalid
	}
	switch t.Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Float64, reflect.Bool:
		return t.Kind()
	}
	return reflect.Invalid
}

// lookup returns the fields of names, which the rule compiler checked.
func (s *schema) lookup(names []string) []*field {
	fields := make([]*field, len(names))
	for i, n := range names {
		fields[i] = s.fields[n]
	}
	return fields
}

// Variables that are not event fields. The allowlist functions are bound to
// the event under evaluation; the alert variables are set only when alert
// attributes and summaries are built (and for change rules' `changed_when`).
const (
	fnAllowlisted    = "allowlisted"
	fnHasAllowlist   = "has_allowlist"
	fnPinnedManifest = "pinned_manifest"
	fnPinnedTools    = "pinned_tools"

	varCount    = "count"
	varWindow   = "window"
	varPrevious = "previous"
	varCurrent  = "current"
	varBaseline = "baseline"
)

// alertVarNames are the variables of an alert being built.
var alertVarNames = []string{varCount, varWindow, varPrevious, varCurrent, varBaseline}

// declaration returns the environment rule expressions are type-checked
// against: every event field, the allowlist functions and the alert
// variables.
func (s *schema) declaration() types.Map {
	env := make(types.Map, len(s.fields)+len(alertVarNames)+4)
	for n, f := range s.fields {
		env[n] = types.TypeOf(f.zero)
	}
	env[fnAllowlisted] = types.TypeOf(func() bool { return false })
	env[fnHasAllowlist] = types.TypeOf(func() bool { return false })
	env[fnPinnedManifest] = types.TypeOf(func() string { return "" })
	env[fnPinnedTools] = types.TypeOf(func() []string { return nil })
	env[varCount] = types.Float64
	env[varWindow] = types.String
	env[varBaseline] = types.Float64
	// previous and current hold whatever a change rule's value expression
	// yields.
	env[varPrevious] = types.Any
	env[varCurrent] = types.Any
	return env
}

// exprOptions are the compile options shared by every rule expression.
func (s *schema) exprOptions() []expr.Option {
	// The functions rules apply to server keys and addresses remember
	// their answers, boxed once.
	urlHostMemo := newMemo(func(rawURL string) any { return urlHost(rawURL) })
	loopbackMemo := newMemo(func(host string) any { return event.IsLoopbackHost(host) })
	canonicalMemo := newMemo(event.CanonicalURL)
	matches := &matchesPatch{}
	return []expr.Option{
		expr.Env(s.declaration()),
		// Rules run on event time; the wall clock would make replays differ.
		expr.DisableBuiltin("now"),
		expr.Function("loopback", func(params ...any) (any, error) {
			return loopbackMemo.get(params[0].(string)), nil
		}, new(func(string) bool)),
		expr.Function("in_cidr", inCIDRFn, new(func(string, string) bool)),
		expr.Function("audience_names", audienceNames(canonicalMemo.get), new(func([]string, string) bool), new(func([]any, string) bool)),
		expr.Function("url_host", func(params ...any) (any, error) {
			return urlHostMemo.get(params[0].(string)), nil
		}, new(func(string) string)),
		expr.Patch(matches),
		expr.Function(fnMatches, matches.matches, new(func(string, int) bool)),
	}
}

// identifiers returns the names an expression refers to that are event
// fields, so an evaluation environment carries only what is used.
func (s *schema) identifiers(src string) []string {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil // the compile step reports it
	}
	c := &identCollector{schema: s, seen: map[string]bool{}}
	ast.Walk(&tree.Node, c)
	return c.names
}

type identCollector struct {
	schema *schema
	seen   map[string]bool
	names  []string
}

func (c *identCollector) Visit(node *ast.Node) {
	id, ok := (*node).(*ast.IdentifierNode)
	if !ok || c.seen[id.Value] || c.schema.fields[id.Value] == nil {
		return
	}
	c.seen[id.Value] = true
	c.names = append(c.names, id.Value)
}

// format renders a field or variable value as alert text: lists joined by
// commas, times in RFC 3339.
func format(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []string:
		return strings.Join(x, ",")
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.UTC().Format(time.RFC3339Nano)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case map[string]any:
		b, err := json.Marshal(x) // sorted keys
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = format(p)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(x)
	}
}

func inCIDRFn(params ...any) (any, error) {
	addr, cidr := params[0].(string), params[1].(string)
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("in_cidr: %w", err)
	}
	ip, err := netip.ParseAddr(addr)
	return err == nil && prefix.Contains(ip.Unmap()), nil
}

// urlHost is the host of a URL, without port and brackets; "" if it does
// not parse.
func urlHost(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// audienceNames returns audience_names (event.AudienceNames), comparing
// through canonical, a memo of event.CanonicalURL.
func audienceNames(canonical func(string) string) func(params ...any) (any, error) {
	return func(params ...any) (any, error) {
		serverKey := params[1].(string)
		var aud []string
		switch x := params[0].(type) {
		case []string:
			aud = x
		case []any: // a list literal in the rule
			for _, a := range x {
				aud = append(aud, fmt.Sprint(a))
			}
		}
		return event.AudienceNames(aud, serverKey, canonical), nil
	}
}
