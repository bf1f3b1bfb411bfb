// Package capability is the first intermediate representation of the translation: what each node
// offers (CPU flags, devices, allocatable resources, labels), each fact with the evidence that produced
// it, and the Extension interface that every feature package implements over it.
//
// The stages are: nodefeatures (signals → capability.Node) → each Extension's Supported → Build →
// plan → render/istio.
package capability

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Feature names a meshaccel feature. It is also the key used in policies and status.
type Feature string

const (
	CryptoMB  Feature = "cryptomb"
	QAT       Feature = "qat"
	DLB       Feature = "dlb"
	Hyperscan Feature = "hyperscan"
	WAF       Feature = "waf"
	Bypass    Feature = "bypass"
)

// SourceKind says which kind of signal a piece of evidence came from.
type SourceKind string

const (
	SourceNFDLabel        SourceKind = "nfd-label"         // feature.node.kubernetes.io/* built-in labels
	SourceMeshaccelLabel  SourceKind = "meshaccel-label"   // meshaccel's NodeFeatureRule labels
	SourceIntelLabel      SourceKind = "intel-label"       // Intel's NodeFeatureRule labels
	SourceNodeFeature     SourceKind = "nodefeature"       // raw NodeFeature object
	SourceAllocatable     SourceKind = "allocatable"       // node.status.allocatable
	SourceQATDevicePlugin SourceKind = "qat-device-plugin" // Intel QatDevicePlugin custom resource
	SourceNodeInfo        SourceKind = "node-info"         // node.status.nodeInfo / kubernetes.io/arch
)

// Evidence is one observed fact about a node.
type Evidence struct {
	Source SourceKind `json:"source"`
	// Key is the label, flag, resource or field name.
	Key string `json:"key"`
	// Value as observed.
	Value string `json:"value,omitempty"`
	// Object names the object the fact came from when it is not the Node itself.
	Object string `json:"object,omitempty"`
}

func (e Evidence) String() string {
	s := fmt.Sprintf("%s %s", e.Source, e.Key)
	if e.Value != "" {
		s += "=" + e.Value
	}
	if e.Object != "" {
		s += " (" + e.Object + ")"
	}
	return s
}

// PCIDevice is a PCI device seen on a node.
type PCIDevice struct {
	Vendor   string   `json:"vendor"`
	Device   string   `json:"device"`
	Evidence Evidence `json:"evidence"`
}

// QATProvisioning is what an Intel QatDevicePlugin that selects the node configures.
type QATProvisioning struct {
	// VFDrivers are the kernel VF drivers the plugin binds (4xxxvf for Gen4, c6xxvf for QAT 1.x, ...).
	VFDrivers []string `json:"vfDrivers"`
	Evidence  Evidence `json:"evidence"`
}

// Node is what meshaccel knows about one node's acceleration capabilities.
type Node struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"-"`
	Taints []corev1.Taint    `json:"-"`
	// Arch is the node's CPU architecture (amd64, arm64, ...).
	Arch          string   `json:"arch"`
	ArchEvidence  Evidence `json:"archEvidence"`
	KernelVersion string   `json:"kernelVersion,omitempty"`
	// CPUFlags maps each CPU flag seen (AVX512F, BMI2, ...) to where it was seen.
	CPUFlags map[string]Evidence `json:"cpuFlags,omitempty"`
	// CPUFlagsComplete is true when a source listed every CPU flag (a raw NodeFeature, or NFD labels
	// with nothing hidden), so an absent flag is really absent.
	CPUFlagsComplete bool `json:"cpuFlagsComplete"`
	// FeatureLabels are meshaccel's and Intel's NodeFeatureRule labels present on the node.
	FeatureLabels map[string]Evidence `json:"featureLabels,omitempty"`
	PCIDevices    []PCIDevice         `json:"pciDevices,omitempty"`
	// Allocatable holds the extended resources meshaccel cares about (qat.intel.com/*, dlb.intel.com/*).
	Allocatable     map[corev1.ResourceName]resource.Quantity `json:"allocatable,omitempty"`
	QATProvisioning []QATProvisioning                         `json:"qatProvisioning,omitempty"`
}

// HasAllocatable reports whether the node offers at least one unit of the resource, with evidence.
func (n *Node) HasAllocatable(name corev1.ResourceName) (Evidence, bool) {
	q, ok := n.Allocatable[name]
	if !ok || q.Sign() <= 0 {
		return Evidence{}, false
	}
	return Evidence{Source: SourceAllocatable, Key: string(name), Value: q.String()}, true
}

// HasPCIDevice returns the first PCI device with the vendor and one of the device ids.
func (n *Node) HasPCIDevice(vendor string, devices ...string) (PCIDevice, bool) {
	for _, d := range n.PCIDevices {
		if !strings.EqualFold(d.Vendor, vendor) {
			continue
		}
		for _, want := range devices {
			if strings.EqualFold(d.Device, want) {
				return d, true
			}
		}
	}
	return PCIDevice{}, false
}

// Support is an Extension's answer for one node.
type Support struct {
	Supported bool `json:"supported"`
	// Reason is CamelCase and stable, for status and tests.
	Reason string `json:"reason"`
	// Message explains the decision to a person.
	Message  string     `json:"message"`
	Evidence []Evidence `json:"evidence,omitempty"`
}

// Supported builds a positive answer.
func Supported(reason, message string, evidence ...Evidence) Support {
	return Support{Supported: true, Reason: reason, Message: message, Evidence: evidence}
}

// Unsupported builds a negative answer.
func Unsupported(reason, message string, evidence ...Evidence) Support {
	return Support{Supported: false, Reason: reason, Message: message, Evidence: evidence}
}

// Extension is one accelerated Envoy feature. Implementations are small and pure: they interpret a
// node's capability and build typed Envoy configuration; the translator does the rest.
type Extension interface {
	// Feature is the policy key of this extension.
	Feature() Feature
	// EnvoyExtensions lists the Envoy extension names the proxy binary must contain.
	EnvoyExtensions() []string
	// Supported says whether a node can run the feature, with the reason and evidence.
	Supported(node *Node) Support
}

// SortedEvidence returns the map's evidence ordered by key, for deterministic output.
func SortedEvidence(m map[string]Evidence) []Evidence {
	out := make([]Evidence, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
