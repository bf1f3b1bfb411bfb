package envoyfilter

import (
	"errors"
	"fmt"
	"strings"

	udpatypev1 "github.com/cncf/xds/go/udpa/type/v1"
	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshaccel/meshaccel/extensions/envoyfilter/jsonpath"
)

// maxAnyDepth bounds how many Anys may nest inside each other; Envoy's own configs need a
// handful (listener → filter chain → transport socket → key provider).
const maxAnyDepth = 32

// ValidateMessage validates msg as Envoy would: its protoc-gen-validate rules, and those of
// every message packed in an Any (or a udpa/xds TypedStruct) inside it, at any depth. The
// error lists each violation with its field path; nil means valid.
func ValidateMessage(msg proto.Message) error {
	var errs []error
	for _, f := range validateDeep(msg, nil, false, false) {
		if !f.warning {
			errs = append(errs, fmt.Errorf("%s: %s", strings.TrimPrefix(f.path.String(), "."), f.message))
		}
	}
	return errors.Join(errs...)
}

// validateDeep runs the message's own rules and then each nested Any's. With partial (a MERGE
// value), only violations in fields the value sets count: the rest comes from the object the
// value is merged onto, which base stands in for (nil: nothing known about it).
// replaceLists is MERGE_AND_REPLACE_LIST: lists the value sets replace the base's.
func validateDeep(msg, base proto.Message, partial, replaceLists bool) []finding {
	var findings []finding
	validated := msg
	if partial && base != nil {
		merged := proto.Clone(base)
		if replaceLists {
			clearListsSetIn(merged.ProtoReflect(), msg.ProtoReflect())
			base = proto.Clone(merged)
		}
		proto.Merge(merged, msg)
		validated = merged
	}
	findings = append(findings, violations(validated, msg, base, nil, partial)...)
	findings = append(findings, validateNestedAnys(msg.ProtoReflect(), partial)...)
	return findings
}

// clearListsSetIn empties, in dst, every list that src sets, following single message fields.
func clearListsSetIn(dst, src protoreflect.Message) {
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			dst.Clear(fd)
		case fd.Message() != nil && !fd.IsMap() && dst.Has(fd):
			clearListsSetIn(dst.Mutable(fd).Message(), v.Message())
		}
		return true
	})
}

// violations runs ValidateAll on validated and flattens the result into one finding per broken
// rule, with proto field paths.
func violations(validated, patch, base proto.Message, path jsonpath.Path, partial bool) []finding {
	v, ok := validated.(interface{ ValidateAll() error })
	if !ok {
		return nil
	}
	err := v.ValidateAll()
	if err == nil {
		return nil
	}
	var out []finding
	var baseReflect protoreflect.Message
	if base != nil {
		baseReflect = base.ProtoReflect()
	}
	flattenViolation(err, patch.ProtoReflect(), baseReflect, path, partial, &out)
	return out
}

// validationError is the error type protoc-gen-validate generates for each message.
type validationError interface {
	error
	Field() string
	Reason() string
	Cause() error
	Key() bool
}

// multiError is what ValidateAll returns when several rules fail.
type multiError interface{ AllErrors() []error }

const embeddedFailure = "embedded message failed validation"

// flattenViolation follows err's causes down to the broken rules. patch is the message the
// field names refer to; when partial, a violation in a field patch does not set is the base
// object's and is dropped. base tells how many list items a MERGE appends to.
func flattenViolation(err error, patch, base protoreflect.Message, path jsonpath.Path, partial bool, out *[]finding) {
	var multi multiError
	if errors.As(err, &multi) {
		for _, e := range multi.AllErrors() {
			flattenViolation(e, patch, base, path, partial, out)
		}
		return
	}
	var ve validationError
	if !errors.As(err, &ve) || patch == nil {
		*out = append(*out, finding{path: path, message: err.Error()})
		return
	}
	name, index, hasIndex := splitFieldName(ve.Field())
	fd, od := findField(patch.Descriptor(), name)
	if fd == nil && od == nil {
		// Not a field we can place (never seen in practice): keep the message, it names it.
		*out = append(*out, finding{path: path, message: ve.Error()})
		return
	}
	if od != nil {
		// A required oneof: Reason is "value is required".
		if partial && patch.WhichOneof(od) == nil {
			return
		}
		*out = append(*out, finding{path: appendKey(path, string(od.Name())), message: ve.Error()})
		return
	}
	if partial && !patch.Has(fd) {
		return
	}
	fieldPath := appendKey(path, string(fd.Name()))
	var child, childBase protoreflect.Message
	childPartial := partial
	switch {
	case fd.IsList() && hasIndex:
		var i int
		if _, err := fmt.Sscan(index, &i); err != nil {
			*out = append(*out, finding{path: fieldPath, message: ve.Error()})
			return
		}
		if partial && base != nil && base.Has(fd) {
			// MERGE appends: item i of the merged list is item i-len(base) of the value.
			i -= base.Get(fd).List().Len()
			if i < 0 {
				return
			}
			ve = renumbered{ve, fmt.Sprintf("%s[%d]", name, i)}
		}
		fieldPath = append(fieldPath, jsonpath.Segment{Index: i, IsIndex: true})
		list := patch.Get(fd).List()
		if fd.Message() != nil && i < list.Len() {
			child = list.Get(i).Message()
		}
		childPartial = false // a list item is added whole
	case fd.IsMap() && hasIndex:
		fieldPath = appendKey(fieldPath, index)
		if fd.MapValue().Message() != nil {
			if key, ok := mapKey(fd.MapKey(), index); ok {
				if v := patch.Get(fd).Map().Get(key); v.IsValid() {
					child = v.Message()
				}
			}
		}
		childPartial = false
	case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
		child = patch.Get(fd).Message()
		if base != nil && base.Has(fd) {
			childBase = base.Get(fd).Message()
		}
	}
	if ve.Reason() == embeddedFailure && ve.Cause() != nil && child != nil {
		flattenViolation(ve.Cause(), child, childBase, fieldPath, childPartial, out)
		return
	}
	*out = append(*out, finding{path: fieldPath, message: ve.Error()})
}

