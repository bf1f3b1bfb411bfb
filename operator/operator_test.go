package operator_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	istionetworkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/operator"
)

const (
	annotationProxyConfig = "proxy.istio.io/config"
	cryptombNodeLabel     = "meshaccel.feature.node.kubernetes.io/cryptomb"
)

// placedOnCryptoMBNodes reports whether the pod template keeps pods on CryptoMB nodes, by node
// selector or by required node affinity on the CryptoMB label or on the capable nodes' host names.
func placedOnCryptoMBNodes(spec corev1.PodSpec) bool {
	if spec.NodeSelector[cryptombNodeLabel] == "true" {
		return true
	}
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, r := range term.MatchExpressions {
			if r.Key == cryptombNodeLabel || r.Key == "kubernetes.io/hostname" {
				return true
			}
		}
	}
	return false
}

func TestEnableAndDisableFeature(t *testing.T) {
	ns := newNamespace(t)
	createNode(t, ns+"-avx", avx512Labels, nil)
	createNode(t, ns+"-plain", nil, nil)
	create(t, sidecarDeployment(ns, "web"))
	op := startOperator(t)

	policy := cryptoMBPolicy(ns, "tls", map[string]string{"app": "web"})
	create(t, policy)
	waitForFeature(t, ns, "tls", "Deployment", "web", "cryptomb", true, "Enabled")
	eventually(t, 10*time.Second, func() error {
		d := getDeployment(t, ns, "web")
		if !strings.Contains(d.Spec.Template.Annotations[annotationProxyConfig], "cryptomb") {
			return fmt.Errorf("pod template annotations %v lack the CryptoMB proxy config", d.Spec.Template.Annotations)
		}
		if !placedOnCryptoMBNodes(d.Spec.Template.Spec) {
			return fmt.Errorf("pod template is not kept on CryptoMB nodes: %+v", d.Spec.Template.Spec)
		}
		if d.Labels[operator.LabelPolicy] != "tls" || !appliedBy(d, operator.FieldManager) {
			return fmt.Errorf("deployment labels %v / managers %v", d.Labels, d.ManagedFields)
		}
		return nil
	})
	p, _ := getPolicy(ns, "tls")
	if c := condition(p, operator.ConditionApplied); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Applied condition = %+v, want True", c)
	}
	if c := condition(p, "Ready"); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Ready condition = %+v, want True", c)
	}
	if p.Status.ObservedGeneration != p.Generation || p.Status.SelectedWorkloads != 1 || p.Status.AcceleratedWorkloads != 1 {
		t.Errorf("status counts: %+v", p.Status)
	}

	if got := metricSum(t, "meshaccel_workloads", map[string]string{"feature": "cryptomb", "enabled": "true"}); got < 1 {
		t.Errorf("meshaccel_workloads{feature=cryptomb,enabled=true} = %v, want at least 1", got)
	}

	// Idempotent: more reconciles with unchanged input write nothing.
	before := getDeployment(t, ns, "web").ResourceVersion
	policyBefore := p.ResourceVersion
	n := op.reconciler.Reconciles()
	writesBefore := writes(t)
	touchUnrelatedNode(t, ns)
	op.waitForReconciles(t, n)
	if w := writes(t) - writesBefore; w != 0 {
		t.Errorf("%v write requests for unchanged input, want none", w)
	}
	if rv := getDeployment(t, ns, "web").ResourceVersion; rv != before {
		t.Errorf("deployment resourceVersion changed from %s to %s without an input change", before, rv)
	}
	if p, _ := getPolicy(ns, "tls"); p.ResourceVersion != policyBefore {
		t.Errorf("policy resourceVersion changed from %s to %s without an input change", policyBefore, p.ResourceVersion)
	}

	// Disable: the policy now asks for QAT only, which no node has. meshaccel's fields leave the
	// template; the user's fields stay.
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(policy), policy); err != nil {
		t.Fatal(err)
	}
	policy.Spec.Features = v1alpha1.Features{QAT: &v1alpha1.QATFeature{}}
	if err := k8s.Update(context.Background(), policy); err != nil {
		t.Fatal(err)
	}
	waitForFeature(t, ns, "tls", "Deployment", "web", "qat", false, "NoCapableNodes")
	eventually(t, 10*time.Second, func() error {
		d := getDeployment(t, ns, "web")
		if v, ok := d.Spec.Template.Annotations[annotationProxyConfig]; ok {
			return fmt.Errorf("proxy config annotation still set: %s", v)
		}
		if placedOnCryptoMBNodes(d.Spec.Template.Spec) {
			return fmt.Errorf("placement constraint still set: %+v", d.Spec.Template.Spec)
		}
		if len(d.Spec.Template.Spec.Containers) != 1 || d.Spec.Template.Spec.Containers[0].Image != "registry.example/web:1" {
			return fmt.Errorf("the user's containers changed: %+v", d.Spec.Template.Spec.Containers)
		}
		return nil
	})
	p, _ = getPolicy(ns, "tls")
	if c := condition(p, "Degraded"); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Degraded condition = %+v, want True (qat not enabled)", c)
	}
	expectEvent(t, ns, "web", operator.EventFeatureDisabled)
}

