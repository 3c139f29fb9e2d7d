package detect

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// checkKeys rejects mapping keys that the struct type of v does not declare,
// so a misspelt key (`treshold:`) is an error with a line, not a silently
// ignored setting.
func checkKeys(file string, node *yaml.Node, v any) error {
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: want a mapping", file, node.Line)
	}
	known := yamlKeys(v)
	for i := 0; i+1 < len(node.Content); i += 2 {
		k := node.Content[i]
		if !known[k.Value] {
			return fmt.Errorf("%s:%d: unknown key %q (want one of %s)", file, k.Line, k.Value, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
	}
	return nil
}

func yamlKeys(v any) map[string]bool {
	t := reflect.TypeOf(v)
	keys := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

// keyLines maps each key of a mapping node to the line of its value.
func keyLines(node *yaml.Node) map[string]int {
	lines := map[string]int{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		lines[node.Content[i].Value] = node.Content[i+1].Line
	}
	return lines
}

// valueNode returns the value of key in a mapping node, or nil.
func valueNode(node *yaml.Node, key string) *yaml.Node {
	if node == nil || node.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1]
		}
	}
	return nil
}
