package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AccelerationPolicy asks meshaccel to accelerate the Envoy proxies of some workloads in its namespace,
// enabling each feature only where the node under the workload and the proxy binary can really do it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=accelpol;ap,categories=meshaccel
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Workloads",type=integer,JSONPath=`.status.selectedWorkloads`
// +kubebuilder:printcolumn:name="Accelerated",type=integer,JSONPath=`.status.acceleratedWorkloads`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AccelerationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AccelerationPolicySpec   `json:"spec"`
	Status AccelerationPolicyStatus `json:"status,omitempty"`
}

// AccelerationPolicyList is a list of AccelerationPolicy.
//
// +kubebuilder:object:root=true
type AccelerationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AccelerationPolicy `json:"items"`
}

// AccelerationPolicySpec says which workloads to accelerate, with what, and how carefully.
type AccelerationPolicySpec struct {
	// Workloads selects the Deployments and StatefulSets in the policy's namespace.
	Workloads WorkloadSelector `json:"workloads"`

	// Features to enable where the node and the proxy support them.
	Features Features `json:"features"`

	// Placement decides how TLS key providers are kept on capable nodes. Istio's key-provider fallback
	// is broken (istio/istio#54025), so a key provider on a node without the hardware breaks TLS:
	// Required adds a required scheduling constraint to capable nodes; WhereGuaranteed enables a key
	// provider only where the workload's own scheduling constraints already guarantee capable nodes.
	// +kubebuilder:default=Required
	// +optional
	Placement PlacementMode `json:"placement,omitempty"`

	// Proxy describes the proxy the selected workloads run, overriding the operator's default, and
	// optionally an Istio proxy image to switch to when the current one lacks an extension.
	// +optional
	Proxy *ProxySpec `json:"proxy,omitempty"`

	// Rollout controls whether meshaccel changes pod templates (which rolls the pods).
	// +optional
	Rollout RolloutSpec `json:"rollout,omitempty"`
}

// WorkloadSelector picks workloads by pod-template labels, or an Istio gateway by name.
// +kubebuilder:validation:XValidation:rule="has(self.selector) != has(self.gateway)",message="set exactly one of workloads.selector or workloads.gateway"
type WorkloadSelector struct {
	// Selector matches the pod-template labels of Deployments and StatefulSets.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Gateway names an Istio gateway Deployment in the policy's namespace.
	// +optional
	Gateway *GatewayRef `json:"gateway,omitempty"`
}

// GatewayRef names a gateway Deployment.
type GatewayRef struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// PlacementMode is how key providers are kept on capable nodes.
// +kubebuilder:validation:Enum=Required;WhereGuaranteed
type PlacementMode string

const (
	// PlacementRequired adds a required scheduling constraint so pods only run on capable nodes.
	PlacementRequired PlacementMode = "Required"
	// PlacementWhereGuaranteed never changes scheduling: a feature is enabled only when every node the
	// workload can already be scheduled to is capable.
	PlacementWhereGuaranteed PlacementMode = "WhereGuaranteed"
)

// Features lists what to enable. A feature that is absent is not enabled.
// +kubebuilder:validation:XValidation:rule="has(self.cryptomb) || has(self.qat) || has(self.dlb) || has(self.hyperscan) || has(self.waf) || has(self.bypass)",message="features must name at least one feature"
type Features struct {
	// CryptoMB enables the AVX-512 multi-buffer TLS private-key provider.
	// +optional
	CryptoMB *KeyProviderFeature `json:"cryptomb,omitempty"`
	// QAT enables the Intel QAT (Gen4 and later) TLS private-key provider. When both QAT and CryptoMB are
	// asked for, QAT is chosen where the workload can get a QAT device.
	// +optional
	QAT *QATFeature `json:"qat,omitempty"`
	// DLB enables the Intel DLB connection balancer on a gateway. Experimental: disabled upstream in
	// Envoy 1.35 and later.
	// +optional
	DLB *DLBFeature `json:"dlb,omitempty"`
	// Hyperscan enables the Hyperscan regex engine and/or Hyperscan-matched deny lists.
	// +optional
	Hyperscan *HyperscanFeature `json:"hyperscan,omitempty"`
	// WAF adds meshaccel's proxy-wasm WAF.
	// +optional
	WAF *WAFFeature `json:"waf,omitempty"`
	// Bypass activates the eBPF TCP/IP bypass node agent on the nodes the selected workloads can run
	// on and that support it; sockets between local sidecars and apps then skip the kernel TCP/IP stack.
	// Elsewhere traffic keeps the normal path.
	// +optional
	Bypass *BypassFeature `json:"bypass,omitempty"`
}

