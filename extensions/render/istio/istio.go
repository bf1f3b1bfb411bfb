// Package istio is the last stage of the translation: it renders a plan as the Istio and Kubernetes
// objects that deliver it (EnvoyFilters, WasmPlugins, bootstrap ConfigMaps, the QAT injection template)
// and a server-side apply configuration for the workload fields meshaccel owns. Envoy configs stay
// typed until here and are converted with protojson, never templated.
package istio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	istioextensionsv1alpha1api "istio.io/api/extensions/v1alpha1"
	meshconfig "istio.io/api/mesh/v1alpha1"
	istionetworkingv1alpha3api "istio.io/api/networking/v1alpha3"
	istiotypev1beta1 "istio.io/api/type/v1beta1"
	istioextensionsv1alpha1 "istio.io/client-go/pkg/apis/extensions/v1alpha1"
	istionetworkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions/plan"
)

// Object is a whole Kubernetes object meshaccel owns.
type Object interface {
	metav1.Object
	runtime.Object
}

// Names shared with the translator.
const (
	LabelManagedBy              = "app.kubernetes.io/managed-by"
	ManagedByMeshaccel          = "meshaccel"
	LabelPolicy                 = "meshaccel.io/policy"
	AnnotationProxyConfig       = "proxy.istio.io/config"
	AnnotationProxyImage        = "sidecar.istio.io/proxyImage"
	AnnotationBootstrapOverride = "sidecar.istio.io/bootstrapOverride"
	AnnotationInjectTemplates   = "inject.istio.io/templates"
	AnnotationPlacement         = "meshaccel.io/placement"
	BootstrapConfigMapKey       = "custom_bootstrap.json"
)

// Rendered is everything one workload plan becomes.
type Rendered struct {
	Objects []Object
	Apply   runtime.ApplyConfiguration
}

// Workload renders one workload plan.
func Workload(p *plan.Workload) (Rendered, error) {
	var out Rendered
	meta := func(name string) metav1.ObjectMeta { return ownedMeta(p, name) }

	if p.Bootstrap != nil {
		body, err := marshalJSON(p.Bootstrap.Bootstrap, true)
		if err != nil {
			return out, fmt.Errorf("%s/%s: bootstrap: %w", p.Namespace, p.Name, err)
		}
		out.Objects = append(out.Objects, &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: meta(p.Bootstrap.Name),
			Data:       map[string]string{BootstrapConfigMapKey: string(body)},
		})
	}
	for _, ef := range p.EnvoyFilters {
		obj, err := envoyFilter(meta(ef.Name), p.PodSelector, ef)
		if err != nil {
			return out, fmt.Errorf("%s/%s: EnvoyFilter %s: %w", p.Namespace, p.Name, ef.Name, err)
		}
		out.Objects = append(out.Objects, obj)
	}
	if p.WasmPlugin != nil {
		obj, err := wasmPlugin(meta(p.WasmPlugin.Name), p.PodSelector, p.WasmPlugin)
		if err != nil {
			return out, fmt.Errorf("%s/%s: WasmPlugin %s: %w", p.Namespace, p.Name, p.WasmPlugin.Name, err)
		}
		out.Objects = append(out.Objects, obj)
	}
	apply, err := workloadApply(p)
	if err != nil {
		return out, fmt.Errorf("%s/%s: %w", p.Namespace, p.Name, err)
	}
	out.Apply = apply
	return out, nil
}

func ownedMeta(p *plan.Workload, name string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{
		Name:      name,
		Namespace: p.Namespace,
		Labels:    map[string]string{LabelManagedBy: ManagedByMeshaccel, LabelPolicy: p.Policy.Name},
	}
	if p.Policy.UID != "" {
		m.OwnerReferences = []metav1.OwnerReference{policyOwner(p.Policy)}
	}
	return m
}

func policyOwner(ref plan.PolicyRef) metav1.OwnerReference {
	controller := true
	return metav1.OwnerReference{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: "AccelerationPolicy",
		Name: ref.Name, UID: ref.UID, Controller: &controller,
	}
}

// PatchValue converts a typed Envoy message into an EnvoyFilter patch value (proto field names, as
// Envoy's documentation writes them).
func PatchValue(m proto.Message) (*structpb.Struct, error) {
	body, err := marshalJSON(m, false)
	if err != nil {
		return nil, err
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, err
	}
	return structpb.NewStruct(fields)
}

