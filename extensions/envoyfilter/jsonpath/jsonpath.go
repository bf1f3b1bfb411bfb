// Package jsonpath turns the line:column positions in protojson errors into field paths, and
// decodes with protojson reporting every problem rather than the first.
//
// protojson reports where in the text an error is ("(line 1:734): unknown field \"pol_delay\"").
// For a value that the user wrote as YAML, an offset in machine-made JSON means nothing; the
// path (".filter_chains[0].transport_socket.typed_config.pol_delay") does. Encode writes a
// value as compact JSON and remembers which path every byte belongs to.
package jsonpath

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Segment is one step of a path: an object member (Key) or an array element (Index).
type Segment struct {
	Key     string
	Index   int
	IsIndex bool
}

// Path is a sequence of segments from the root of the encoded value.
type Path []Segment

// String renders the path the way a user addresses YAML: `.name`, `["key.with.dots"]`, `[3]`.
// The root renders as the empty string.
func (p Path) String() string {
	var b strings.Builder
	for _, s := range p {
		switch {
		case s.IsIndex:
			fmt.Fprintf(&b, "[%d]", s.Index)
		case isIdentifier(s.Key):
			b.WriteByte('.')
			b.WriteString(s.Key)
		default:
			fmt.Fprintf(&b, "[%s]", strconv.Quote(s.Key))
		}
	}
	return b.String()
}

var identifier = regexp.MustCompile(`^[A-Za-z_@][A-Za-z0-9_]*$`)

func isIdentifier(s string) bool { return identifier.MatchString(s) }

// span covers the bytes of one member (key and value) or array element.
type span struct {
	start, end int
	path       Path
}

// Document is the compact JSON encoding of a value with the path of every member and element.
type Document struct {
	JSON  []byte
	spans []span
}

// Encode writes v (nil, bool, string, float64, json.Number, integers, []any, map[string]any, as
// produced by encoding/json or structpb.Struct.AsMap) as compact JSON with sorted object keys.
func Encode(v any) (*Document, error) {
	e := &encoder{}
	if err := e.value(v, nil); err != nil {
		return nil, err
	}
	sort.SliceStable(e.spans, func(i, j int) bool { return e.spans[i].start < e.spans[j].start })
	return &Document{JSON: e.buf, spans: e.spans}, nil
}

type encoder struct {
	buf   []byte
	spans []span
}

func (e *encoder) value(v any, path Path) error {
	switch v := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case bool:
		e.buf = strconv.AppendBool(e.buf, v)
	case string:
		e.buf = appendString(e.buf, v)
	case json.Number:
		e.buf = append(e.buf, v...)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s: %v cannot be written as JSON", displayPath(path), v)
		}
		// 'f' keeps integers integral ("1000000", not "1e+06"), which protojson needs for int fields.
		e.buf = strconv.AppendFloat(e.buf, v, 'f', -1, 64)
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	case int64:
		e.buf = strconv.AppendInt(e.buf, v, 10)
	case uint64:
		e.buf = strconv.AppendUint(e.buf, v, 10)
	case []any:
		e.buf = append(e.buf, '[')
		for i, item := range v {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			itemPath := appendSegment(path, Segment{Index: i, IsIndex: true})
			start := len(e.buf)
			if err := e.value(item, itemPath); err != nil {
				return err
			}
			e.spans = append(e.spans, span{start: start, end: len(e.buf), path: itemPath})
		}
		e.buf = append(e.buf, ']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		e.buf = append(e.buf, '{')
		for i, k := range keys {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			memberPath := appendSegment(path, Segment{Key: k})
			start := len(e.buf)
			e.buf = appendString(e.buf, k)
			e.buf = append(e.buf, ':')
			if err := e.value(v[k], memberPath); err != nil {
				return err
			}
			e.spans = append(e.spans, span{start: start, end: len(e.buf), path: memberPath})
		}
		e.buf = append(e.buf, '}')
	default:
		return fmt.Errorf("%s: unsupported JSON value of type %T", displayPath(path), v)
	}
	return nil
}

func displayPath(p Path) string {
	if len(p) == 0 {
		return "(root)"
	}
	return strings.TrimPrefix(p.String(), ".")
}

func appendSegment(p Path, s Segment) Path {
	out := make(Path, len(p), len(p)+1)
	copy(out, p)
	return append(out, s)
}

func appendString(buf []byte, s string) []byte {
	// encoding/json escapes exactly as any JSON reader expects; HTML escaping is harmless here.
	quoted, _ := json.Marshal(s)
	return append(buf, quoted...)
}

// PathAt returns the path of the innermost member or element that contains byte offset.
func (d *Document) PathAt(offset int) Path {
	var best *span
	for i := range d.spans {
		s := &d.spans[i]
		if s.start > offset {
			break
		}
		if offset < s.end && (best == nil || len(s.path) > len(best.path)) {
			best = s
		}
	}
	if best == nil {
		return nil
	}
	return best.path
}

// Offset converts a protojson line:column position (1-based, column counted in runes) to a byte
// offset in d.JSON.
func (d *Document) Offset(line, column int) int {
	offset := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(string(d.JSON[offset:]), '\n')
		if i < 0 {
			return len(d.JSON)
		}
		offset += i + 1
	}
	for c := 1; c < column && offset < len(d.JSON); c++ {
		_, size := utf8.DecodeRune(d.JSON[offset:])
		offset += size
	}
	return offset
}

var protojsonPosition = regexp.MustCompile(`\(line (\d+):(\d+)\):?\s*`)