// BypassFeature enables the eBPF TCP/IP bypass. It has no settings yet: the node agent's paths are
// configured in its DaemonSet.
type BypassFeature struct{}

// KeyProviderFeature configures a TLS private-key provider.
type KeyProviderFeature struct {
	// PollDelay is how long the provider waits to fill a batch. Istio keeps only the sub-second part, so
	// it must be at least 1ms and below 1s.
	// +kubebuilder:default="10ms"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms') && duration(self) < duration('1s')",message="pollDelay must be at least 1ms and less than 1s (Istio keeps only the sub-second part)"
	// +optional
	PollDelay *metav1.Duration `json:"pollDelay,omitempty"`
}

// QATFeature configures the QAT key provider.
type QATFeature struct {
	KeyProviderFeature `json:",inline"`
	// InjectionTemplate is the Istio sidecar injection template that gives sidecars a QAT device and
	// IPC_LOCK. meshaccel renders it; it must be installed in istiod for sidecars. Gateways are patched
	// directly.
	// +kubebuilder:default="meshaccel-qat"
	// +optional
	InjectionTemplate string `json:"injectionTemplate,omitempty"`
}

// DLBFeature configures the DLB connection balancer.
type DLBFeature struct {
	// ID is the DLB device id.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ID uint32 `json:"id,omitempty"`
	// MaxRetries bounds retries when the DLB queue is full.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default=3
	// +optional
	MaxRetries uint32 `json:"maxRetries,omitempty"`
	// FallbackPolicy is used when the DLB device fails.
	// +kubebuilder:validation:Enum=None;NopConnectionBalance;ExactConnectionBalance
	// +kubebuilder:default=ExactConnectionBalance
	// +optional
	FallbackPolicy string `json:"fallbackPolicy,omitempty"`
}

// HyperscanFeature configures the Hyperscan regex engine and matcher.
type HyperscanFeature struct {
	// RegexEngine makes Hyperscan Envoy's default regex engine, after every regex that reaches the
	// proxy has passed the compatibility check.
	// +optional
	RegexEngine bool `json:"regexEngine,omitempty"`
	// OnIncompatible decides what happens when a regex behaves differently under Hyperscan: Block keeps
	// the engine off; Proceed enables it anyway when every offending regex is listed in Exceptions.
	// +kubebuilder:validation:Enum=Block;Proceed
	// +kubebuilder:default=Block
	// +optional
	OnIncompatible string `json:"onIncompatible,omitempty"`
	// Exceptions are regexes accepted despite a difference (only with OnIncompatible=Proceed).
	// +optional
	Exceptions []string `json:"exceptions,omitempty"`
	// DenyPaths are regexes for request paths to deny with an RBAC filter using the Hyperscan matcher.
	// +optional
	DenyPaths []string `json:"denyPaths,omitempty"`
	// DenyUserAgents are regexes for User-Agent values to deny the same way.
	// +optional
	DenyUserAgents []string `json:"denyUserAgents,omitempty"`
}

// WAFFeature adds meshaccel's proxy-wasm WAF.
type WAFFeature struct {
	// Image is the plugin's OCI image, e.g. oci://registry.example/meshaccel/waf:v1.
	// +kubebuilder:validation:Pattern=`^oci://.+`
	Image string `json:"image"`
	// SHA256 of plugin.wasm, checked by the proxy before loading.
	// +kubebuilder:validation:Pattern=`^[a-f0-9]{64}$`
	// +optional
	SHA256 string `json:"sha256,omitempty"`
	// Mode blocks matching requests or only detects them.
	// +kubebuilder:validation:Enum=Block;Detect
	// +kubebuilder:default=Block
	// +optional
	Mode string `json:"mode,omitempty"`
	// Runtime selects the Wasm runtime: Default leaves it to Istio's WasmPlugin; WAMR renders an
	// EnvoyFilter that selects envoy.wasm.runtime.wamr.
	// +kubebuilder:validation:Enum=Default;WAMR
	// +kubebuilder:default=Default
	// +optional
	Runtime string `json:"runtime,omitempty"`
	// PluginConfig is passed to the plugin as is.
	// +optional
	PluginConfig *apiextensionsv1.JSON `json:"pluginConfig,omitempty"`
}