// ProxyConfigAnnotation renders the value of proxy.istio.io/config. Istio's own APIs are written with
// JSON (camelCase) names.
func ProxyConfigAnnotation(pc *meshconfig.ProxyConfig) (string, error) {
	raw, err := protojson.Marshal(pc)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	err = json.Compact(&buf, raw)
	return buf.String(), err
}

// marshalJSON renders a message with proto field names. protojson varies its whitespace on purpose;
// compacting makes the output byte-stable for golden files and idempotent applies.
func marshalJSON(m proto.Message, indent bool) ([]byte, error) {
	raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if indent {
		err = json.Indent(&buf, raw, "", "  ")
	} else {
		err = json.Compact(&buf, raw)
	}
	return buf.Bytes(), err
}

func envoyFilter(meta metav1.ObjectMeta, selector map[string]string, ef plan.EnvoyFilter) (*istionetworkingv1alpha3.EnvoyFilter, error) {
	obj := &istionetworkingv1alpha3.EnvoyFilter{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.istio.io/v1alpha3", Kind: "EnvoyFilter"},
		ObjectMeta: meta,
	}
	obj.Spec.WorkloadSelector = &istionetworkingv1alpha3api.WorkloadSelector{Labels: selector}
	for _, p := range ef.Patches {
		value, err := PatchValue(p.Value)
		if err != nil {
			return nil, err
		}
		match := p.Match
		if match == nil {
			match = &istionetworkingv1alpha3api.EnvoyFilter_EnvoyConfigObjectMatch{Context: p.Context}
		}
		obj.Spec.ConfigPatches = append(obj.Spec.ConfigPatches, &istionetworkingv1alpha3api.EnvoyFilter_EnvoyConfigObjectPatch{
			ApplyTo: p.ApplyTo,
			Match:   match,
			Patch:   &istionetworkingv1alpha3api.EnvoyFilter_Patch{Operation: p.Operation, Value: value},
		})
	}
	return obj, nil
}

func wasmPlugin(meta metav1.ObjectMeta, selector map[string]string, w *plan.WasmPlugin) (*istioextensionsv1alpha1.WasmPlugin, error) {
	config, err := structpb.NewStruct(w.PluginConfig)
	if err != nil {
		return nil, err
	}
	obj := &istioextensionsv1alpha1.WasmPlugin{
		TypeMeta:   metav1.TypeMeta{APIVersion: "extensions.istio.io/v1alpha1", Kind: "WasmPlugin"},
		ObjectMeta: meta,
	}
	obj.Spec.Selector = &istiotypev1beta1.WorkloadSelector{MatchLabels: selector}
	obj.Spec.Url = w.URL
	obj.Spec.Sha256 = w.SHA256
	obj.Spec.Phase = istioextensionsv1alpha1api.PluginPhase_AUTHN
	obj.Spec.FailStrategy = istioextensionsv1alpha1api.FailStrategy_FAIL_CLOSE
	obj.Spec.PluginConfig = config
	return obj, nil
}

// workloadApply builds the apply configuration with exactly the fields meshaccel owns. Applying it
// under meshaccel's field manager also drops the fields it owned before and no longer wants.
func workloadApply(p *plan.Workload) (runtime.ApplyConfiguration, error) {
	annotations := map[string]string{}
	if p.ProxyConfig != nil {
		value, err := ProxyConfigAnnotation(p.ProxyConfig)
		if err != nil {
			return nil, err
		}
		annotations[AnnotationProxyConfig] = value
	}
	if p.ProxyImage != "" {
		annotations[AnnotationProxyImage] = p.ProxyImage
	}
	if p.BootstrapOverride != "" {
		annotations[AnnotationBootstrapOverride] = p.BootstrapOverride
	}
	if p.InjectionTemplate != "" {
		annotations[AnnotationInjectTemplates] = "sidecar," + p.InjectionTemplate
	}
	spec := corev1ac.PodSpec()
	specSet := false
	if pl := p.Placement; pl != nil {
		annotations[AnnotationPlacement] = pl.Description
		if len(pl.NodeSelector) > 0 {
			spec.WithNodeSelector(pl.NodeSelector)
		}
		if pl.RequiredNodeAffinity != nil {
			spec.WithAffinity(corev1ac.Affinity().WithNodeAffinity(
				corev1ac.NodeAffinity().WithRequiredDuringSchedulingIgnoredDuringExecution(nodeSelectorApply(pl.RequiredNodeAffinity))))
		}
		specSet = true
	}
	if c := p.ProxyContainer; c != nil {
		container := corev1ac.Container().WithName(c.Name)
		if len(c.Resources) > 0 {
			container.WithResources(corev1ac.ResourceRequirements().WithRequests(c.Resources).WithLimits(c.Resources))
		}
		if len(c.Capabilities) > 0 {
			container.WithSecurityContext(corev1ac.SecurityContext().WithCapabilities(corev1ac.Capabilities().WithAdd(c.Capabilities...)))
		}
		spec.WithContainers(container)
		specSet = true
	}
	var template *corev1ac.PodTemplateSpecApplyConfiguration
	if len(annotations) > 0 || specSet {
		template = corev1ac.PodTemplateSpec()
		if len(annotations) > 0 {
			template.WithAnnotations(annotations)
		}
		if specSet {
			template.WithSpec(spec)
		}
	}
	labels := map[string]string{LabelPolicy: p.Policy.Name}
	switch p.Kind {
	case "Deployment":
		d := appsv1ac.Deployment(p.Name, p.Namespace).WithLabels(labels)
		if template != nil {
			d.WithSpec(appsv1ac.DeploymentSpec().WithTemplate(template))
		}
		return d, nil
	case "StatefulSet":
		s := appsv1ac.StatefulSet(p.Name, p.Namespace).WithLabels(labels)
		if template != nil {
			s.WithSpec(appsv1ac.StatefulSetSpec().WithTemplate(template))
		}
		return s, nil
	}
	return nil, fmt.Errorf("unsupported workload kind %q", p.Kind)
}

