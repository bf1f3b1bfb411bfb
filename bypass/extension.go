package bypass

import (
	"github.com/meshaccel/meshaccel/extensions/capability"
)

// CgroupV2Label is published by the node agent through NFD's local feature files: nothing else in NFD
// sees whether the node runs cgroup v2.
const CgroupV2Label = "meshaccel.feature.node.kubernetes.io/cgroup-v2"

// Reasons returned by Extension.Supported.
const (
	ReasonSupported       = "KernelAndCgroupV2"
	ReasonCgroupV2Unknown = "CgroupV2Unknown"
	ReasonUnsupported     = "KernelOrCgroupUnsupported"
	ReasonNotLinux        = "KernelVersionUnknown"
)

// Extension implements capability.Extension for the TCP/IP bypass: a node qualifies with a kernel of
// at least MinKernel and cgroup v2.
type Extension struct{}

func (Extension) Feature() capability.Feature { return capability.Bypass }

// EnvoyExtensions is empty: the bypass works below the proxy.
func (Extension) EnvoyExtensions() []string { return nil }

func (Extension) Supported(node *capability.Node) capability.Support {
	kernel := capability.Evidence{Source: capability.SourceNodeInfo, Key: "status.nodeInfo.kernelVersion", Value: node.KernelVersion}
	if node.KernelVersion == "" {
		return capability.Unsupported(ReasonNotLinux, "the node reports no kernel version")
	}
	cgroup, known := node.FeatureLabels[CgroupV2Label]
	if !known {
		if ok, why := NodeSupport(node.KernelVersion, true); !ok {
			return capability.Unsupported(ReasonUnsupported, why, kernel)
		}
		return capability.Unsupported(ReasonCgroupV2Unknown,
			"no "+CgroupV2Label+" label yet: the meshaccel-bypass agent publishes it through NFD's local feature files once it has probed the node", kernel)
	}
	if ok, why := NodeSupport(node.KernelVersion, cgroup.Value == "true"); !ok {
		return capability.Unsupported(ReasonUnsupported, why, kernel, cgroup)
	}
	_, why := NodeSupport(node.KernelVersion, true)
	return capability.Supported(ReasonSupported, why, kernel, cgroup)
}