// Locate splits an error returned by protojson for d.JSON into the path it points at and the
// message without the "proto:" prefix and position. ok is false when the error has no position.
func (d *Document) Locate(err error) (path Path, message string, ok bool) {
	message = CleanMessage(err)
	m := protojsonPosition.FindStringSubmatchIndex(message)
	if m == nil {
		return nil, message, false
	}
	line, _ := strconv.Atoi(message[m[2]:m[3]])
	column, _ := strconv.Atoi(message[m[4]:m[5]])
	prefix, rest := strings.TrimSpace(message[:m[0]]), strings.TrimSpace(message[m[1]:])
	if prefix != "" {
		rest = prefix + ": " + rest
	}
	return d.PathAt(d.Offset(line, column)), rest, true
}

// CleanMessage returns a protobuf error's text without the "proto:" prefix. protobuf-go puts
// non-breaking spaces in its messages at random to discourage matching them; they become spaces.
func CleanMessage(err error) string {
	message := strings.ReplaceAll(err.Error(), "\u00a0", " ")
	message = strings.TrimPrefix(message, "proto: ")
	return strings.TrimSpace(message)
}

// Problem is something protojson rejected, at a path in the decoded value.
type Problem struct {
	Path    Path
	Message string
	// Warning marks problems UnknownType chose to let pass.
	Warning bool
}

// Decoder decodes JSON-shaped values with protojson and reports every problem, not just the
// first: protojson stops at one error, so the offending member is dropped and decoding retried.
type Decoder struct {
	// Options are used as given; set Resolver for Any types outside protoregistry.GlobalTypes.
	Options protojson.UnmarshalOptions
	// UnknownType, when set, explains an Any whose type URL does not resolve (path is the Any's)
	// and may return a value to decode in its place; otherwise the Any is dropped.
	UnknownType func(path Path, typeURL string) (problem Problem, replacement any)
	// MaxProblems bounds the retries (default 50).
	MaxProblems int
}

// Decode decodes tree (nil, bool, string, numbers, []any, map[string]any) into msg. complete
// is false when something was dropped, i.e. msg does not hold all that tree said; tree may be
// modified.
func (d Decoder) Decode(tree any, msg proto.Message) (problems []Problem, complete bool) {
	maxProblems := d.MaxProblems
	if maxProblems <= 0 {
		maxProblems = 50
	}
	complete = true
	removed := map[string]bool{}
	for attempt := 0; ; attempt++ {
		if attempt == maxProblems {
			return append(problems, Problem{Message: fmt.Sprintf("more than %d problems; stopped looking", maxProblems)}), false
		}
		doc, err := Encode(tree)
		if err != nil {
			return append(problems, Problem{Message: err.Error()}), false
		}
		proto.Reset(msg)
		err = d.Options.Unmarshal(doc.JSON, msg)
		if err == nil {
			return problems, complete
		}
		path, message, located := doc.Locate(err)
		if !located || len(path) == 0 {
			return append(problems, Problem{Path: path, Message: message}), false
		}
		if last := path[len(path)-1]; !last.IsIndex && last.Key == "@type" && strings.HasPrefix(message, "unable to resolve") && d.UnknownType != nil {
			anyPath := path[:len(path)-1]
			typeURL, _ := lookup(tree, path).(string)
			problem, replacement := d.UnknownType(anyPath, typeURL)
			problems = append(problems, problem)
			if replacement != nil && !removed[anyPath.String()] {
				removed[anyPath.String()] = true
				tree = replace(tree, anyPath, replacement)
				continue
			}
			path = anyPath
		} else if !removed[path.String()] {
			problems = append(problems, Problem{Path: path, Message: message})
		}
		complete = false
		// An error at a path already dropped is about what replaced it: drop its container.
		for len(path) > 0 && removed[path.String()] {
			path = path[:len(path)-1]
		}
		if len(path) == 0 {
			return problems, false
		}
		removed[path.String()] = true
		tree = remove(tree, path)
	}
}

// lookup returns the node at path in tree, or nil.
func lookup(tree any, path Path) any {
	node := tree
	for _, s := range path {
		switch n := node.(type) {
		case map[string]any:
			if s.IsIndex {
				return nil
			}
			node = n[s.Key]
		case []any:
			if !s.IsIndex || s.Index >= len(n) {
				return nil
			}
			node = n[s.Index]
		default:
			return nil
		}
	}
	return node
}

// replace sets the node at path (which must exist) and returns the tree.
func replace(tree any, path Path, value any) any {
	if len(path) == 0 {
		return value
	}
	switch parent := lookup(tree, path[:len(path)-1]).(type) {
	case map[string]any:
		parent[path[len(path)-1].Key] = value
	case []any:
		parent[path[len(path)-1].Index] = value
	}
	return tree
}

// remove drops the node at path so that decoding can go on past it. An array element cannot
// be dropped without moving later paths, so an object element is emptied instead and any other
// element takes its whole array with it.
func remove(tree any, path Path) any {
	for len(path) > 0 {
		last := path[len(path)-1]
		parent := lookup(tree, path[:len(path)-1])
		if m, ok := parent.(map[string]any); ok && !last.IsIndex {
			delete(m, last.Key)
			return tree
		}
		if list, ok := parent.([]any); ok && last.IsIndex {
			if _, isObject := list[last.Index].(map[string]any); isObject {
				list[last.Index] = map[string]any{}
				return tree
			}
		}
		path = path[:len(path)-1]
	}
	return map[string]any{}
}