func nodeSelectorApply(ns *corev1.NodeSelector) *corev1ac.NodeSelectorApplyConfiguration {
	out := corev1ac.NodeSelector()
	for _, term := range ns.NodeSelectorTerms {
		t := corev1ac.NodeSelectorTerm()
		for _, r := range term.MatchExpressions {
			t.WithMatchExpressions(corev1ac.NodeSelectorRequirement().WithKey(r.Key).WithOperator(r.Operator).WithValues(r.Values...))
		}
		for _, r := range term.MatchFields {
			t.WithMatchFields(corev1ac.NodeSelectorRequirement().WithKey(r.Key).WithOperator(r.Operator).WithValues(r.Values...))
		}
		out.WithNodeSelectorTerms(t)
	}
	return out
}

// InjectionTemplate renders the Istio sidecar injection template that gives sidecars a QAT crypto VF
// and IPC_LOCK, as a ConfigMap holding the template under its name. Istio applies a custom template as
// a strategic merge over the injected pod, so the template is a pod fragment.
func InjectionTemplate(namespace string, policy plan.PolicyRef, name string, resources corev1.ResourceList) (*corev1.ConfigMap, error) {
	pod := map[string]any{
		"spec": map[string]any{
			"containers": []any{corev1.Container{
				Name:      "istio-proxy",
				Resources: corev1.ResourceRequirements{Requests: resources, Limits: resources},
				SecurityContext: &corev1.SecurityContext{
					Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"IPC_LOCK"}},
				},
			}},
		},
	}
	body, err := yaml.Marshal(pod)
	if err != nil {
		return nil, err
	}
	p := &plan.Workload{Namespace: namespace, Policy: policy}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: ownedMeta(p, policy.Name+"-meshaccel-injection-template"),
		Data:       map[string]string{name: string(body)},
	}, nil
}

// SortObjects orders objects by kind, namespace and name.
func SortObjects(objs []Object) {
	key := func(o Object) string {
		return o.GetObjectKind().GroupVersionKind().Kind + "/" + o.GetNamespace() + "/" + o.GetName()
	}
	sort.Slice(objs, func(i, j int) bool { return key(objs[i]) < key(objs[j]) })
}

// Cluster-level objects carry this label instead of an owner reference (a namespaced policy cannot
// own an object in another namespace).
const (
	LabelScope      = "meshaccel.io/scope"
	ScopeCluster    = "cluster"
	BypassNodesName = "meshaccel-bypass-nodes"
	BypassNodesKey  = "nodes"
)

// BypassNodes renders the list of nodes where the TCP/IP bypass agent must be active; the agent
// DaemonSet mounts it and attaches only when its node is listed.
func BypassNodes(namespace string, nodes []string) *corev1.ConfigMap {
	body := ""
	for _, n := range nodes {
		body += n + "\n"
	}
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name: BypassNodesName, Namespace: namespace,
			Labels: map[string]string{LabelManagedBy: ManagedByMeshaccel, LabelScope: ScopeCluster},
		},
		Data: map[string]string{BypassNodesKey: body},
	}
}