// touchUnrelatedNode creates a node nothing cares about, which still triggers a reconcile.
func touchUnrelatedNode(t *testing.T, ns string) {
	t.Helper()
	createNode(t, ns+"-unrelated-"+fmt.Sprint(time.Now().UnixNano()%100000), nil, nil)
}

// expectEvent waits for an event with the reason regarding the named object.
func expectEvent(t *testing.T, ns, regarding, reason string) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		var list eventsList
		if err := k8s.List(context.Background(), &list.EventList, client.InNamespace(ns)); err != nil {
			return err
		}
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Name == regarding && e.Reason == reason {
				return nil
			}
			seen = append(seen, e.Regarding.Kind+"/"+e.Regarding.Name+":"+e.Reason)
		}
		return fmt.Errorf("no %s event regarding %s; events: %v", reason, regarding, seen)
	})
}

func TestNodeLosingCapabilityUpdatesWorkloadsAndReportsMisplacedPods(t *testing.T) {
	ns := newNamespace(t)
	avxA := createNode(t, ns+"-avx-a", avx512Labels, nil)
	avxB := createNode(t, ns+"-avx-b", avx512Labels, nil)
	createNode(t, ns+"-plain", nil, nil)
	create(t, sidecarDeployment(ns, "web"))
	runningPod(t, ns, "web-1", map[string]string{"app": "web"}, avxA.Name)
	startOperator(t)
	create(t, cryptoMBPolicy(ns, "tls", map[string]string{"app": "web"}))
	p := waitForFeature(t, ns, "tls", "Deployment", "web", "cryptomb", true, "Enabled")
	if _, w, _ := featureStatus(p, "Deployment", "web", "cryptomb"); len(w.MisplacedPods) != 0 {
		t.Fatalf("misplaced pods before any change: %v", w.MisplacedPods)
	}

	// Node A loses the CPU flags' label: the workload stays accelerated on B, and its pod still
	// running on A is reported.
	removeLabel(t, avxA, cryptombNodeLabel)
	eventually(t, 10*time.Second, func() error {
		p, err := getPolicy(ns, "tls")
		if err != nil {
			return err
		}
		f, w, err := featureStatus(p, "Deployment", "web", "cryptomb")
		if err != nil {
			return err
		}
		if !f.Enabled || len(w.MisplacedPods) != 1 || !strings.HasPrefix(w.MisplacedPods[0], "web-1 on "+avxA.Name) {
			return fmt.Errorf("cryptomb enabled=%v misplaced=%v", f.Enabled, w.MisplacedPods)
		}
		return nil
	})
	expectEvent(t, ns, "web", operator.EventMisplacedPods)

	// Node B loses it too: no capable node is left, CryptoMB is switched off and its annotation removed.
	removeLabel(t, avxB, cryptombNodeLabel)
	waitForFeature(t, ns, "tls", "Deployment", "web", "cryptomb", false, "NoCapableNodes")
	eventually(t, 10*time.Second, func() error {
		if v, ok := getDeployment(t, ns, "web").Spec.Template.Annotations[annotationProxyConfig]; ok {
			return fmt.Errorf("proxy config annotation still set: %s", v)
		}
		return nil
	})
	expectEvent(t, ns, "web", operator.EventFeatureDisabled)

	// The label comes back: CryptoMB is enabled again.
	addLabel(t, avxB, cryptombNodeLabel, "true")
	waitForFeature(t, ns, "tls", "Deployment", "web", "cryptomb", true, "Enabled")
	expectEvent(t, ns, "web", operator.EventFeatureEnabled)
}

