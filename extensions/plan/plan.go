// Package plan is the second intermediate representation: for each selected workload, what to change
// (pod-template annotations, placement, proxy container resources) and which typed Envoy configs to
// deliver. The Istio renderer turns a plan into objects; nothing here knows about YAML.
package plan

import (
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/proto"
	meshconfig "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshaccel/meshaccel/extensions/capability"
)

// Workload is everything meshaccel wants for one workload.
type Workload struct {
	Kind      string
	Namespace string
	Name      string
	Policy    PolicyRef
	Gateway   bool
	// PodSelector is the workload's own selector, used for Istio workloadSelector and WasmPlugin selector.
	PodSelector map[string]string
	// Pending means the pod-template part must not be applied (rollout strategy Manual).
	Pending bool

	// Pod-template changes.
	ProxyConfig       *meshconfig.ProxyConfig // proxy.istio.io/config
	ProxyImage        string                  // sidecar.istio.io/proxyImage
	BootstrapOverride string                  // sidecar.istio.io/bootstrapOverride (ConfigMap name)
	InjectionTemplate string                  // appended to inject.istio.io/templates for sidecars
	Placement         *Placement
	// ProxyContainer changes apply to the gateway's istio-proxy container.
	ProxyContainer *ProxyContainer

	// Objects to deliver.
	Bootstrap    *BootstrapConfigMap
	EnvoyFilters []EnvoyFilter
	WasmPlugin   *WasmPlugin
}

// PolicyRef identifies the policy that owns the generated objects.
type PolicyRef struct {
	Name string
	UID  types.UID
}

// Placement keeps pods on capable nodes.
type Placement struct {
	// NodeSelector entries to add (preferred: merge-friendly under server-side apply).
	NodeSelector map[string]string
	// RequiredNodeAffinity replaces the template's required node affinity (the user's terms are kept,
	// each narrowed by meshaccel's requirement).
	RequiredNodeAffinity *corev1.NodeSelector
	// Description says which signal the constraint uses, for explain.
	Description string
}

// ProxyContainer holds the fields meshaccel sets on a gateway's proxy container.
type ProxyContainer struct {
	Name         string
	Resources    corev1.ResourceList // requests and limits
	Capabilities []corev1.Capability
}

// BootstrapConfigMap carries a custom bootstrap for sidecar.istio.io/bootstrapOverride.
type BootstrapConfigMap struct {
	Name      string
	Bootstrap *bootstrapv3.Bootstrap
}

// EnvoyFilter is one EnvoyFilter object with typed patch values.
type EnvoyFilter struct {
	Name    string
	Feature capability.Feature
	Patches []Patch
}

// Patch is one config patch whose value is a typed Envoy message.
type Patch struct {
	ApplyTo   networkingv1alpha3.EnvoyFilter_ApplyTo
	Context   networkingv1alpha3.EnvoyFilter_PatchContext
	Match     *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch
	Operation networkingv1alpha3.EnvoyFilter_Patch_Operation
	Value     proto.Message
}

// WasmPlugin is an Istio WasmPlugin for the WAF.
type WasmPlugin struct {
	Name         string
	URL          string
	SHA256       string
	PluginConfig map[string]any
}

// KeyProvider is the TLS key provider chosen for a workload.
type KeyProvider struct {
	Feature   capability.Feature
	PollDelay time.Duration
}
