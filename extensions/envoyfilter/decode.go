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
// fields, resolving type URLs in the global registry, and collecting every error. When lenient,
// an Any of a foreign (non-Envoy) type is a warning and decodes as Empty. complete is false when
// msg does not hold everything tree said.
func decodeValue(tree any, msg proto.Message, lenient bool) (findings []finding, complete bool) {
	decoder := jsonpath.Decoder{
		Options:     protojson.UnmarshalOptions{Resolver: protoregistry.GlobalTypes},
		MaxProblems: maxDecodeFindings,
		UnknownType: func(path jsonpath.Path, typeURL string) (jsonpath.Problem, any) {
			f := unknownTypeFinding(path, typeURL)
			problem := jsonpath.Problem{Path: f.path, Message: f.message, Warning: f.warning}
			if f.warning && lenient {
				return problem, map[string]any{"@type": foreignPlaceholderURL}
			}
			return problem, nil
		},
	}
	problems, complete := decoder.Decode(tree, msg)
	for _, p := range problems {
		findings = append(findings, finding{path: p.Path, message: p.Message, warning: p.Warning})
	}
	return findings, complete
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
	case strings.HasPrefix(name, "envoy.") && isV2API(name):
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

var v2APIElement = regexp.MustCompile(`^v2(alpha[0-9]*)?$`)

// isV2API reports whether an Envoy type name is from the v2 xDS API ("envoy.api.v2.Cluster",
// "envoy.config.filter.http.lua.v2.Lua").
func isV2API(fullName string) bool {
	for _, element := range strings.Split(fullName, ".") {
		if v2APIElement.MatchString(element) {
			return true
		}
	}
	return false
}
