package detect

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/mcpwatch/mcpwatch/event"
)

// Type is the kind of a rule: what it does with the events its condition
// matches.
type Type string

// Rule types.
const (
	TypeMatch     Type = "match"
	TypeThreshold Type = "threshold"
	TypeNewValue  Type = "new_value"
	TypeChange    Type = "change"
)

// Aggregates of threshold rules.
const (
	AggCount    = "count"
	AggSum      = "sum"
	AggDistinct = "distinct"
)

// Rule is one compiled rule. The exported fields are what the rule file
// says; see rules/README.md for their meaning.
type Rule struct {
	ID          string
	Name        string
	Description string
	Severity    string
	Category    string
	MITRE       []string
	Type        Type
	Condition   string
	GroupBy     []string
	Suppress    time.Duration
	Summary     string
	Attributes  map[string]string

	// threshold
	Window          time.Duration
	Aggregate       string // count, sum or distinct
	AggregateField  string // the field of sum and distinct
	Threshold       float64
	BaselineFactor  float64
	BaselineWindows int

	// new_value
	Fields []string
	Learn  time.Duration

	// change
	Value       string
	Across      string
	ChangedWhen string

	// Source is file:line of the rule, for messages about it.
	Source string

	cond        *vm.Program
	value       *vm.Program
	changedWhen *vm.Program
	attrs       []compiledAttr
	// uses are the event fields the rule's expressions read.
	uses []string
}

type compiledAttr struct {
	name string
	prog *vm.Program
}

// ruleFile is the layout of a rule file.
type ruleFile struct {
	Rules []yaml.Node `yaml:"rules"`
	// Disable lists ids of rules of the packs loaded before this one to
	// leave out (a site's pack on top of the built-in one).
	Disable []string `yaml:"disable"`
}

// ruleYAML is the layout of one rule.
type ruleYAML struct {
	ID          string            `yaml:"id"`
	Name        string            `yaml:"name"`
	Description string            `yaml:"description"`
	Severity    string            `yaml:"severity"`
	Category    string            `yaml:"category"`
	MITRE       []string          `yaml:"mitre"`
	Type        Type              `yaml:"type"`
	Condition   string            `yaml:"condition"`
	GroupBy     []string          `yaml:"group_by"`
	Suppress    string            `yaml:"suppress"`
	Summary     string            `yaml:"summary"`
	Attributes  map[string]string `yaml:"attributes"`
	Enabled     *bool             `yaml:"enabled"`

	Window          string  `yaml:"window"`
	Aggregate       string  `yaml:"aggregate"`
	Threshold       float64 `yaml:"threshold"`
	BaselineFactor  float64 `yaml:"baseline_factor"`
	BaselineWindows int     `yaml:"baseline_windows"`

	Fields []string `yaml:"fields"`
	Learn  string   `yaml:"learn"`

	Value       string `yaml:"value"`
	Across      string `yaml:"across"`
	ChangedWhen string `yaml:"changed_when"`
}

// typeKeys are the keys only some rule types accept.
var typeKeys = map[string][]Type{
	"window":           {TypeThreshold, TypeChange},
	"aggregate":        {TypeThreshold},
	"threshold":        {TypeThreshold},
	"baseline_factor":  {TypeThreshold},
	"baseline_windows": {TypeThreshold},
	"fields":           {TypeNewValue},
	"learn":            {TypeNewValue},
	"group_by":         {TypeMatch, TypeThreshold, TypeChange},
	"value":            {TypeChange},
	"across":           {TypeChange},
	"changed_when":     {TypeChange},
}

var (
	ruleIDPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	mitrePattern  = regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)
	placeholder   = regexp.MustCompile(`\{([a-z_]+)\}`)
	aggPattern    = regexp.MustCompile(`^(count|sum|distinct)(?:\(([a-z_0-9]+)\))?$`)
)

