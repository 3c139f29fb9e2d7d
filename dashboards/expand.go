package dashboards

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Request is what Grafana sends along with a panel's SQL: the dashboard's
// time range, the panel's interval and the template variables' selections.
type Request struct {
	From, To time.Time
	// Interval is the panel's bucket width, which Grafana derives from the
	// time range and the panel's width.
	Interval time.Duration
	// Variables are the dashboard's template variables by name.
	Variables map[string]Variable
}

// Variable is the state of one multi-value template variable.
type Variable struct {
	// All is true when "All" is selected. Values are then every option of
	// the variable, which is what Grafana substitutes for it.
	All    bool
	Values []string
}

// allValue is the value Grafana stores for a selected "All".
const allValue = "$__all"

// Expand rewrites sql the way Grafana and the ClickHouse datasource do
// before the SQL reaches ClickHouse, in their order:
//
//  1. the plugin frontend's $__conditionalAll(condition, $var): 1=1 when
//     var is "All" (or empty), else the condition
//     (grafana/clickhouse-datasource src/data/CHDatasource.ts,
//     applyConditionalAll, innermost-last first with bracket-counted args);
//  2. Grafana's template variables $var, ${var} and [[var]], formatted by
//     the plugin's format(): a multi-value selection becomes 'a','b' (values
//     joined with "','", not escaped) (CHDatasource.ts, replace and format);
//  3. the backend's macros (grafana/clickhouse-datasource pkg/macros/macros.go
//     with the expansion engine of grafana-plugin-sdk-go data/sqlutil
//     macros.go: names matched as `\$__name\b`, longest name first,
//     bracketed arguments split on top-level commas and trimmed, every
//     occurrence of a match replaced).
//
// Only the macros below are expanded. Anything left that starts with $ is
// an error, so a typo or a macro Grafana would not expand either cannot
// pass as SQL.
func Expand(sql string, r Request) (string, error) {
	sql, err := applyConditionalAll(sql, r.Variables)
	if err != nil {
		return "", err
	}
	sql, err = replaceVariables(sql, r.Variables)
	if err != nil {
		return "", err
	}
	sql, err = interpolateMacros(sql, r)
	if err != nil {
		return "", err
	}
	if i := strings.IndexByte(sql, '$'); i >= 0 {
		end := min(i+24, len(sql))
		return "", fmt.Errorf("expand: %q is neither a template variable nor a macro of the ClickHouse datasource", sql[i:end])
	}
	return sql, nil
}

const conditionalAll = "$__conditionalAll("

// varName finds the variable in $__conditionalAll's second argument, as the
// plugin's /(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+/ does.
var varName = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

func applyConditionalAll(sql string, vars map[string]Variable) (string, error) {
	for i := strings.LastIndex(sql, conditionalAll); i >= 0; i = strings.LastIndex(sql, conditionalAll) {
		args, n := macroArgs(sql[i+len(conditionalAll)-1:])
		if n < 0 || len(args) != 2 {
			return "", fmt.Errorf("expand: %s...) needs two arguments", sql[i:min(i+40, len(sql))])
		}
		phrase := args[0]
		if m := varName.FindStringSubmatch(args[1]); m != nil {
			name := m[1] + m[2]
			if v, ok := vars[name]; ok {
				// JavaScript's Array.toString: values joined by commas.
				if current := strings.Join(v.current(), ","); current == "" || current == allValue {
					phrase = "1=1"
				}
			}
		}
		sql = sql[:i] + phrase + sql[i+len(conditionalAll)-1+n:]
	}
	return sql, nil
}

// current is the variable's stored current value.
func (v Variable) current() []string {
	if v.All {
		return []string{allValue}
	}
	return v.Values
}

// templateVariable is Grafana's variable syntax (public/app/features/
// variables/utils.ts variableRegex): $name, [[name]] or [[name:fmt]],
// ${name}, ${name.field} or ${name:fmt}.
var templateVariable = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)