func removeLabel(t *testing.T, node *corev1.Node, key string) {
	t.Helper()
	patch := client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/labels/`+strings.ReplaceAll(key, "/", "~1")+`"}]`))
	if err := k8s.Patch(context.Background(), node, patch); err != nil {
		t.Fatal(err)
	}
}

func addLabel(t *testing.T, node *corev1.Node, key, value string) {
	t.Helper()
	patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, key, value)))
	if err := k8s.Patch(context.Background(), node, patch); err != nil {
		t.Fatal(err)
	}
}

// gatewayScenario sets up a node with a QAT Gen4 device and a DLB, an ingress gateway and a sidecar
// workload, and policies that give the gateway QAT and DLB (an EnvoyFilter) and the sidecars QAT (an
// injection-template ConfigMap).
type gatewayScenario struct {
	ns                     string
	gatewayPolicy, sidecar *v1alpha1.AccelerationPolicy
}

const (
	gatewayName       = "ingressgateway"
	dlbFilterName     = gatewayName + "-meshaccel-dlb"
	injectionTemplate = "qat-sidecars-meshaccel-injection-template"
)

func newGatewayScenario(t *testing.T, ns string) *gatewayScenario {
	t.Helper()
	createNode(t, ns+"-spr", mergeLabels(qatGen4Labels, dlbLabels), resources("qat.intel.com/cy", "16", "dlb.intel.com/pf", "2"))
	createNode(t, ns+"-plain", nil, nil)
	create(t, gatewayDeployment(ns, gatewayName))
	create(t, sidecarDeployment(ns, "orders"))
	s := &gatewayScenario{
		ns: ns,
		gatewayPolicy: &v1alpha1.AccelerationPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "gateway", Namespace: ns},
			Spec: v1alpha1.AccelerationPolicySpec{
				Workloads: v1alpha1.WorkloadSelector{Gateway: &v1alpha1.GatewayRef{Name: gatewayName}},
				Features: v1alpha1.Features{
					QAT: &v1alpha1.QATFeature{KeyProviderFeature: v1alpha1.KeyProviderFeature{PollDelay: &metav1.Duration{Duration: 2 * time.Millisecond}}},
					DLB: &v1alpha1.DLBFeature{MaxRetries: 3, FallbackPolicy: "ExactConnectionBalance"},
				},
			},
		},
		sidecar: &v1alpha1.AccelerationPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "qat-sidecars", Namespace: ns},
			Spec: v1alpha1.AccelerationPolicySpec{
				Workloads: v1alpha1.WorkloadSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}}},
				Features:  v1alpha1.Features{QAT: &v1alpha1.QATFeature{InjectionTemplate: "meshaccel-qat"}},
			},
		},
	}
	return s
}

func mergeLabels(sets ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, s := range sets {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

func proxyContainer(spec corev1.PodSpec) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == "istio-proxy" {
			return &spec.Containers[i]
		}
	}
	return nil
}