// LoadRules reads and compiles every *.yaml file at the top level of each
// pack (subdirectories such as tests/ are not rule files). Each file holds a
// `rules:` list and, in a pack after the first, may hold a `disable:` list
// of ids of the packs before it; a later pack's rule replaces an earlier
// one of the same id. All problems are reported together, each naming
// file:line. Disabled rules (enabled: false) are checked but not returned.
func LoadRules(packs ...fs.FS) ([]*Rule, error) {
	rules, errs := loadRules(packs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

// Lint reports every problem of the rule files in packs: YAML and schema
// errors, expression type errors, unknown fields, duplicate ids, disabled
// ids no earlier pack defines.
func Lint(packs ...fs.FS) []error {
	_, errs := loadRules(packs)
	return errs
}

// loadRules loads the packs in turn: a later pack's rule replaces an
// earlier one of the same id (in its place), and the disable lists of a
// pack's files drop rules of the packs before it.
func loadRules(packs []fs.FS) ([]*Rule, []error) {
	c := newCompiler()
	var (
		rules []*Rule
		errs  []error
	)
	for _, fsys := range packs {
		packRules, disable, packErrs := c.pack(fsys)
		errs = append(errs, packErrs...)
		for _, r := range packRules {
			if i := slices.IndexFunc(rules, func(o *Rule) bool { return o.ID == r.ID }); i >= 0 {
				rules[i] = r
			} else {
				rules = append(rules, r)
			}
		}
		for _, d := range disable {
			i := slices.IndexFunc(rules, func(o *Rule) bool { return o.ID == d.id })
			if i < 0 {
				errs = append(errs, fmt.Errorf("%s: disable %q: no rule of that id in the packs before", d.file, d.id))
				continue
			}
			rules = slices.Delete(rules, i, i+1)
		}
	}
	return rules, errs
}

// disabled is an id in a rule file's disable list.
type disabled struct{ file, id string }

// pack compiles the rule files of one pack.
func (c *compiler) pack(fsys fs.FS) ([]*Rule, []disabled, []error) {
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, nil, []error{fmt.Errorf("list rule files: %w", err)}
	}
	// A .yml file would be skipped without a word; say so instead.
	if yml, _ := fs.Glob(fsys, "*.yml"); len(yml) > 0 {
		return nil, nil, []error{fmt.Errorf("%s: rule files are named *.yaml", yml[0])}
	}
	if len(files) == 0 {
		return nil, nil, []error{errors.New("no rule files (*.yaml)")}
	}
	var (
		rules   []*Rule
		disable []disabled
		errs    []error
		seen    = map[string]string{}
	)
	for _, name := range files {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("read rule file: %w", err))
			continue
		}
		fileRules, fileDisable, fileErrs := c.file(name, data)
		errs = append(errs, fileErrs...)
		for _, id := range fileDisable {
			disable = append(disable, disabled{name, id})
		}
		for _, r := range fileRules {
			if prev, dup := seen[r.ID]; dup {
				errs = append(errs, fmt.Errorf("%s: rule %q: duplicate id, first defined at %s", r.Source, r.ID, prev))
				continue
			}
			seen[r.ID] = r.Source
			rules = append(rules, r)
		}
	}
	return rules, disable, errs
}

// compiler turns rule YAML into Rules.
type compiler struct {
	schema *schema
	opts   []expr.Option
}

func newCompiler() *compiler {
	s := newSchema()
	return &compiler{schema: s, opts: s.exprOptions()}
}

