package manifest

import (
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
)

// positions finds the line of a field in a document, for messages. It is best effort: a
// document the YAML v3 parser reads differently from the Kubernetes one just has no lines.
type positions struct {
	doc       *yamlv3.Node
	startLine int
}

// yamlNode is a node of the document, or nil when unknown.
type yamlNode struct {
	node      *yamlv3.Node
	startLine int
}

func newPositions(text []byte, startLine int) *positions {
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(text, &doc); err != nil || doc.Kind != yamlv3.DocumentNode || len(doc.Content) == 0 {
		return &positions{startLine: startLine}
	}
	return &positions{doc: doc.Content[0], startLine: startLine}
}

func (p *positions) root() *yamlNode {
	if p.doc == nil {
		return nil
	}
	return &yamlNode{node: p.doc, startLine: p.startLine}
}

// item returns the i-th element of the document's items.
func (p *positions) item(i int) *yamlNode {
	items := mappingValue(p.doc, "items")
	if items == nil || items.Kind != yamlv3.SequenceNode || i >= len(items.Content) {
		return nil
	}
	return &yamlNode{node: items.Content[i], startLine: p.startLine}
}

func (p *positions) line(n *yamlNode) int {
	if n == nil {
		return 0
	}
	return n.startLine + n.node.Line - 1
}

// lineOf returns the line of the field at path ("spec.configPatches[0].patch", keys as
// written), or 0. Keys containing dots can be written ["a.b"].
func (n *yamlNode) lineOf(path string) int {
	if n == nil || path == "" {
		return 0
	}
	node := n.node
	line := 0
	for _, segment := range splitPath(path) {
		var next *yamlv3.Node
		if index, err := strconv.Atoi(segment); err == nil && node.Kind == yamlv3.SequenceNode {
			if index >= len(node.Content) {
				return 0
			}
			next = node.Content[index]
			line = next.Line
		} else {
			key := mappingKey(node, segment)
			if key == nil {
				return 0
			}
			line = key.Line
			next = mappingValue(node, segment)
		}
		node = next
	}
	return n.startLine + line - 1
}

// splitPath splits `a.b[2]["c.d"].e` into a, b, 2, c.d, e.
func splitPath(path string) []string {
	var segments []string
	for len(path) > 0 {
		switch {
		case path[0] == '.':
			path = path[1:]
		case strings.HasPrefix(path, `["`):
			end := strings.Index(path, `"]`)
			if end < 0 {
				return append(segments, path)
			}
			if unquoted, err := strconv.Unquote(path[1 : end+1]); err == nil {
				segments = append(segments, unquoted)
			}
			path = path[end+2:]
		case path[0] == '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return append(segments, path)
			}
			segments = append(segments, path[1:end])
			path = path[end+1:]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			segments = append(segments, path[:end])
			path = path[end:]
		}
	}
	return segments
}

// mappingIndex finds key in a mapping node: the exact key, else one that differs only in case
// and underscores, since protobuf JSON accepts both poll_delay and pollDelay.
func mappingIndex(node *yamlv3.Node, key string) int {
	if node == nil || node.Kind != yamlv3.MappingNode {
		return -1
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return i
		}
	}
	normalized := normalizeKey(key)
	for i := 0; i+1 < len(node.Content); i += 2 {
		if normalizeKey(node.Content[i].Value) == normalized {
			return i
		}
	}
	return -1
}

func normalizeKey(key string) string {
	return strings.ToLower(strings.ReplaceAll(key, "_", ""))
}

func mappingKey(node *yamlv3.Node, key string) *yamlv3.Node {
	if i := mappingIndex(node, key); i >= 0 {
		return node.Content[i]
	}
	return nil
}

func mappingValue(node *yamlv3.Node, key string) *yamlv3.Node {
	if i := mappingIndex(node, key); i >= 0 {
		return node.Content[i+1]
	}
	return nil
}
