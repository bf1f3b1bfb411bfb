package manifest

import (
	"bytes"
	"encoding/json"
	"reflect"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshaccel/meshaccel/extensions/envoyfilter/jsonpath"
)

type specProblem struct {
	field, message string
}

// checkProtoSpec decodes the spec of an object whose Spec is a protobuf message (every Istio
// kind) with protojson, rejecting unknown fields, and returns each problem with its path. Istio's
// generated UnmarshalJSON allows unknown fields, so without this a misspelt key disappears.
func (r *Reader) checkProtoSpec(gvk schema.GroupVersionKind, data []byte) []specProblem {
	obj, err := r.scheme.New(gvk)
	if err != nil {
		return nil
	}
	value := reflect.ValueOf(obj)
	if value.Kind() != reflect.Pointer || value.Elem().Kind() != reflect.Struct {
		return nil
	}
	specField := value.Elem().FieldByName("Spec")
	if !specField.IsValid() || !specField.CanAddr() {
		return nil
	}
	spec, ok := specField.Addr().Interface().(proto.Message)
	if !ok {
		return nil
	}
	var document map[string]any
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	if decoder.Decode(&document) != nil {
		return nil
	}
	rawSpec, present := document["spec"]
	if !present || rawSpec == nil {
		return nil
	}
	problems, _ := jsonpath.Decoder{Options: protojson.UnmarshalOptions{}}.Decode(rawSpec, spec)
	out := make([]specProblem, len(problems))
	for i, p := range problems {
		out[i] = specProblem{field: "spec" + p.Path.String(), message: p.Message}
	}
	return out
}
