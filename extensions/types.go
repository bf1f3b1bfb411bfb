// Package extensions is meshaccel's core: Translate turns nodes, workloads, policies and the proxy
// flavor into the Istio objects to apply and an explanation of every decision. It is pure (no cluster
// I/O) and deterministic, so the CLI, the operator, the golden tests and the benchmarks share it.
package extensions

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	devicepluginv1 "github.com/intel/intel-device-plugins-for-kubernetes/pkg/apis/deviceplugin/v1"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istionetworkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/extensions/render/istio"
	"github.com/meshaccel/meshaccel/hyperscan"
)

// Input is everything Translate reads. Slices need not be sorted.
type Input struct {
	Nodes            []corev1.Node
	NodeFeatures     []nfdv1alpha1.NodeFeature
	QATDevicePlugins []devicepluginv1.QatDevicePlugin
	Pods             []corev1.Pod
	Deployments      []appsv1.Deployment
	StatefulSets     []appsv1.StatefulSet
	Policies         []v1alpha1.AccelerationPolicy
	// VirtualServices and EnvoyFilters are read for the regexes that reach each proxy (the Hyperscan
	// gate) and, for EnvoyFilters, to detect name clashes with objects meshaccel would create.
	VirtualServices []*istionetworkingv1.VirtualService
	EnvoyFilters    []*istionetworkingv1alpha3.EnvoyFilter
	// DefaultProxy is the proxy workloads run unless their policy says otherwise.
	DefaultProxy capability.Proxy
	// SystemNamespace is where meshaccel runs; cluster-level objects (the bypass node list) go there.
	// Empty means they are not rendered.
	SystemNamespace string
	// RegexChecker decides Hyperscan compatibility. Without one, the Hyperscan regex engine is never
	// enabled.
	RegexChecker hyperscan.RegexChecker
}

// Object is a whole Kubernetes object meshaccel owns (ConfigMap, EnvoyFilter, WasmPlugin).
type Object = istio.Object

// Result is what Translate decided.
type Result struct {
	// Objects are the whole objects to apply, sorted by kind, namespace and name. Every one carries the
	// meshaccel ownership labels.
	Objects []Object
	// WorkloadPatches are server-side apply configurations holding exactly the workload fields meshaccel
	// owns, one per selected workload (possibly empty, so applying it drops fields no longer wanted).
	WorkloadPatches []WorkloadPatch
	// Workloads holds the decision per selected workload and feature.
	Workloads []WorkloadDecision
	// Nodes holds each node's capability and per-feature support, for explain.
	Nodes []NodeReport
	// Policies holds the status each policy should have.
	Policies []PolicyResult
}

// WorkloadRef names a Deployment or StatefulSet.
type WorkloadRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (w WorkloadRef) String() string { return w.Kind + "/" + w.Namespace + "/" + w.Name }

// WorkloadPatch is the apply configuration for one workload.
type WorkloadPatch struct {
	Workload WorkloadRef `json:"workload"`
	Policy   string      `json:"policy"`
	// Apply is an apps/v1 Deployment or StatefulSet apply configuration.
	Apply runtime.ApplyConfiguration `json:"apply"`
	// Pending is true when the policy's rollout strategy is Manual: the change that Apply carries is
	// reported but not to be applied to the pod template.
	Pending bool `json:"pending,omitempty"`
}

// WorkloadDecision explains what was decided for one workload.
type WorkloadDecision struct {
	Workload WorkloadRef `json:"workload"`
	Policy   string      `json:"policy"`
	Gateway  bool        `json:"gateway"`
	Proxy    string      `json:"proxy"`
	// CandidateNodes are the nodes the workload's own scheduling constraints allow.
	CandidateNodes []string          `json:"candidateNodes"`
	Features       []FeatureDecision `json:"features"`
	// MisplacedPods are running pods on nodes that cannot run an enabled feature.
	MisplacedPods []string `json:"misplacedPods,omitempty"`
}

// FeatureDecision is the decision for one feature of one workload.
type FeatureDecision struct {
	Feature capability.Feature `json:"feature"`
	Enabled bool               `json:"enabled"`
	// Reason is CamelCase and stable.
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// CapableNodes are the candidate nodes that support the feature.
	CapableNodes []string `json:"capableNodes,omitempty"`
	// Evidence lines support the decision (node signals, proxy facts, regex verdicts).
	Evidence []string `json:"evidence,omitempty"`
}

// NodeReport is one node's capability and what each extension made of it.
type NodeReport struct {
	Node    *capability.Node                          `json:"node"`
	Support map[capability.Feature]capability.Support `json:"support"`
}

// PolicyResult is the status a policy should carry.
type PolicyResult struct {
	Namespace string                            `json:"namespace"`
	Name      string                            `json:"name"`
	Status    v1alpha1.AccelerationPolicyStatus `json:"status"`
}
