package extensions

import (
	"fmt"
	"slices"
	"sort"

	"google.golang.org/protobuf/types/known/structpb"
	istionetworkingv1alpha3api "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/labels"
)

// istioRootNamespace holds mesh-wide EnvoyFilters.
const istioRootNamespace = "istio-system"

// regexUse is one regex that reaches a proxy, with where it was found.
type regexUse struct {
	Regex  string
	Object string
	Field  string
}

// regexesReaching collects every regex the workload's proxy evaluates: VirtualService match regexes
// visible in its namespace (a superset, which is the safe direction), and safe_regex values in
// EnvoyFilters that apply to it.
func regexesReaching(in *Input, w *workload) []regexUse {
	var out []regexUse
	for _, vs := range in.VirtualServices {
		if !exportedTo(vs.Spec.ExportTo, vs.Namespace, w.ref.Namespace) {
			continue
		}
		object := "VirtualService " + vs.Namespace + "/" + vs.Name
		for i, route := range vs.Spec.Http {
			for j, m := range route.Match {
				base := fmt.Sprintf("spec.http[%d].match[%d]", i, j)
				add := func(field string, s *istionetworkingv1alpha3api.StringMatch) {
					if r := s.GetRegex(); r != "" {
						out = append(out, regexUse{Regex: r, Object: object, Field: base + "." + field + ".regex"})
					}
				}
				add("uri", m.Uri)
				add("scheme", m.Scheme)
				add("method", m.Method)
				add("authority", m.Authority)
				for _, name := range sortedKeys(m.Headers) {
					add("headers."+name, m.Headers[name])
				}
				for _, name := range sortedKeys(m.WithoutHeaders) {
					add("withoutHeaders."+name, m.WithoutHeaders[name])
				}
				for _, name := range sortedKeys(m.QueryParams) {
					add("queryParams."+name, m.QueryParams[name])
				}
			}
		}
	}
	for _, ef := range in.EnvoyFilters {
		if ef.Labels[LabelManagedBy] == ManagedByMeshaccel {
			continue
		}
		if ef.Namespace != w.ref.Namespace && ef.Namespace != istioRootNamespace {
			continue
		}
		if sel := ef.Spec.GetWorkloadSelector(); sel != nil && !labels.SelectorFromSet(sel.GetLabels()).Matches(labels.Set(w.labels)) {
			continue
		}
		object := "EnvoyFilter " + ef.Namespace + "/" + ef.Name
		for i, p := range ef.Spec.ConfigPatches {
			if p.GetPatch().GetValue() == nil {
				continue
			}
			collectSafeRegexes(structpb.NewStructValue(p.GetPatch().GetValue()), fmt.Sprintf("spec.configPatches[%d].patch.value", i), func(regex, field string) {
				out = append(out, regexUse{Regex: regex, Object: object, Field: field})
			})
		}
	}
	return out
}

// collectSafeRegexes walks a patch value for `regex` strings inside `safe_regex` (or safeRegex)
// messages. It uses an explicit stack: patch values come from users and may be deep.
func collectSafeRegexes(root *structpb.Value, rootPath string, found func(regex, field string)) {
	type frame struct {
		value     *structpb.Value
		path      string
		safeRegex bool
	}
	stack := []frame{{root, rootPath, false}}
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch v := f.value.GetKind().(type) {
		case *structpb.Value_StructValue:
			keys := sortedKeys(v.StructValue.GetFields())
			for i := len(keys) - 1; i >= 0; i-- {
				k := keys[i]
				child := v.StructValue.GetFields()[k]
				path := f.path + "." + k
				if f.safeRegex && k == "regex" {
					if s, ok := child.GetKind().(*structpb.Value_StringValue); ok {
						found(s.StringValue, path)
					}
					continue
				}
				stack = append(stack, frame{child, path, k == "safe_regex" || k == "safeRegex"})
			}
		case *structpb.Value_ListValue:
			for i := len(v.ListValue.GetValues()) - 1; i >= 0; i-- {
				stack = append(stack, frame{v.ListValue.GetValues()[i], fmt.Sprintf("%s[%d]", f.path, i), false})
			}
		}
	}
}

func exportedTo(exportTo []string, from, to string) bool {
	if len(exportTo) == 0 || slices.Contains(exportTo, "*") || slices.Contains(exportTo, to) {
		return true
	}
	return from == to && slices.Contains(exportTo, ".")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