func replaceVariables(sql string, vars map[string]Variable) (string, error) {
	var err error
	out := templateVariable.ReplaceAllStringFunc(sql, func(match string) string {
		m := templateVariable.FindStringSubmatch(match)
		name := m[1] + m[2] + m[4]
		v, ok := vars[name]
		if !ok {
			// Not a variable (a macro, or a variable of another
			// dashboard): Grafana leaves it as it is.
			return match
		}
		if m[3] != "" || m[5] != "" || m[6] != "" {
			err = fmt.Errorf("expand: %s: only the datasource's own formatting is supported", match)
			return match
		}
		if len(v.Values) == 0 {
			err = fmt.Errorf("expand: variable %s has no value", name)
			return match
		}
		return "'" + strings.Join(v.Values, "','") + "'"
	})
	return out, err
}

// macro expands one macro call given its arguments.
type macro func(r Request, args []string) (string, error)

// macros are the ClickHouse datasource's macros that these dashboards may
// use, and $__timeInterval, which they must not (it is here so that a
// panel using it fails on 18.16 the way it would in Grafana).
var macros = map[string]macro{
	"fromTime": func(r Request, _ []string) (string, error) { return dateTime(r.From), nil },
	"toTime":   func(r Request, _ []string) (string, error) { return dateTime(r.To), nil },
	"timeFilter": oneColumn(func(r Request, col string) string {
		return fmt.Sprintf("%s >= %s AND %s <= %s", col, dateTime(r.From), col, dateTime(r.To))
	}),
	"timeFrom": oneColumn(func(r Request, col string) string { return fmt.Sprintf("%s >= %s", col, dateTime(r.From)) }),
	"timeTo":   oneColumn(func(r Request, col string) string { return fmt.Sprintf("%s <= %s", col, dateTime(r.To)) }),
	"dateFilter": oneColumn(func(r Request, col string) string {
		return fmt.Sprintf("%s >= %s AND %s <= %s", col, date(r.From), col, date(r.To))
	}),
	"timeInterval": oneColumn(func(r Request, col string) string {
		return fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", col, intervalSeconds(r))
	}),
	"interval_s": func(r Request, _ []string) (string, error) { return fmt.Sprint(intervalSeconds(r)), nil },
}

func oneColumn(f func(r Request, col string) string) macro {
	return func(r Request, args []string) (string, error) {
		if len(args) != 1 {
			return "", fmt.Errorf("expected 1 argument, received %d", len(args))
		}
		return f(r, args[0]), nil
	}
}

func dateTime(t time.Time) string { return fmt.Sprintf("toDateTime(%d)", t.Unix()) }

func date(t time.Time) string { return fmt.Sprintf("toDate('%s')", t.Format("2006-01-02")) }

// intervalSeconds is the interval in whole seconds, at least 1.
func intervalSeconds(r Request) int { return int(math.Max(r.Interval.Seconds(), 1)) }

func interpolateMacros(sql string, r Request) (string, error) {
	names := make([]string, 0, len(macros))
	for name := range macros {
		names = append(names, name)
	}
	// Longest first, so that a name that is a prefix of another cannot
	// take its place; then by name, so that the order is stable.
	slices.SortFunc(names, func(a, b string) int {
		if d := len(b) - len(a); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, name := range names {
		re := regexp.MustCompile(`\$__` + regexp.QuoteMeta(name) + `\b`)
		type match struct {
			full string
			args []string
		}
		var matches []match
		for _, loc := range re.FindAllStringIndex(sql, -1) {
			args, n := macroArgs(sql[loc[1]:])
			if n < 0 {
				return "", fmt.Errorf("expand: $__%s: missing close bracket", name)
			}
			for i := range args {
				args[i] = strings.TrimSpace(args[i])
			}
			matches = append(matches, match{sql[loc[0] : loc[1]+n], args})
		}
		for _, m := range matches {
			res, err := macros[name](r, m.args)
			if err != nil {
				return "", fmt.Errorf("expand %s: %w", m.full, err)
			}
			sql = strings.ReplaceAll(sql, m.full, res)
		}
	}
	return sql, nil
}

// macroArgs parses a bracketed argument list at the start of s: the
// arguments split on commas outside inner brackets, untrimmed (the plugin
// frontend keeps the spaces, the backend trims), and the length of the
// list. No list: (nil, 0). No closing bracket: (nil, -1).
func macroArgs(s string) ([]string, int) {
	if !strings.HasPrefix(s, "(") {
		return nil, 0
	}
	var args []string
	depth, start := 0, 1
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return append(args, s[start:i]), i + 1
			}
		case ',':
			if depth == 1 {
				args = append(args, s[start:i])
				start = i + 1
			}
		}
	}
	return nil, -1
}
