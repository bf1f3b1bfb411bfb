package envoyfilter

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3api "istio.io/api/networking/v1alpha3"

	"github.com/meshaccel/meshaccel/extensions/envoyfilter/jsonpath"
)

// finding is a problem at a path inside a patch value, before it becomes an Issue.
type finding struct {
	path    jsonpath.Path
	message string
	warning bool
}

// maxDecodeFindings bounds the decode-and-retry loop on one value.
const maxDecodeFindings = 50

// foreignPlaceholderURL stands in for an Any whose type is not Envoy's (Istio's own filters,
// Wasm plugin configs): the rest of the value is still checked.
var foreignPlaceholderURL = "type.googleapis.com/" + string((&emptypb.Empty{}).ProtoReflect().Descriptor().FullName())

// PatchMessage decodes an EnvoyFilter patch value into the Envoy message its applyTo names,
// strictly: unknown fields and unknown type URLs are errors that name the path inside value.
// It does not run the validation rules; ValidateEnvoyFilter does.
func PatchMessage(target networkingv1alpha3api.EnvoyFilter_ApplyTo, value *structpb.Struct) (proto.Message, error) {
	t, ok := patchTargets[target]
	if !ok {
		return nil, fmt.Errorf("applyTo %s has no Envoy message", target)
	}
	msg := t.newMessage()
	findings, _ := decodeValue(value.AsMap(), msg, false)
	if len(findings) > 0 {
		errs := make([]error, len(findings))
		for i, f := range findings {
			errs[i] = fmt.Errorf("value%s: %s", f.path, f.message)
		}
		return nil, errors.Join(errs...)
	}
	return msg, nil
}

// decodeValue decodes tree (a JSON-shaped value) into msg with protojson, rejecting unknown
// fields and resolving type URLs in the global registry. protojson stops at the first error, so
// each error's member is dropped and decoding retried, collecting them all. When lenient, an
// Any of a foreign (non-Envoy) type is a warning and decodes as Empty. complete is false when
// msg does not hold everything tree said.
func decodeValue(tree any, msg proto.Message, lenient bool) (findings []finding, complete bool) {
	complete = true
	removed := map[string]bool{}
	for attempt := 0; ; attempt++ {
		if attempt == maxDecodeFindings {
			findings = append(findings, finding{message: fmt.Sprintf("more than %d problems; stopped looking", maxDecodeFindings)})
			return findings, false
		}
		doc, err := jsonpath.Encode(tree)
		if err != nil {
			return append(findings, finding{message: err.Error()}), false
		}
		proto.Reset(msg)
		err = protojson.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}.Unmarshal(doc.JSON, msg)
		if err == nil {
			return findings, complete
		}
		path, message, located := doc.Locate(err)
		if !located || len(path) == 0 {
			return append(findings, finding{path: path, message: message}), false
		}
		if last := path[len(path)-1]; !last.IsIndex && last.Key == "@type" && strings.HasPrefix(message, "unable to resolve") {
			anyPath := path[:len(path)-1]
			typeURL, _ := lookup(tree, path).(string)
			f := unknownTypeFinding(anyPath, typeURL)
			findings = append(findings, f)
			if f.warning && lenient {
				tree = replace(tree, anyPath, map[string]any{"@type": foreignPlaceholderURL})
				continue
			}
			complete = false
			tree = remove(tree, anyPath)
			continue
		}
		complete = false
		if !removed[path.String()] {
			findings = append(findings, finding{path: path, message: message})
		}
		// An error at a path already dropped is about what replaced it: drop its container.
		for len(path) > 0 && removed[path.String()] {
			path = path[:len(path)-1]
		}
		if len(path) == 0 {
			return findings, false
		}
		removed[path.String()] = true
		tree = remove(tree, path)
	}
}

// unknownTypeFinding explains a type URL that is not in the registry. Envoy, xds and protobuf
// types must resolve (a miss is a typo or an extension this Envoy does not have); anything else
// is configuration for Istio or a Wasm module, which Envoy hands on without looking inside.
func unknownTypeFinding(path jsonpath.Path, typeURL string) finding {
	name := typeURL[strings.LastIndexByte(typeURL, '/')+1:]
	switch {
	case !isEnvoyFamily(name):
		return finding{path: path, warning: true,
			message: fmt.Sprintf("type %q is not an Envoy type; its configuration is not checked", typeURL)}
	case strings.HasPrefix(name, "envoy.") && !hasCurrentAPIVersion(name):
		return finding{path: path,
			message: fmt.Sprintf("type %q is from the v2 xDS API, which Envoy no longer accepts; use its v3 equivalent", typeURL)}
	default:
		return finding{path: path,
			message: fmt.Sprintf("unknown type %q: not an Envoy, Envoy contrib or xds type", typeURL)}
	}
}

func isEnvoyFamily(fullName string) bool {
	for _, prefix := range []string{"envoy.", "udpa.", "xds.", "google.protobuf."} {
		if strings.HasPrefix(fullName, prefix) {
			return true
		}
	}
	return false
}

var currentAPIElement = regexp.MustCompile(`^v3(alpha)?$`)

func hasCurrentAPIVersion(fullName string) bool {
	for _, element := range strings.Split(fullName, ".") {
		if currentAPIElement.MatchString(element) {
			return true
		}
	}
	return false
}

// lookup returns the node at path in tree, or nil.
func lookup(tree any, path jsonpath.Path) any {
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
func replace(tree any, path jsonpath.Path, value any) any {
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
func remove(tree any, path jsonpath.Path) any {
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