func TestPolicyDeletionCleansUp(t *testing.T) {
	ns := newNamespace(t)
	s := newGatewayScenario(t, ns)
	startOperator(t)
	create(t, s.gatewayPolicy)
	create(t, s.sidecar)
	waitForFeature(t, ns, "gateway", "Deployment", gatewayName, "qat", true, "Enabled")
	waitForFeature(t, ns, "gateway", "Deployment", gatewayName, "dlb", true, "Enabled")
	waitForFeature(t, ns, "qat-sidecars", "Deployment", "orders", "qat", true, "Enabled")
	eventually(t, 10*time.Second, func() error {
		ef, err := envoyFilter(t, ns, dlbFilterName)
		if err != nil {
			return err
		}
		if ef.Labels[operator.LabelManagedBy] != "meshaccel" || len(ef.OwnerReferences) != 1 || ef.OwnerReferences[0].Name != "gateway" {
			return fmt.Errorf("EnvoyFilter metadata: %+v", ef.ObjectMeta)
		}
		var cm corev1.ConfigMap
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: injectionTemplate}, &cm); err != nil {
			return err
		}
		c := proxyContainer(getDeployment(t, ns, gatewayName).Spec.Template.Spec)
		if c == nil || c.Resources.Limits.Name("qat.intel.com/cy", "").IsZero() || c.Resources.Limits.Name("dlb.intel.com/pf", "").IsZero() {
			return fmt.Errorf("gateway proxy container does not request the QAT and DLB devices: %+v", c)
		}
		return nil
	})

	// Deleting the policies removes what they created and gives the workloads back as they were.
	for _, p := range []*v1alpha1.AccelerationPolicy{s.gatewayPolicy, s.sidecar} {
		if err := k8s.Delete(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, func() error {
		if _, err := envoyFilter(t, ns, dlbFilterName); !isNotFound(err) {
			return fmt.Errorf("EnvoyFilter %s still there (%v)", dlbFilterName, err)
		}
		var cm corev1.ConfigMap
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: injectionTemplate}, &cm); !isNotFound(err) {
			return fmt.Errorf("ConfigMap %s still there (%v)", injectionTemplate, err)
		}
		for _, name := range []string{gatewayName, "orders"} {
			d := getDeployment(t, ns, name)
			if appliedBy(d, operator.FieldManager) {
				return fmt.Errorf("%s still has fields applied by meshaccel: %+v", name, d.ManagedFields)
			}
			if _, ok := d.Labels[operator.LabelPolicy]; ok {
				return fmt.Errorf("%s still labelled: %v", name, d.Labels)
			}
			for k := range d.Spec.Template.Annotations {
				if k != "inject.istio.io/templates" {
					return fmt.Errorf("%s template keeps annotation %s", name, k)
				}
			}
		}
		gw := getDeployment(t, ns, gatewayName)
		if gw.Spec.Template.Annotations["inject.istio.io/templates"] != "gateway" {
			return fmt.Errorf("the user's gateway annotation changed: %v", gw.Spec.Template.Annotations)
		}
		if c := proxyContainer(gw.Spec.Template.Spec); c == nil || len(c.Resources.Limits) != 0 || c.Image != "auto" {
			return fmt.Errorf("gateway proxy container not back to the user's: %+v", c)
		}
		return nil
	})
}

func TestNameClashWithUserObjectsIsReportedNotOverwritten(t *testing.T) {
	ns := newNamespace(t)
	s := newGatewayScenario(t, ns)
	// A user's EnvoyFilter and ConfigMap with the names meshaccel would use. The ConfigMap even copies
	// meshaccel's managed-by label: without an owner reference to a policy it is still the user's.
	userFilter := &istionetworkingv1alpha3.EnvoyFilter{ObjectMeta: metav1.ObjectMeta{Name: dlbFilterName, Namespace: ns, Labels: map[string]string{"team": "edge"}}}
	create(t, userFilter)
	userConfigMap := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: injectionTemplate, Namespace: ns, Labels: map[string]string{operator.LabelManagedBy: "meshaccel"}},
		Data:       map[string]string{"owner": "platform-team"},
	}
	create(t, userConfigMap)
	startOperator(t)
	create(t, s.gatewayPolicy)
	create(t, s.sidecar)

	waitForFeature(t, ns, "gateway", "Deployment", gatewayName, "dlb", false, "NameClash")
	eventually(t, 10*time.Second, func() error {
		p, err := getPolicy(ns, "qat-sidecars")
		if err != nil {
			return err
		}
		c := condition(p, operator.ConditionApplied)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != operator.ReasonNameClash || !strings.Contains(c.Message, injectionTemplate) {
			return fmt.Errorf("Applied condition = %+v, want False/NameClash naming %s", c, injectionTemplate)
		}
		if r := condition(p, "Ready"); r == nil || r.Status != metav1.ConditionFalse || r.Reason != operator.ReasonNameClash {
			return fmt.Errorf("Ready condition = %+v, want False/NameClash", r)
		}
		return nil
	})
	expectEvent(t, ns, "qat-sidecars", operator.EventPolicyProblem)

	var cm corev1.ConfigMap
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(userConfigMap), &cm); err != nil {
		t.Fatal(err)
	}
	if cm.ResourceVersion != userConfigMap.ResourceVersion || cm.Data["owner"] != "platform-team" || len(cm.Data) != 1 {
		t.Errorf("the user's ConfigMap was modified: %+v", cm)
	}
	ef, err := envoyFilter(t, ns, dlbFilterName)
	if err != nil {
		t.Fatal(err)
	}
	if ef.ResourceVersion != userFilter.ResourceVersion {
		t.Errorf("the user's EnvoyFilter was modified: %+v", ef)
	}

	// The user removes their ConfigMap: meshaccel creates its own and the policy recovers.
	if err := k8s.Delete(context.Background(), userConfigMap); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		var cm corev1.ConfigMap
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(userConfigMap), &cm); err != nil {
			return err
		}
		if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].Name != "qat-sidecars" {
			return fmt.Errorf("ConfigMap not meshaccel's: %+v", cm.ObjectMeta)
		}
		p, err := getPolicy(ns, "qat-sidecars")
		if err != nil {
			return err
		}
		if c := condition(p, operator.ConditionApplied); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Applied condition = %+v, want True", c)
		}
		return nil
	})
}