// ProxyFlavor names the kind of Envoy binary a workload runs.
// +kubebuilder:validation:Enum=IstioProxyV2;IstioContrib;EnvoyContrib;Custom
type ProxyFlavor string

const (
	// ProxyIstioProxyV2 is Istio's stock proxyv2 image, by version.
	ProxyIstioProxyV2 ProxyFlavor = "IstioProxyV2"
	// ProxyIstioContrib is an Istio proxy build that links Envoy's contrib extensions.
	ProxyIstioContrib ProxyFlavor = "IstioContrib"
	// ProxyEnvoyContrib is plain Envoy contrib, for non-Istio Envoy deployments.
	ProxyEnvoyContrib ProxyFlavor = "EnvoyContrib"
	// ProxyCustom is an image with a declared extension list.
	ProxyCustom ProxyFlavor = "Custom"
)

// ProxySpec describes a proxy binary.
// +kubebuilder:validation:XValidation:rule="self.flavor != 'Custom' || (has(self.extensions) && size(self.extensions) > 0)",message="a Custom proxy must declare its extensions"
type ProxySpec struct {
	Flavor ProxyFlavor `json:"flavor"`
	// Version of Istio (for Istio flavors) or Envoy (for EnvoyContrib), e.g. "1.28.2".
	// +kubebuilder:validation:Pattern=`^v?[0-9]+\.[0-9]+(\.[0-9]+)?(-.*)?$`
	// +optional
	Version string `json:"version,omitempty"`
	// Image, when set, is written to sidecar.istio.io/proxyImage on selected workloads that need an
	// extension the current proxy lacks. It must be an Istio proxy (a plain Envoy image has no
	// pilot-agent and cannot replace a sidecar).
	// +optional
	Image string `json:"image,omitempty"`
	// Extensions the Custom image contains (Envoy extension names).
	// +optional
	Extensions []string `json:"extensions,omitempty"`
}

// RolloutSpec controls pod-template changes.
type RolloutSpec struct {
	// Strategy Automatic applies pod-template changes (which rolls the pods); Manual applies everything
	// else and reports pod-template changes as pending.
	// +kubebuilder:validation:Enum=Automatic;Manual
	// +kubebuilder:default=Automatic
	// +optional
	Strategy RolloutStrategy `json:"strategy,omitempty"`
}

// RolloutStrategy decides whether pod templates are changed.
type RolloutStrategy string

const (
	RolloutAutomatic RolloutStrategy = "Automatic"
	RolloutManual    RolloutStrategy = "Manual"
)

// AccelerationPolicyStatus explains every decision.
type AccelerationPolicyStatus struct {
	// ObservedGeneration is the spec generation these results describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready (everything selected is as accelerated as it can be), Degraded (some feature is
	// not enabled for some workload, or pods run on nodes that no longer qualify).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// SelectedWorkloads counts the workloads the policy selects.
	// +optional
	SelectedWorkloads int32 `json:"selectedWorkloads"`
	// AcceleratedWorkloads counts selected workloads with at least one feature enabled.
	// +optional
	AcceleratedWorkloads int32 `json:"acceleratedWorkloads"`
	// Workloads holds one entry per selected workload.
	// +listType=map
	// +listMapKey=kind
	// +listMapKey=name
	// +optional
	Workloads []WorkloadStatus `json:"workloads,omitempty"`
}

// WorkloadStatus is the decision for one workload.
type WorkloadStatus struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Features has one entry per feature the policy asks for.
	// +listType=map
	// +listMapKey=feature
	Features []FeatureStatus `json:"features"`
	// MisplacedPods are running pods on nodes that cannot run an enabled feature.
	// +optional
	MisplacedPods []string `json:"misplacedPods,omitempty"`
}

// FeatureStatus says whether a feature is enabled for a workload, and why.
type FeatureStatus struct {
	Feature string `json:"feature"`
	Enabled bool   `json:"enabled"`
	// Reason is a CamelCase machine-readable reason.
	Reason string `json:"reason"`
	// Message explains the decision and its evidence.
	Message string `json:"message"`
}
