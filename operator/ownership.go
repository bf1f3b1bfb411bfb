package operator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions"
	"github.com/meshaccel/meshaccel/extensions/render/istio"
)

// Ownership names, shared with the translator that stamps them.
const (
	// FieldManager is the one server-side apply field manager every meshaccel write uses.
	FieldManager = extensions.FieldManager
	// LabelManagedBy marks the whole objects meshaccel owns.
	LabelManagedBy = extensions.LabelManagedBy
	// ManagedByValue is LabelManagedBy's value on meshaccel's objects.
	ManagedByValue = extensions.ManagedByMeshaccel
	// LabelPolicy names the AccelerationPolicy (in the same namespace) an object or workload serves.
	LabelPolicy = extensions.LabelPolicy
	// AnnotationAppliedHash is the digest of the configuration meshaccel last applied to an object it
	// owns. With it a reconcile can tell "unchanged" from "a field was dropped" without a request.
	AnnotationAppliedHash = "meshaccel.io/applied-hash"
	// LabelScope with ScopeCluster marks a cluster-level object (the bypass node list): it lives in
	// the operator's own namespace and no namespaced policy can own it.
	LabelScope   = istio.LabelScope
	ScopeCluster = istio.ScopeCluster
)

// ownedByMeshaccel reports whether meshaccel owns a whole object: the managed-by label and an owner
// reference to an AccelerationPolicy, or, for a cluster-level object, the cluster scope label in the
// operator's own namespace. A user's object that merely copies the managed-by label elsewhere is
// never updated or deleted.
func ownedByMeshaccel(obj metav1.Object, systemNamespace string) bool {
	if obj.GetLabels()[LabelManagedBy] != ManagedByValue {
		return false
	}
	if _, ok := owningPolicy(obj); ok {
		return true
	}
	return systemNamespace != "" && obj.GetNamespace() == systemNamespace && obj.GetLabels()[LabelScope] == ScopeCluster
}

// owningPolicy returns the name of the AccelerationPolicy an object's owner reference points to.
func owningPolicy(obj metav1.Object) (string, bool) {
	for _, ref := range obj.GetOwnerReferences() {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err == nil && gv.Group == v1alpha1.GroupVersion.Group && ref.Kind == "AccelerationPolicy" {
			return ref.Name, true
		}
	}
	return "", false
}

// policyOf names the policy an object belongs to: its owner reference, else its policy label.
func policyOf(obj metav1.Object) string {
	if name, ok := owningPolicy(obj); ok {
		return name
	}
	return obj.GetLabels()[LabelPolicy]
}

// appliedByMeshaccel reports whether meshaccel's field manager holds fields of the object through
// server-side apply (status subresource entries excluded).
func appliedByMeshaccel(obj metav1.Object) bool {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager == FieldManager && mf.Operation == metav1.ManagedFieldsOperationApply && mf.Subresource == "" {
			return true
		}
	}
	return false
}

// applyBody turns a whole object from Translate into the body of a server-side apply: type meta,
// the identifying and ownership metadata, and every top-level field except status, stamped with the
// digest of that content. Typed objects serialize zero values such as creationTimestamp: null, which
// an apply body must not carry or meshaccel would claim fields it never meant to set.
func applyBody(obj extensions.Object, gvk schema.GroupVersionKind) (*unstructured.Unstructured, string, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, "", fmt.Errorf("encoding %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	var full map[string]any
	if err := json.Unmarshal(raw, &full); err != nil {
		return nil, "", err
	}
	metadata := map[string]any{"name": obj.GetName(), "namespace": obj.GetNamespace()}
	if m, ok := full["metadata"].(map[string]any); ok {
		for _, k := range []string{"labels", "annotations", "ownerReferences"} {
			if v, ok := m[k]; ok && v != nil {
				metadata[k] = v
			}
		}
	}
	body := map[string]any{"apiVersion": gvk.GroupVersion().String(), "kind": gvk.Kind, "metadata": metadata}
	for k, v := range full {
		switch k {
		case "apiVersion", "kind", "metadata", "status":
			continue
		}
		if v != nil {
			body[k] = v
		}
	}
	digestInput, err := json.Marshal(body) // map keys marshal sorted, so the digest is stable
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(digestInput)
	hash := hex.EncodeToString(sum[:12])
	annotations, _ := metadata["annotations"].(map[string]any)
	if annotations == nil {
		annotations = map[string]any{}
	}
	annotations[AnnotationAppliedHash] = hash
	metadata["annotations"] = annotations
	return &unstructured.Unstructured{Object: body}, hash, nil
}

// upToDate reports whether the live object already holds everything the apply body sets, and was last
// applied from the same body (so no field meshaccel used to set has to be dropped).
func upToDate(body *unstructured.Unstructured, hash string, live metav1.Object) (bool, error) {
	if live.GetAnnotations()[AnnotationAppliedHash] != hash {
		return false, nil
	}
	raw, err := json.Marshal(live)
	if err != nil {
		return false, err
	}
	var liveMap map[string]any
	if err := json.Unmarshal(raw, &liveMap); err != nil {
		return false, err
	}
	// Objects from the cache carry no type meta; the kind is already known to match.
	want := make(map[string]any, len(body.Object))
	for k, v := range body.Object {
		if k != "apiVersion" && k != "kind" {
			want[k] = v
		}
	}
	return contains(liveMap, want), nil
}

// contains reports whether have holds every field of want with an equal value. Maps may carry extra
// keys (defaults, other managers' labels); lists must match element by element.
func contains(have, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			hv, ok := h[k]
			if !ok || !contains(hv, wv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !contains(h[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(have, want)
	}
}

// sameApplyConfiguration compares two apply configurations by their JSON, ignoring empty maps and
// lists (an empty annotations map owns no field).
func sameApplyConfiguration(a, b any) (bool, error) {
	na, err := normalizedJSON(a)
	if err != nil {
		return false, err
	}
	nb, err := normalizedJSON(b)
	if err != nil {
		return false, err
	}
	return reflect.DeepEqual(na, nb), nil
}

func normalizedJSON(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return dropEmpty(out), nil
}

func dropEmpty(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			e = dropEmpty(e)
			if isEmpty(e) {
				delete(t, k)
				continue
			}
			t[k] = e
		}
		return t
	case []any:
		for i := range t {
			t[i] = dropEmpty(t[i])
		}
		return t
	}
	return v
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// kindOf returns the lower-case plural-free name used in logs and metrics.
func kindLabel(kind string) string { return strings.ToLower(kind) }
