// Package regexsource finds the regexes Envoy will evaluate in the files users keep their
// routing in: Istio VirtualServices (every StringMatch regex), EnvoyFilters (every safe_regex
// in patch values), `kubectl get -o yaml` Lists and multi-document YAML, and plain text files
// with one regex per line. Each regex comes back with the object and field path it was found at.
package regexsource

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Regex is one regex and where it was found.
type Regex struct {
	Regex string `json:"regex"`
	// Source is the file name ("-" for standard input).
	Source string `json:"source"`
	// Object names the Kubernetes object ("VirtualService shop/reviews"); empty for text files.
	Object string `json:"object,omitempty"`
	// Field is the field path inside the object ("spec.http[0].match[1].uri.regex"), or
	// "line N" for text files.
	Field string `json:"field"`
}

// Location renders where the regex was found, for messages.
func (r Regex) Location() string {
	if r.Object == "" {
		return r.Source + ":" + strings.TrimPrefix(r.Field, "line ")
	}
	return r.Source + ": " + r.Object + " " + r.Field
}

var kubernetesDocument = regexp.MustCompile(`(?m)^(apiVersion|kind):`)

// Parse returns the regexes in data, read from source. YAML (or JSON, as `kubectl get -o json`
// prints) with Kubernetes objects is read as such; anything else is a text file with one regex per line, where empty lines and lines that
// start with `#` are skipped (write a regex that starts with # as `\#`).
func Parse(source string, data []byte) ([]Regex, error) {
	if kubernetesDocument.Match(data) || bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		objects, err := decodeObjects(data)
		if err == nil {
			return fromObjects(source, objects)
		}
		return nil, fmt.Errorf("%s: looks like Kubernetes YAML but does not parse: %w", source, err)
	}
	return fromText(source, data), nil
}

func fromText(source string, data []byte) []Regex {
	var regexes []Regex
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		regexes = append(regexes, Regex{Regex: line, Source: source, Field: "line " + strconv.Itoa(i+1)})
	}
	return regexes
}

func decodeObjects(data []byte) ([]map[string]any, error) {
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	var objects []map[string]any
	for {
		var doc any
		err := decoder.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, err
		}
		if doc == nil {
			continue // an empty document between separators
		}
		object, ok := doc.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("document %d is a %T, not an object", len(objects)+1, doc)
		}
		objects = append(objects, object)
	}
}

func fromObjects(source string, objects []map[string]any) ([]Regex, error) {
	var regexes []Regex
	for _, object := range objects {
		found, err := fromObject(source, object)
		if err != nil {
			return nil, err
		}
		regexes = append(regexes, found...)
	}
	return regexes, nil
}

func fromObject(source string, object map[string]any) ([]Regex, error) {
	kind, _ := object["kind"].(string)
	if items, ok := object["items"].([]any); ok && strings.HasSuffix(kind, "List") {
		var regexes []Regex
		for i, item := range items {
			itemObject, ok := item.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: %s items[%d] is a %T, not an object", source, kind, i, item)
			}
			found, err := fromObject(source, itemObject)
			if err != nil {
				return nil, err
			}
			regexes = append(regexes, found...)
		}
		return regexes, nil
	}
	w := walker{source: source, object: objectName(kind, object)}
	switch kind {
	case "VirtualService":
		w.virtualService(object)
	case "EnvoyFilter":
		w.envoyFilter(object)
	}
	return w.regexes, w.err
}

func objectName(kind string, object map[string]any) string {
	metadata, _ := object["metadata"].(map[string]any)
	name, _ := metadata["name"].(string)
	if namespace, _ := metadata["namespace"].(string); namespace != "" {
		name = namespace + "/" + name
	}
	return kind + " " + name
}

type walker struct {
	source  string
	object  string
	regexes []Regex
	err     error
}

func (w *walker) fail(path, format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("%s: %s %s: %s", w.source, w.object, path, fmt.Sprintf(format, args...))
	}
}

func (w *walker) add(path string, value any) {
	regex, ok := value.(string)
	if !ok {
		w.fail(path, "want a regex string, got %s", describe(value))
		return
	}
	w.regexes = append(w.regexes, Regex{Regex: regex, Source: w.source, Object: w.object, Field: path})
}

// stringMatchFields are the Istio StringMatch fields of an HTTPMatchRequest.
var stringMatchFields = []string{"uri", "scheme", "method", "authority"}

// stringMatchMaps are the HTTPMatchRequest fields that map names to StringMatches.
var stringMatchMaps = []string{"headers", "queryParams", "withoutHeaders"}

func (w *walker) virtualService(object map[string]any) {
	spec, _ := object["spec"].(map[string]any)
	routes, ok := spec["http"].([]any)
	if !ok {
		return
	}
	for i, route := range routes {
		routeMap, _ := route.(map[string]any)
		matches, _ := routeMap["match"].([]any)
		for j, match := range matches {
			matchMap, ok := match.(map[string]any)
			if !ok {
				w.fail(fmt.Sprintf("spec.http[%d].match[%d]", i, j), "want an object, got %s", describe(match))
				return
			}
			base := fmt.Sprintf("spec.http[%d].match[%d]", i, j)
			for _, field := range stringMatchFields {
				w.stringMatch(base+"."+field, matchMap[field])
			}
			for _, field := range stringMatchMaps {
				named, _ := matchMap[field].(map[string]any)
				for _, name := range sortedKeys(named) {
					w.stringMatch(base+"."+field+pathKey(name), named[name])
				}
			}
		}
	}
}

func (w *walker) stringMatch(path string, value any) {
	match, ok := value.(map[string]any)
	if !ok {
		return
	}
	if regex, ok := match["regex"]; ok {
		w.add(path+".regex", regex)
	}
}

// safeRegexKeys are the Envoy fields (in proto and JSON spelling) that hold a RegexMatcher.
var safeRegexKeys = map[string]bool{"safe_regex": true, "safeRegex": true, "safe_regex_match": true, "safeRegexMatch": true}

func (w *walker) envoyFilter(object map[string]any) {
	spec, _ := object["spec"].(map[string]any)
	patches, _ := spec["configPatches"].([]any)
	for i, patch := range patches {
		patchMap, _ := patch.(map[string]any)
		inner, _ := patchMap["patch"].(map[string]any)
		if value, ok := inner["value"]; ok {
			w.walkValue(fmt.Sprintf("spec.configPatches[%d].patch.value", i), value, false)
		}
	}
}

// walkValue finds RegexMatchers anywhere in an EnvoyFilter patch value.
func (w *walker) walkValue(path string, value any, underSafeRegex bool) {
	switch v := value.(type) {
	case map[string]any:
		for _, key := range sortedKeys(v) {
			child := path + pathKey(key)
			switch {
			case underSafeRegex && key == "regex":
				w.add(child, v[key])
			case safeRegexKeys[key]:
				if _, isString := v[key].(string); isString {
					w.add(child, v[key])
					continue
				}
				w.walkValue(child, v[key], true)
			default:
				w.walkValue(child, v[key], false)
			}
		}
	case []any:
		for i, item := range v {
			w.walkValue(fmt.Sprintf("%s[%d]", path, i), item, false)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

// pathKey renders a map key in a field path: `.name`, or `["a.b"]` when the key has characters
// that would make the path ambiguous.
func pathKey(key string) string {
	if key != "" && !strings.ContainsAny(key, ".[]\" ") {
		return "." + key
	}
	return "[" + strconv.Quote(key) + "]"
}

func describe(value any) string {
	switch v := value.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("%T %v", v, v)
	}
}
