package detect

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"github.com/expr-lang/expr/ast"
)

// memo remembers the results of a pure function of a string. Rules apply
// the same function to the same few values event after event — url_host to
// a server_key, a pattern to the tool descriptions of every manifest — and
// Go's URL parser and regexp engine cost far more than a lookup (a
// description costs the tool-poisoning pattern 10–100 µs). Engines built
// from the same rules share a memo, so it is safe for concurrent use.
type memo[V any] struct {
	fn    func(string) V
	mu    sync.Mutex
	byArg map[string]V
	bytes int // held by byArg, roughly
}

// memoBudget bounds the bytes a memo holds; a full memo starts over.
const memoBudget = 1 << 20

// memoEntryBytes is a map entry's cost beyond its argument's bytes.
const memoEntryBytes = 64

func newMemo[V any](fn func(string) V) *memo[V] {
	return &memo[V]{fn: fn, byArg: map[string]V{}}
}

func (m *memo[V]) get(arg string) V {
	m.mu.Lock()
	v, ok := m.byArg[arg]
	m.mu.Unlock()
	if ok {
		return v
	}
	v = m.fn(arg)
	size := len(arg) + memoEntryBytes
	if size > memoBudget/64 {
		return v // one huge argument would crowd out the rest
	}
	m.mu.Lock()
	if m.bytes+size > memoBudget {
		clear(m.byArg)
		m.bytes = 0
	}
	// A clone: the argument may be a slice of a larger buffer.
	m.byArg[strings.Clone(arg)] = v
	m.bytes += size
	m.mu.Unlock()
	return v
}

// fnMatches is the function `x matches "pattern"` becomes; rules cannot
// spell its name.
const fnMatches = "matches (memo)"

// matchesPatch rewrites `x matches "pattern"` into fnMatches(x, i), where
// i numbers the pattern's memo. A pattern that does not compile, or an x
// that cannot be a string, is left to expr, which reports it as usual.
type matchesPatch struct {
	memos []*memo[bool]
}

func (p *matchesPatch) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok || b.Operator != "matches" {
		return
	}
	pattern, ok := b.Right.(*ast.StringNode)
	if !ok {
		return
	}
	if t := b.Left.Type(); t == nil || (t.Kind() != reflect.String && t.Kind() != reflect.Interface) {
		return
	}
	re, err := regexp.Compile(pattern.Value)
	if err != nil {
		return
	}
	p.memos = append(p.memos, newMemo(re.MatchString))
	ast.Patch(node, &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: fnMatches},
		Arguments: []ast.Node{b.Left, &ast.IntegerNode{Value: len(p.memos) - 1}},
	})
}

// matches is fnMatches.
func (p *matchesPatch) matches(params ...any) (any, error) {
	s, ok := params[0].(string)
	if !ok {
		return nil, fmt.Errorf("matches: %T is not a string", params[0])
	}
	return p.memos[params[1].(int)].get(s), nil
}
