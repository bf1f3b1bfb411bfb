package operator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	istionetworkingv1alpha3api "istio.io/api/networking/v1alpha3"
	istionetworkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions"
	"github.com/meshaccel/meshaccel/extensions/capability"
)

func policyOwned(meta metav1.ObjectMeta) metav1.ObjectMeta {
	controller := true
	meta.Labels = map[string]string{LabelManagedBy: ManagedByValue, LabelPolicy: "tls"}
	meta.OwnerReferences = []metav1.OwnerReference{{APIVersion: "meshaccel.io/v1alpha1", Kind: "AccelerationPolicy", Name: "tls", UID: types.UID("u-1"), Controller: &controller}}
	return meta
}

func TestOwnershipNeedsLabelAndPolicyOwner(t *testing.T) {
	owned := &corev1.ConfigMap{ObjectMeta: policyOwned(metav1.ObjectMeta{Name: "a", Namespace: "ns"})}
	if !ownedByMeshaccel(owned, "meshaccel-system") {
		t.Errorf("label and owner reference: want owned")
	}
	labelOnly := owned.DeepCopy()
	labelOnly.OwnerReferences = nil
	if ownedByMeshaccel(labelOnly, "meshaccel-system") {
		t.Errorf("label without an owner reference to a policy: want not owned")
	}
	otherOwner := owned.DeepCopy()
	otherOwner.OwnerReferences[0].Kind = "Deployment"
	otherOwner.OwnerReferences[0].APIVersion = "apps/v1"
	if ownedByMeshaccel(otherOwner, "meshaccel-system") {
		t.Errorf("owned by a Deployment: want not owned")
	}
	ownerOnly := owned.DeepCopy()
	ownerOnly.Labels = nil
	if ownedByMeshaccel(ownerOnly, "meshaccel-system") {
		t.Errorf("owner reference without the managed-by label: want not owned")
	}
	clusterLevel := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "meshaccel-bypass-nodes", Namespace: "meshaccel-system",
		Labels: map[string]string{LabelManagedBy: ManagedByValue, LabelScope: ScopeCluster}}}
	if !ownedByMeshaccel(clusterLevel, "meshaccel-system") {
		t.Errorf("cluster-level object in the operator's namespace: want owned")
	}
	elsewhere := clusterLevel.DeepCopy()
	elsewhere.Namespace = "shop"
	if ownedByMeshaccel(elsewhere, "meshaccel-system") || ownedByMeshaccel(clusterLevel, "") {
		t.Errorf("cluster scope label outside the operator's namespace: want not owned")
	}
}

func envoyFilterFor(t *testing.T) *istionetworkingv1alpha3.EnvoyFilter {
	t.Helper()
	return &istionetworkingv1alpha3.EnvoyFilter{
		ObjectMeta: policyOwned(metav1.ObjectMeta{Name: "gw-meshaccel-dlb", Namespace: "ns"}),
		Spec: istionetworkingv1alpha3api.EnvoyFilter{
			WorkloadSelector: &istionetworkingv1alpha3api.WorkloadSelector{Labels: map[string]string{"istio": "ingressgateway"}},
			ConfigPatches: []*istionetworkingv1alpha3api.EnvoyFilter_EnvoyConfigObjectPatch{{
				ApplyTo: istionetworkingv1alpha3api.EnvoyFilter_LISTENER,
				Match:   &istionetworkingv1alpha3api.EnvoyFilter_EnvoyConfigObjectMatch{Context: istionetworkingv1alpha3api.EnvoyFilter_GATEWAY},
			}},
		},
	}
}