func TestInvalidPolicyIsRefusedAtAdmission(t *testing.T) {
	ns := newNamespace(t)
	for _, tc := range []struct {
		name   string
		mutate func(*v1alpha1.AccelerationPolicy)
		want   string
	}{
		{"poll delay of a whole second", func(p *v1alpha1.AccelerationPolicy) {
			p.Spec.Features.CryptoMB.PollDelay = &metav1.Duration{Duration: time.Second}
		}, "pollDelay must be at least 1ms and less than 1s"},
		{"no feature", func(p *v1alpha1.AccelerationPolicy) { p.Spec.Features = v1alpha1.Features{} }, "features must name at least one feature"},
		{"selector and gateway", func(p *v1alpha1.AccelerationPolicy) {
			p.Spec.Workloads.Gateway = &v1alpha1.GatewayRef{Name: "ingressgateway"}
		}, "set exactly one of workloads.selector or workloads.gateway"},
		{"unknown placement", func(p *v1alpha1.AccelerationPolicy) { p.Spec.Placement = "Sometimes" }, `spec.placement: Unsupported value: "Sometimes"`},
		{"custom proxy without extensions", func(p *v1alpha1.AccelerationPolicy) {
			p.Spec.Proxy = &v1alpha1.ProxySpec{Flavor: v1alpha1.ProxyCustom}
		}, "a Custom proxy must declare its extensions"},
		{"WAF image that is not OCI", func(p *v1alpha1.AccelerationPolicy) {
			p.Spec.Features.WAF = &v1alpha1.WAFFeature{Image: "https://example.com/waf.wasm"}
		}, "spec.features.waf.image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := cryptoMBPolicy(ns, "invalid", map[string]string{"app": "web"})
			tc.mutate(p)
			err := k8s.Create(context.Background(), p)
			if err == nil {
				_ = k8s.Delete(context.Background(), p)
				t.Fatalf("policy accepted, want it refused with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("refused with %q, want a message containing %q", err, tc.want)
			}
		})
	}
}

// convergedState is the resourceVersion of every object a reconcile could touch.
func convergedState(t *testing.T, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lists := []client.ObjectList{
		&appsv1.DeploymentList{}, &corev1.ConfigMapList{}, &istionetworkingv1alpha3.EnvoyFilterList{},
		&v1alpha1.AccelerationPolicyList{},
	}
	for _, list := range lists {
		if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range items {
			o := item.(client.Object)
			out[fmt.Sprintf("%T %s", o, o.GetName())] = o.GetResourceVersion()
		}
	}
	return out
}

func TestOperatorRestartChangesNothing(t *testing.T) {
	ns := newNamespace(t)
	s := newGatewayScenario(t, ns)
	createNode(t, ns+"-avx", avx512Labels, nil)
	create(t, sidecarDeployment(ns, "web"))
	withLeaderElection := func(c *operatorConfig) {
		c.manager.LeaderElection = true
		c.manager.LeaderElectionNamespace = ns
		c.manager.LeaderElectionID = "meshaccel-test"
	}
	first := startOperator(t, withLeaderElection)
	create(t, s.gatewayPolicy)
	create(t, s.sidecar)
	create(t, cryptoMBPolicy(ns, "tls", map[string]string{"app": "web"}))
	waitForFeature(t, ns, "gateway", "Deployment", gatewayName, "dlb", true, "Enabled")
	waitForFeature(t, ns, "qat-sidecars", "Deployment", "orders", "qat", true, "Enabled")
	waitForFeature(t, ns, "tls", "Deployment", "web", "cryptomb", true, "Enabled")
	// Let the reconciles that the operator's own writes triggered run out.
	var before map[string]string
	eventually(t, 15*time.Second, func() error {
		before = convergedState(t, ns)
		time.Sleep(time.Second)
		if after := convergedState(t, ns); !maps.Equal(before, after) {
			return fmt.Errorf("still changing")
		}
		return nil
	})

	first.stop(t)
	writesBefore := writes(t)
	second := startOperator(t, withLeaderElection)
	second.waitForReconciles(t, 0)
	n := second.reconciler.Reconciles()
	touchUnrelatedNode(t, ns)
	second.waitForReconciles(t, n)
	if after := convergedState(t, ns); !maps.Equal(before, after) {
		t.Errorf("a restarted operator changed objects:\nbefore %v\nafter  %v", before, after)
	}
	if w := writes(t) - writesBefore; w != 0 {
		t.Errorf("a restarted operator sent %v write requests for an unchanged cluster, want none", w)
	}
}