func (c *compiler) file(name string, data []byte) ([]*Rule, []string, []error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, []error{fmt.Errorf("%s: %w", name, err)}
	}
	if len(doc.Content) == 0 {
		return nil, nil, []error{fmt.Errorf("%s: empty file, want a rules: or disable: list", name)}
	}
	root := doc.Content[0]
	if err := checkKeys(name, root, ruleFile{}); err != nil {
		return nil, nil, []error{err}
	}
	var f ruleFile
	if err := root.Decode(&f); err != nil {
		return nil, nil, []error{fmt.Errorf("%s: %w", name, err)}
	}
	var (
		rules []*Rule
		errs  []error
	)
	for i := range f.Rules {
		r, enabled, err := c.rule(name, &f.Rules[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if enabled {
			rules = append(rules, r)
		}
	}
	return rules, f.Disable, errs
}

// ruleError is a problem of one rule at one line.
func ruleError(file string, line int, id, format string, args ...any) error {
	return fmt.Errorf("%s:%d: rule %q: %s", file, line, id, fmt.Sprintf(format, args...))
}

func (c *compiler) rule(file string, node *yaml.Node) (*Rule, bool, error) {
	if err := checkKeys(file, node, ruleYAML{}); err != nil {
		return nil, false, err
	}
	var y ruleYAML
	if err := node.Decode(&y); err != nil {
		return nil, false, fmt.Errorf("%s:%d: %w", file, node.Line, err)
	}
	lines := keyLines(node)
	lineOf := func(key string) int {
		if l, ok := lines[key]; ok {
			return l
		}
		return node.Line
	}
	fail := func(key, format string, args ...any) (*Rule, bool, error) {
		return nil, false, ruleError(file, lineOf(key), y.ID, format, args...)
	}

	if !ruleIDPattern.MatchString(y.ID) {
		return fail("id", "id must be lower-case words joined by '-'")
	}
	for _, k := range []struct{ key, val string }{{"name", y.Name}, {"description", y.Description}, {"category", y.Category}, {"condition", y.Condition}} {
		if strings.TrimSpace(k.val) == "" {
			return fail(k.key, "%s is required", k.key)
		}
	}
	if !slices.Contains(event.Severities, y.Severity) {
		return fail("severity", "severity %q, want one of %s", y.Severity, strings.Join(event.Severities, ", "))
	}
	for _, m := range y.MITRE {
		if !mitrePattern.MatchString(m) {
			return fail("mitre", "mitre %q is not an ATT&CK technique id (T1234 or T1234.001)", m)
		}
	}
	switch y.Type {
	case TypeMatch, TypeThreshold, TypeNewValue, TypeChange:
	default:
		return fail("type", "type %q, want match, threshold, new_value or change", y.Type)
	}
	for _, key := range slices.Sorted(maps.Keys(typeKeys)) {
		if _, set := lines[key]; set && !slices.Contains(typeKeys[key], y.Type) {
			return fail(key, "%s does not apply to a %s rule", key, y.Type)
		}
	}

	r := &Rule{
		ID: y.ID, Name: y.Name, Description: strings.TrimSpace(y.Description),
		Severity: y.Severity, Category: y.Category, MITRE: y.MITRE, Type: y.Type,
		Condition: y.Condition, GroupBy: y.GroupBy, Summary: y.Summary, Attributes: y.Attributes,
		BaselineFactor: y.BaselineFactor, BaselineWindows: y.BaselineWindows, Threshold: y.Threshold,
		Fields: y.Fields, Value: y.Value, Across: y.Across, ChangedWhen: y.ChangedWhen,
		Source: fmt.Sprintf("%s:%d", file, node.Line),
	}
	var err error
	for _, d := range []struct {
		key string
		src string
		dst *time.Duration
	}{{"suppress", y.Suppress, &r.Suppress}, {"window", y.Window, &r.Window}, {"learn", y.Learn, &r.Learn}} {
		if d.src == "" {
			continue
		}
		if *d.dst, err = time.ParseDuration(d.src); err != nil || *d.dst <= 0 {
			return fail(d.key, "%s %q is not a positive duration (5m, 1h30m)", d.key, d.src)
		}
	}
	for _, f := range append(append(append([]string{}, y.GroupBy...), y.Fields...), y.Across) {
		if f != "" && c.schema.fields[f] == nil {
			key := "group_by"
			switch {
			case slices.Contains(y.Fields, f):
				key = "fields"
			case f == y.Across:
				key = "across"
			}
			return fail(key, "unknown event field %q", f)
		}
	}

	exprFail := func(n *yaml.Node, what string, err error) (*Rule, bool, error) {
		line, msg := exprErrorAt(n, err)
		return nil, false, ruleError(file, line, y.ID, "%s: %s", what, msg)
	}
	if r.cond, err = c.compile(y.Condition, expr.AsBool()); err != nil {
		return exprFail(valueNode(node, "condition"), "condition", err)
	}
	r.uses = c.schema.identifiers(y.Condition)

	switch y.Type {
	case TypeThreshold:
		if err := c.threshold(r, &y); err != nil {
			return fail(err.key, "%s", err.msg)
		}
	case TypeNewValue:
		if len(y.Fields) == 0 {
			return fail("fields", "a new_value rule needs fields: the value or tuple that is new")
		}
	case TypeChange:
		if y.Value == "" {
			return fail("value", "a change rule needs value: the expression whose change is detected")
		}
		if r.value, err = c.compile(y.Value); err != nil {
			return exprFail(valueNode(node, "value"), "value", err)
		}
		r.uses = append(r.uses, c.schema.identifiers(y.Value)...)
		if y.ChangedWhen != "" {
			if r.changedWhen, err = c.compile(y.ChangedWhen, expr.AsBool()); err != nil {
				return exprFail(valueNode(node, "changed_when"), "changed_when", err)
			}
			r.uses = append(r.uses, c.schema.identifiers(y.ChangedWhen)...)
		}
		if (y.Across == "") != (r.Window == 0) {
			return fail("across", "across and window go together: compare clients seen within the window")
		}
	}

	for _, name := range slices.Sorted(maps.Keys(y.Attributes)) {
		prog, err := c.compile(y.Attributes[name])
		if err != nil {
			return exprFail(valueNode(valueNode(node, "attributes"), name), "attribute "+name, err)
		}
		r.attrs = append(r.attrs, compiledAttr{name: name, prog: prog})
		r.uses = append(r.uses, c.schema.identifiers(y.Attributes[name])...)
	}
	for _, m := range placeholder.FindAllStringSubmatch(y.Summary, -1) {
		n := m[1]
		if _, attr := y.Attributes[n]; !attr && c.schema.fields[n] == nil && !slices.Contains(alertVarNames, n) && !slices.Contains(typeAttributes(&y), n) {
			return fail("summary", "summary: {%s} is neither an event field, an attribute nor one of %s", n, strings.Join(alertVarNames, ", "))
		}
	}
	return r, y.Enabled == nil || *y.Enabled, nil
}

// typeAttributes are the attributes a rule type adds to every alert.
func typeAttributes(y *ruleYAML) []string {
	switch {
	case y.Type == TypeNewValue:
		return []string{"value"}
	case y.Type == TypeChange && y.Across != "":
		return []string{"previous", "current", "other_" + y.Across}
	case y.Type == TypeChange:
		return []string{"previous", "current"}
	}
	return nil
}

type keyError struct{ key, msg string }

func (c *compiler) threshold(r *Rule, y *ruleYAML) *keyError {
	if r.Window == 0 {
		return &keyError{"window", "a threshold rule needs window: the sliding event-time window"}
	}
	if r.Threshold <= 0 {
		return &keyError{"threshold", "a threshold rule needs threshold: > 0"}
	}
	if r.Suppress == 0 {
		// Once reached, a threshold stays reached while events keep
		// coming; without suppression every one of them would alert.
		r.Suppress = r.Window
	}
	m := aggPattern.FindStringSubmatch(y.Aggregate)
	switch {
	case y.Aggregate == "":
		r.Aggregate = AggCount
	case m == nil, m[1] == AggCount && m[2] != "", m[1] != AggCount && m[2] == "":
		return &keyError{"aggregate", fmt.Sprintf("aggregate %q, want count, sum(field) or distinct(field)", y.Aggregate)}
	default:
		r.Aggregate, r.AggregateField = m[1], m[2]
	}
	if r.AggregateField != "" {
		f := c.schema.fields[r.AggregateField]
		if f == nil {
			return &keyError{"aggregate", fmt.Sprintf("unknown event field %q", r.AggregateField)}
		}
		if r.Aggregate == AggSum && !isNumber(f.zero) {
			return &keyError{"aggregate", fmt.Sprintf("sum(%s): field is not a number", r.AggregateField)}
		}
	}
	if (r.BaselineFactor > 0) != (r.BaselineWindows > 0) {
		return &keyError{"baseline_factor", "baseline_factor and baseline_windows go together"}
	}
	if r.BaselineFactor > 0 && r.Aggregate == AggDistinct {
		return &keyError{"baseline_factor", "a baseline is kept for count and sum, not distinct"}
	}
	return nil
}

// exprErrorAt turns an expression error into the file line it is on and a
// one-line message with the column in the expression.
func exprErrorAt(n *yaml.Node, err error) (int, string) {
	var fe *file.Error
	if n == nil || !errors.As(err, &fe) {
		line := 0
		if n != nil {
			line = n.Line
		}
		return line, err.Error()
	}
	line := n.Line + fe.Line - 1
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		line++ // block scalars start on the line after the indicator
	}
	return line, fmt.Sprintf("%s (expression line %d, column %d)", fe.Message, fe.Line, fe.Column+1)
}

func (c *compiler) compile(src string, opts ...expr.Option) (*vm.Program, error) {
	return expr.Compile(src, append(append([]expr.Option{}, c.opts...), opts...)...)
}

func isNumber(v any) bool {
	switch reflect.TypeOf(v).Kind() {
	case reflect.Int, reflect.Int64, reflect.Float64:
		return true
	}
	return false
}