func TestApplyBodyCarriesOnlyWhatMeshaccelSets(t *testing.T) {
	ef := envoyFilterFor(t)
	body, hash, err := applyBody(ef, istionetworkingv1alpha3.SchemeGroupVersion.WithKind("EnvoyFilter"))
	if err != nil {
		t.Fatal(err)
	}
	if body.GetAPIVersion() != "networking.istio.io/v1alpha3" || body.GetKind() != "EnvoyFilter" {
		t.Errorf("type meta %s %s", body.GetAPIVersion(), body.GetKind())
	}
	for _, field := range []string{"status"} {
		if _, ok := body.Object[field]; ok {
			t.Errorf("apply body carries %s", field)
		}
	}
	meta := body.Object["metadata"].(map[string]any)
	if _, ok := meta["creationTimestamp"]; ok {
		t.Errorf("apply body carries metadata.creationTimestamp: %v", meta)
	}
	if body.GetAnnotations()[AnnotationAppliedHash] != hash || len(hash) != 24 {
		t.Errorf("applied-hash annotation %q, digest %q", body.GetAnnotations()[AnnotationAppliedHash], hash)
	}

	// The digest follows the content and nothing else.
	_, again, _ := applyBody(envoyFilterFor(t), istionetworkingv1alpha3.SchemeGroupVersion.WithKind("EnvoyFilter"))
	if again != hash {
		t.Errorf("digest not stable: %s then %s", hash, again)
	}
	changed := envoyFilterFor(t)
	changed.Spec.WorkloadSelector.Labels["istio"] = "egressgateway"
	if _, other, _ := applyBody(changed, istionetworkingv1alpha3.SchemeGroupVersion.WithKind("EnvoyFilter")); other == hash {
		t.Errorf("digest did not change with the spec")
	}
}

// liveCopy is what the API server returns: the applied object plus server fields and defaults.
func liveCopy(t *testing.T, ef *istionetworkingv1alpha3.EnvoyFilter, hash string) *istionetworkingv1alpha3.EnvoyFilter {
	t.Helper()
	live := ef.DeepCopy()
	live.UID, live.ResourceVersion, live.Generation = "live-uid", "42", 1
	live.Annotations = map[string]string{AnnotationAppliedHash: hash, "kubectl.kubernetes.io/note": "someone else's"}
	live.Labels["team"] = "edge"
	return live
}

func TestUpToDate(t *testing.T) {
	gvk := istionetworkingv1alpha3.SchemeGroupVersion.WithKind("EnvoyFilter")
	body, hash, err := applyBody(envoyFilterFor(t), gvk)
	if err != nil {
		t.Fatal(err)
	}
	live := liveCopy(t, envoyFilterFor(t), hash)
	if ok, err := upToDate(body, hash, live); err != nil || !ok {
		t.Fatalf("live object with extra labels and annotations from others: upToDate = %v, %v; want true", ok, err)
	}

	drifted := live.DeepCopy()
	drifted.Spec.WorkloadSelector.Labels["istio"] = "tampered"
	if ok, _ := upToDate(body, hash, drifted); ok {
		t.Errorf("a field meshaccel set was changed by someone else: want not up to date")
	}

	dropped := live.DeepCopy()
	delete(dropped.Labels, LabelPolicy)
	if ok, _ := upToDate(body, hash, dropped); ok {
		t.Errorf("a label meshaccel set was removed: want not up to date")
	}

	stale := live.DeepCopy()
	stale.Annotations[AnnotationAppliedHash] = "older"
	if ok, _ := upToDate(body, hash, stale); ok {
		t.Errorf("last applied from different content (a field may have to be dropped): want not up to date")
	}
}

func TestContains(t *testing.T) {
	decode := func(s string) any {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		have, want string
		ok         bool
	}{
		{`{"a":1,"b":2}`, `{"a":1}`, true},
		{`{"a":1}`, `{"a":1,"b":2}`, false},
		{`{"a":{"x":1,"y":2}}`, `{"a":{"x":1}}`, true},
		{`{"l":[{"n":"a","v":1},{"n":"b"}]}`, `{"l":[{"n":"a"},{"n":"b"}]}`, true},
		{`{"l":[{"n":"a"},{"n":"b"}]}`, `{"l":[{"n":"a"}]}`, false},
		{`{"l":[{"n":"b"},{"n":"a"}]}`, `{"l":[{"n":"a"},{"n":"b"}]}`, false},
		{`{"a":"1"}`, `{"a":1}`, false},
	} {
		if got := contains(decode(tc.have), decode(tc.want)); got != tc.ok {
			t.Errorf("contains(%s, %s) = %v, want %v", tc.have, tc.want, got, tc.ok)
		}
	}
}