func TestOperatorConvergesAfterAPIServerRestart(t *testing.T) {
	ns := newNamespace(t)
	avx := createNode(t, ns+"-avx", avx512Labels, nil)
	createNode(t, ns+"-plain", nil, nil)
	create(t, sidecarDeployment(ns, "web"))
	op := startOperator(t)
	create(t, cryptoMBPolicy(ns, "tls", map[string]string{"app": "web"}))
	waitForFeature(t, ns, "tls", "Deployment", "web", "cryptomb", true, "Enabled")

	// The API server goes away for a few seconds while the operator runs; its watches break.
	restart := time.Now()
	if err := cluster.RestartAPIServer(time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server back after %s", time.Since(restart).Round(time.Millisecond))
	// A change made after the restart reaches the operator through its re-established watches.
	eventually(t, 30*time.Second, func() error {
		var n corev1.Node
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(avx), &n); err != nil {
			return err
		}
		if _, ok := n.Labels[cryptombNodeLabel]; !ok {
			return nil
		}
		patch := client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/labels/`+strings.ReplaceAll(cryptombNodeLabel, "/", "~1")+`"}]`))
		if err := k8s.Patch(context.Background(), &n, patch); err != nil {
			return err
		}
		return nil
	})
	eventually(t, 60*time.Second, func() error {
		p, err := getPolicy(ns, "tls")
		if err != nil {
			return err
		}
		f, _, err := featureStatus(p, "Deployment", "web", "cryptomb")
		if err != nil {
			return err
		}
		if f.Enabled || f.Reason != "NoCapableNodes" {
			return fmt.Errorf("cryptomb enabled=%v reason=%s", f.Enabled, f.Reason)
		}
		if _, ok := getDeployment(t, ns, "web").Spec.Template.Annotations[annotationProxyConfig]; ok {
			return fmt.Errorf("proxy config annotation still set")
		}
		return nil
	})
	t.Logf("converged %s after the restart began", time.Since(restart).Round(time.Millisecond))
	// Let the reconciles that the operator's own writes started run out: the status above can be
	// seen before the last of them has written.
	eventually(t, 15*time.Second, func() error {
		w := writes(t)
		time.Sleep(time.Second)
		if d := writes(t) - w; d != 0 {
			return fmt.Errorf("%v writes in the last second", d)
		}
		return nil
	})
	// And it settles: further reconciles write nothing.
	n := op.reconciler.Reconciles()
	w := writes(t)
	touchUnrelatedNode(t, ns)
	op.waitForReconciles(t, n)
	if d := writes(t) - w; d != 0 {
		t.Errorf("%v writes after converging, want none", d)
	}
}

