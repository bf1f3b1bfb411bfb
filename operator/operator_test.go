package operator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/operator"
)

const (
	annotationProxyConfig = "proxy.istio.io/config"
	cryptombNodeLabel     = "meshaccel.feature.node.kubernetes.io/cryptomb"
)

// placedOnCryptoMBNodes reports whether the pod template keeps pods on CryptoMB nodes, by node
// selector or required node affinity.
func placedOnCryptoMBNodes(spec corev1.PodSpec) bool {
	if spec.NodeSelector[cryptombNodeLabel] == "true" {
		return true
	}
	a := spec.Affinity
	return a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil
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

	// Idempotent: more reconciles with unchanged input write nothing.
	before := getDeployment(t, ns, "web").ResourceVersion
	policyBefore := p.ResourceVersion
	n := op.reconciler.Reconciles()
	touchUnrelatedNode(t, ns)
	op.waitForReconciles(t, n)
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