func TestSameApplyConfigurationIgnoresEmptyMaps(t *testing.T) {
	a := appsv1ac.Deployment("web", "ns").WithLabels(map[string]string{LabelPolicy: "tls"}).
		WithSpec(appsv1ac.DeploymentSpec().WithTemplate(corev1ac.PodTemplateSpec().WithAnnotations(map[string]string{})))
	b := appsv1ac.Deployment("web", "ns").WithLabels(map[string]string{LabelPolicy: "tls"})
	if same, err := sameApplyConfiguration(a, b); err != nil || !same {
		t.Errorf("an empty annotations map owns nothing: same = %v, %v", same, err)
	}
	c := appsv1ac.Deployment("web", "ns").WithLabels(map[string]string{LabelPolicy: "other"})
	if same, _ := sameApplyConfiguration(b, c); same {
		t.Errorf("different label values compare equal")
	}
}

func TestPolicyFromObject(t *testing.T) {
	nn, ok := policyFromObject("AccelerationPolicy shop/tls-offload")
	if !ok || nn.Namespace != "shop" || nn.Name != "tls-offload" {
		t.Errorf("got %v %v", nn, ok)
	}
	if _, ok := policyFromObject("Deployment shop/web"); ok {
		t.Errorf("a Deployment parsed as a policy")
	}
	issues := issueSet{}
	issues.addInputError(&extensions.InputError{Problems: []extensions.Problem{
		{Object: "AccelerationPolicy shop/a", Field: "spec.workloads", Value: "Deployment/shop/web", Message: "selected by 2 policies"},
	}})
	if !issues.hasInputProblem(types.NamespacedName{Namespace: "shop", Name: "a"}) || issues.hasInputProblem(types.NamespacedName{Namespace: "shop", Name: "b"}) {
		t.Errorf("input problems filed under the wrong policy: %v", issues)
	}
}

// TestTrimmedCacheTranslatesTheSame guards the cache transforms: the translator must decide exactly
// the same from trimmed Pods and Nodes as from whole ones.
func TestTrimmedCacheTranslatesTheSame(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "examples", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	decoder := serializer.NewCodecFactory(NewScheme()).UniversalDeserializer()
	full := extensions.Input{DefaultProxy: capability.Proxy{Flavor: v1alpha1.ProxyIstioProxyV2, Version: "1.28.2"}}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		obj, _, err := decoder.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := full.AddObjects(obj); err != nil {
			t.Fatal(err)
		}
	}
	// Give the pods and nodes the bulk that real ones carry.
	for i := range full.Pods {
		p := &full.Pods[i]
		p.Status.Phase = corev1.PodRunning
		p.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"}
		p.Spec.Volumes = []corev1.Volume{{Name: "data"}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
	}
	for i := range full.Nodes {
		full.Nodes[i].Status.Images = []corev1.ContainerImage{{Names: []string{"registry.example/app:1"}, SizeBytes: 1 << 20}}
	}
	trimmed := full
	trimmed.Pods, trimmed.Nodes = nil, nil
	for i := range full.Pods {
		p, _ := trimPod(full.Pods[i].DeepCopy())
		trimmed.Pods = append(trimmed.Pods, *p.(*corev1.Pod))
	}
	for i := range full.Nodes {
		n, _ := trimNode(full.Nodes[i].DeepCopy())
		trimmed.Nodes = append(trimmed.Nodes, *n.(*corev1.Node))
	}
	render := func(in extensions.Input) string {
		res, err := extensions.Translate(in)
		if _, ok := err.(*extensions.InputError); err != nil && !ok {
			t.Fatal(err)
		}
		res.Nodes = nil // node reports echo the input objects
		out, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	a, b := render(full), render(trimmed)
	if a != b {
		t.Errorf("Translate decides differently from the trimmed cache:\nfull    %s\ntrimmed %s", a, b)
	}
	if !strings.Contains(a, "MisplacedPods") && !strings.Contains(a, "misplacedPods") {
		t.Errorf("the example has no misplaced pod; the comparison does not cover pods")
	}
}