func TestTwoPoliciesCompetingForOneWorkload(t *testing.T) {
	ns := newNamespace(t)
	createNode(t, ns+"-avx", avx512Labels, nil)
	createNode(t, ns+"-plain", nil, nil)
	create(t, sidecarDeployment(ns, "web"))
	startOperator(t)
	first := cryptoMBPolicy(ns, "first", map[string]string{"app": "web"})
	create(t, first)
	waitForFeature(t, ns, "first", "Deployment", "web", "cryptomb", true, "Enabled")
	eventually(t, 10*time.Second, func() error {
		if !strings.Contains(getDeployment(t, ns, "web").Spec.Template.Annotations[annotationProxyConfig], "cryptomb") {
			return fmt.Errorf("not applied yet")
		}
		return nil
	})
	applied := getDeployment(t, ns, "web")

	// A second policy selects the same workload: both report the conflict, and the workload keeps
	// what the first set up instead of flapping between them.
	second := cryptoMBPolicy(ns, "second", map[string]string{"app": "web"})
	second.Spec.Features.CryptoMB.PollDelay = &metav1.Duration{Duration: 20 * time.Millisecond}
	create(t, second)
	for _, name := range []string{"first", "second"} {
		eventually(t, 10*time.Second, func() error {
			p, err := getPolicy(ns, name)
			if err != nil {
				return err
			}
			r := condition(p, "Ready")
			if r == nil || r.Status != metav1.ConditionFalse || !strings.Contains(r.Message, "selected by 2 policies") {
				return fmt.Errorf("policy %s Ready = %+v", name, r)
			}
			a := condition(p, operator.ConditionApplied)
			if a == nil || a.Status != metav1.ConditionFalse || a.Reason != operator.ReasonInputProblem {
				return fmt.Errorf("policy %s Applied = %+v", name, a)
			}
			return nil
		})
	}
	if d := getDeployment(t, ns, "web"); d.ResourceVersion != applied.ResourceVersion {
		t.Errorf("the contested workload changed: annotations %v", d.Spec.Template.Annotations)
	}

	// The second policy goes away: the first owns the workload again and nothing was torn down.
	if err := k8s.Delete(context.Background(), second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		p, err := getPolicy(ns, "first")
		if err != nil {
			return err
		}
		if a := condition(p, operator.ConditionApplied); a == nil || a.Status != metav1.ConditionTrue {
			return fmt.Errorf("policy first Applied = %+v", a)
		}
		return nil
	})
	if d := getDeployment(t, ns, "web"); d.ResourceVersion != applied.ResourceVersion {
		t.Errorf("the workload changed although its policy's decision did not: annotations %v", d.Spec.Template.Annotations)
	}
}

// TestUserNodeSelectorIsNeverErased: nodeSelector is one atomic value in server-side apply, so a
// workload whose owner already set one cannot simply receive meshaccel's key next to it. Whatever the
// translator decides (another constraint, or the same field), the user's entry must survive, and a
// workload meshaccel cannot change is reported.
func TestUserNodeSelectorIsNeverErased(t *testing.T) {
	ns := newNamespace(t)
	createNode(t, ns+"-avx", mergeLabels(avx512Labels, map[string]string{"pool": ns}), nil)
	createNode(t, ns+"-plain", map[string]string{"pool": ns}, nil)
	pinned := sidecarDeployment(ns, "pinned")
	pinned.Spec.Template.Spec.NodeSelector = map[string]string{"pool": ns}
	create(t, pinned)
	startOperator(t)
	create(t, cryptoMBPolicy(ns, "tls", map[string]string{"app": "pinned"}))

	eventually(t, 20*time.Second, func() error {
		d := getDeployment(t, ns, "pinned")
		if d.Spec.Template.Spec.NodeSelector["pool"] != ns {
			t.Fatalf("the user's nodeSelector entry was erased: %v", d.Spec.Template.Spec.NodeSelector)
		}
		p, err := getPolicy(ns, "tls")
		if err != nil {
			return err
		}
		applied := condition(p, operator.ConditionApplied)
		placed := placedOnCryptoMBNodes(d.Spec.Template.Spec) && strings.Contains(d.Spec.Template.Annotations[annotationProxyConfig], "cryptomb")
		conflict := applied != nil && applied.Status == metav1.ConditionFalse && applied.Reason == operator.ReasonFieldConflict &&
			strings.Contains(applied.Message, "nodeSelector") && d.Spec.Template.Annotations[annotationProxyConfig] == ""
		if placed || conflict {
			t.Logf("placed=%v conflict=%v (%v)", placed, conflict, applied)
		}
		if !placed && !conflict {
			return fmt.Errorf("neither placed (nodeSelector %v, annotations %v) nor reported (Applied %+v)", d.Spec.Template.Spec.NodeSelector, d.Spec.Template.Annotations, applied)
		}
		return nil
	})
}