// renumbered is a violation in a merged list, re-addressed to the item's index in the value.
type renumbered struct {
	validationError
	field string
}

func (r renumbered) Field() string { return r.field }

// Error keeps protoc-gen-validate's format: "invalid Message.Field[i]: reason".
func (r renumbered) Error() string {
	var named interface{ ErrorName() string }
	message := "Message"
	if errors.As(r.validationError, &named) {
		message = strings.TrimSuffix(named.ErrorName(), "ValidationError")
	}
	text := fmt.Sprintf("invalid %s.%s: %s", message, r.field, r.Reason())
	if r.Cause() != nil {
		text += " | caused by: " + r.Cause().Error()
	}
	return text
}

// splitFieldName splits protoc-gen-validate's "Routes[3]" or "TypedPerFilterConfig[key]".
func splitFieldName(field string) (name, index string, hasIndex bool) {
	open := strings.IndexByte(field, '[')
	if open < 0 || !strings.HasSuffix(field, "]") {
		return field, "", false
	}
	return field[:open], field[open+1 : len(field)-1], true
}

// findField maps protoc-gen-validate's Go-style field name ("PollDelay") to the proto field
// ("poll_delay") or, for a required oneof ("ClusterDiscoveryType"), to the oneof.
func findField(md protoreflect.MessageDescriptor, goName string) (protoreflect.FieldDescriptor, protoreflect.OneofDescriptor) {
	same := func(protoName protoreflect.Name) bool {
		return strings.EqualFold(strings.ReplaceAll(string(protoName), "_", ""), goName)
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		if same(fields.Get(i).Name()) {
			return fields.Get(i), nil
		}
	}
	oneofs := md.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		if same(oneofs.Get(i).Name()) {
			return nil, oneofs.Get(i)
		}
	}
	return nil, nil
}

func mapKey(fd protoreflect.FieldDescriptor, text string) (protoreflect.MapKey, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(text).MapKey(), true
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(text == "true").MapKey(), true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		var v int32
		_, err := fmt.Sscan(text, &v)
		return protoreflect.ValueOfInt32(v).MapKey(), err == nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		var v int64
		_, err := fmt.Sscan(text, &v)
		return protoreflect.ValueOfInt64(v).MapKey(), err == nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		var v uint32
		_, err := fmt.Sscan(text, &v)
		return protoreflect.ValueOfUint32(v).MapKey(), err == nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		var v uint64
		_, err := fmt.Sscan(text, &v)
		return protoreflect.ValueOfUint64(v).MapKey(), err == nil
	}
	return protoreflect.MapKey{}, false
}

func appendKey(p jsonpath.Path, key string) jsonpath.Path {
	out := make(jsonpath.Path, len(p), len(p)+1)
	copy(out, p)
	return append(out, jsonpath.Segment{Key: key})
}

func appendIndex(p jsonpath.Path, i int) jsonpath.Path {
	out := make(jsonpath.Path, len(p), len(p)+1)
	copy(out, p)
	return append(out, jsonpath.Segment{Index: i, IsIndex: true})
}

// pending is a message still to be searched for Anys.
type pending struct {
	msg     protoreflect.Message
	path    jsonpath.Path
	partial bool // reached from a MERGE value through single (not list or map) fields only
	depth   int  // Anys unpacked on the way here
}

var anyFullName = (&anypb.Any{}).ProtoReflect().Descriptor().FullName()

