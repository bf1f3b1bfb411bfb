package extensions

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshaccel/meshaccel/extensions/render/istio"
)

// Workload kinds meshaccel patches.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
)

// Istio names meshaccel reads or writes on pod templates, and its ownership labels.
const (
	AnnotationProxyConfig       = istio.AnnotationProxyConfig
	AnnotationProxyImage        = istio.AnnotationProxyImage
	AnnotationBootstrapOverride = istio.AnnotationBootstrapOverride
	AnnotationInjectTemplates   = istio.AnnotationInjectTemplates
	AnnotationPlacement         = istio.AnnotationPlacement
	LabelManagedBy              = istio.LabelManagedBy
	ManagedByMeshaccel          = istio.ManagedByMeshaccel
	LabelPolicy                 = istio.LabelPolicy
	// FieldManager is the server-side apply field manager for everything meshaccel writes.
	FieldManager                = "meshaccel"
	ProxyContainerName          = "istio-proxy"
	DefaultQATInjectionTemplate = "meshaccel-qat"
	gatewayNameLabel            = "gateway.networking.k8s.io/gateway-name"
)

// workload is a Deployment or StatefulSet seen through what meshaccel needs.
type workload struct {
	ref         WorkloadRef
	labels      map[string]string // pod-template labels
	podSelector *metav1.LabelSelector
	template    *corev1.PodTemplateSpec
	gateway     bool
}

func collectWorkloads(in *Input) []*workload {
	out := make([]*workload, 0, len(in.Deployments)+len(in.StatefulSets))
	for i := range in.Deployments {
		d := &in.Deployments[i]
		out = append(out, newWorkload(KindDeployment, d.Namespace, d.Name, d.Spec.Selector, &d.Spec.Template))
	}
	for i := range in.StatefulSets {
		s := &in.StatefulSets[i]
		out = append(out, newWorkload(KindStatefulSet, s.Namespace, s.Name, s.Spec.Selector, &s.Spec.Template))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ref.String() < out[j].ref.String() })
	return out
}

func newWorkload(kind, namespace, name string, selector *metav1.LabelSelector, template *corev1.PodTemplateSpec) *workload {
	return &workload{
		ref:         WorkloadRef{Kind: kind, Namespace: namespace, Name: name},
		labels:      template.Labels,
		podSelector: selector,
		template:    template,
		gateway:     isGateway(template),
	}
}

// isGateway recognises Istio gateways: the gateway injection template, a Gateway API managed
// deployment, or a proxy container running as a router.
func isGateway(t *corev1.PodTemplateSpec) bool {
	if strings.Contains(t.Annotations[AnnotationInjectTemplates], "gateway") {
		return true
	}
	if _, ok := t.Labels[gatewayNameLabel]; ok {
		return true
	}
	for _, c := range t.Spec.Containers {
		if c.Name == ProxyContainerName && len(c.Args) > 1 && c.Args[0] == "proxy" && c.Args[1] == "router" {
			return true
		}
	}
	return false
}

// podSelectorMap returns match labels that select the workload's pods, for Istio workloadSelector,
// which takes labels only.
func (w *workload) podSelectorMap() map[string]string {
	if w.podSelector != nil && len(w.podSelector.MatchLabels) > 0 && len(w.podSelector.MatchExpressions) == 0 {
		return w.podSelector.MatchLabels
	}
	return w.labels
}

// selector returns the workload's pod selector, or nil when it selects nothing.
func (w *workload) selector() labels.Selector {
	if w.podSelector == nil {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(w.podSelector)
	if err != nil || sel.Empty() {
		return nil
	}
	return sel
}