// TestLeaderElectionStandbyAndProbes runs two replicas: only the leader reconciles, both are ready
// (the standby has a synced cache), the leader serves metrics, and when the leader shuts down the
// standby takes over at once (the lease is released on shutdown).
func TestLeaderElectionStandbyAndProbes(t *testing.T) {
	ns := newNamespace(t)
	createNode(t, ns+"-avx", avx512Labels, nil)
	createNode(t, ns+"-plain", nil, nil)
	create(t, sidecarDeployment(ns, "web"))
	replica := func(metrics, probes string) func(*operatorConfig) {
		return func(c *operatorConfig) {
			c.manager.LeaderElection = true
			c.manager.LeaderElectionNamespace = ns
			c.manager.LeaderElectionID = "meshaccel-ha"
			c.manager.MetricsAddr, c.manager.ProbeAddr = metrics, probes
		}
	}
	// Free loopback ports, so parallel runs on one machine do not collide.
	leaderMetrics, leaderProbes, standbyProbes := freeAddr(t), freeAddr(t), freeAddr(t)
	leader := startOperator(t, replica(leaderMetrics, leaderProbes))
	leader.waitForReconciles(t, 0)
	standby := startOperator(t, replica("0", standbyProbes))
	for _, addr := range []string{leaderProbes, standbyProbes} {
		for _, path := range []string{"/healthz", "/readyz"} {
			eventually(t, 10*time.Second, func() error { return httpOK("http://" + addr + path) })
		}
	}
	if err := httpContains("http://"+leaderMetrics+"/metrics", "meshaccel_reconcile_duration_seconds_bucket"); err != nil {
		t.Error(err)
	}

	create(t, cryptoMBPolicy(ns, "tls", map[string]string{"app": "web"}))
	waitForFeature(t, ns, "tls", "Deployment", "web", "cryptomb", true, "Enabled")
	if n := standby.reconciler.Reconciles(); n != 0 {
		t.Errorf("the standby reconciled %d times while the leader held the lease", n)
	}

	leader.stop(t)
	standby.waitForReconciles(t, 0)
	p, _ := getPolicy(ns, "tls")
	policy := p.DeepCopy()
	policy.Spec.Features.CryptoMB.PollDelay = &metav1.Duration{Duration: 7 * time.Millisecond}
	if err := k8s.Update(context.Background(), policy); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		if v := getDeployment(t, ns, "web").Spec.Template.Annotations[annotationProxyConfig]; !strings.Contains(v, "0.007s") {
			return fmt.Errorf("the new leader has not applied the policy change: %s", v)
		}
		return nil
	})
}

// freeAddr returns a loopback address with a port the kernel just handed out.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func httpOK(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func httpContains(url, want string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if !strings.Contains(string(body), want) {
		return fmt.Errorf("%s does not serve %s", url, want)
	}
	return nil
}

// TestBypassNodeListFollowsPolicies: the bypass node list is a cluster-level object in the operator's
// namespace, owned by no policy; it appears when a policy asks for the bypass and goes when none does.
func TestBypassNodeListFollowsPolicies(t *testing.T) {
	ns := newNamespace(t)
	for _, name := range []string{ns + "-modern", ns + "-old"} {
		node := createNode(t, name, map[string]string{"meshaccel.feature.node.kubernetes.io/cgroup-v2": "true"}, nil)
		node.Status.NodeInfo.KernelVersion = "6.1.0-28-amd64"
		if strings.HasSuffix(name, "-old") {
			node.Status.NodeInfo.KernelVersion = "4.19.0-27-amd64"
		}
		if err := k8s.Status().Update(context.Background(), node); err != nil {
			t.Fatal(err)
		}
	}
	create(t, sidecarDeployment(ns, "web"))
	startOperator(t)
	policy := &v1alpha1.AccelerationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "bypass", Namespace: ns},
		Spec: v1alpha1.AccelerationPolicySpec{
			Workloads: v1alpha1.WorkloadSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
			Features:  v1alpha1.Features{Bypass: &v1alpha1.BypassFeature{}},
		},
	}
	create(t, policy)
	key := client.ObjectKey{Namespace: systemNamespace, Name: "meshaccel-bypass-nodes"}
	eventually(t, 10*time.Second, func() error {
		var cm corev1.ConfigMap
		if err := k8s.Get(context.Background(), key, &cm); err != nil {
			return err
		}
		nodes := cm.Data["nodes"]
		if !strings.Contains(nodes, ns+"-modern") || strings.Contains(nodes, ns+"-old") {
			return fmt.Errorf("bypass node list %q, want %s-modern and not %s-old", nodes, ns, ns)
		}
		return nil
	})
	if err := k8s.Delete(context.Background(), policy); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		var cm corev1.ConfigMap
		if err := k8s.Get(context.Background(), key, &cm); !isNotFound(err) {
			return fmt.Errorf("bypass node list still there (%v): %v", err, cm.Data)
		}
		return nil
	})
}