// validateNestedAnys unpacks every Any inside root, validates what it holds and searches that
// too, iteratively. In a MERGE, an Any reached through single fields is merged by Istio into the
// config already there (filter typed_config, transport sockets), so it may be partial; one in a
// list item is added whole.
func validateNestedAnys(root protoreflect.Message, partial bool) []finding {
	var findings []finding
	stack := []pending{{msg: root, partial: partial}}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		var next []pending
		p.msg.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if options, ok := fd.Options().(*descriptorpb.FieldOptions); ok && options.GetDeprecated() {
				findings = append(findings, finding{path: appendKey(p.path, string(fd.Name())), warning: true,
					message: fmt.Sprintf("%s is deprecated in Envoy and may be rejected by newer versions", fd.FullName())})
			}
			switch {
			case fd.IsList() && fd.Message() != nil:
				list := v.List()
				for i := 0; i < list.Len(); i++ {
					next = append(next, pending{msg: list.Get(i).Message(), path: appendIndex(appendKey(p.path, string(fd.Name())), i), depth: p.depth})
				}
			case fd.IsMap() && fd.MapValue().Message() != nil:
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					next = append(next, pending{msg: mv.Message(), path: appendKey(appendKey(p.path, string(fd.Name())), k.String()), depth: p.depth})
					return true
				})
			case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
				next = append(next, pending{msg: v.Message(), path: appendKey(p.path, string(fd.Name())), partial: p.partial, depth: p.depth})
			}
			return true
		})
		for _, n := range next {
			if n.msg.Descriptor().FullName() != anyFullName {
				stack = append(stack, n)
				continue
			}
			if inner := unpackAny(n, &findings); inner != nil {
				stack = append(stack, *inner)
			}
		}
	}
	return findings
}

// unpackAny validates the message an Any holds and returns it to be searched in turn.
func unpackAny(n pending, findings *[]finding) *pending {
	a, ok := n.msg.Interface().(*anypb.Any)
	if !ok || a.GetTypeUrl() == "" && len(a.GetValue()) == 0 {
		return nil
	}
	if n.depth >= maxAnyDepth {
		*findings = append(*findings, finding{path: n.path, message: fmt.Sprintf("Anys nested more than %d deep; not checked further", maxAnyDepth)})
		return nil
	}
	if a.GetTypeUrl() == foreignPlaceholderURL && len(a.GetValue()) == 0 {
		return nil // a foreign type, already reported
	}
	if !strings.Contains(a.GetTypeUrl(), "/") {
		*findings = append(*findings, finding{path: n.path, message: fmt.Sprintf("type URL %q must look like type.googleapis.com/<full message name>", a.GetTypeUrl())})
		return nil
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(a.GetTypeUrl())
	if err != nil {
		*findings = append(*findings, unknownTypeFinding(n.path, a.GetTypeUrl()))
		return nil
	}
	inner := mt.New().Interface()
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(a.GetValue(), inner); err != nil {
		*findings = append(*findings, finding{path: n.path, message: fmt.Sprintf("cannot decode %s: %v", a.GetTypeUrl(), err)})
		return nil
	}
	switch ts := inner.(type) {
	case *udpatypev1.TypedStruct:
		return unpackTypedStruct(n, ts.GetTypeUrl(), ts.GetValue(), findings)
	case *xdstypev3.TypedStruct:
		return unpackTypedStruct(n, ts.GetTypeUrl(), ts.GetValue(), findings)
	}
	*findings = append(*findings, violations(inner, inner, nil, n.path, n.partial)...)
	return &pending{msg: inner.ProtoReflect(), path: n.path, partial: n.partial, depth: n.depth + 1}
}

// unpackTypedStruct decodes a TypedStruct's value (a JSON Struct, how Istio writes Wasm and
// other configs) into the message its type_url names, strictly, and validates it.
func unpackTypedStruct(n pending, typeURL string, value *structpb.Struct, findings *[]finding) *pending {
	if typeURL == "" {
		*findings = append(*findings, finding{path: appendKey(n.path, "type_url"), message: "TypedStruct needs a type_url"})
		return nil
	}
	valuePath := appendKey(n.path, "value")
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(typeURL)
	if err != nil {
		*findings = append(*findings, unknownTypeFinding(appendKey(n.path, "type_url"), typeURL))
		return nil
	}
	inner := mt.New().Interface()
	decodeFindings, complete := decodeValue(value.AsMap(), inner, true)
	for _, f := range decodeFindings {
		f.path = append(append(jsonpath.Path{}, valuePath...), f.path...)
		*findings = append(*findings, f)
	}
	if !complete {
		return nil
	}
	*findings = append(*findings, violations(inner, inner, nil, valuePath, n.partial)...)
	return &pending{msg: inner.ProtoReflect(), path: valuePath, partial: n.partial, depth: n.depth + 1}
}
