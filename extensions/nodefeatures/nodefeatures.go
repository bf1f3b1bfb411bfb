// Package nodefeatures is stage 1 of the translation: it reads every node signal (NFD built-in labels,
// meshaccel's and Intel's NodeFeatureRule labels, raw NodeFeature objects, allocatable extended
// resources, Intel QatDevicePlugin objects, node info) into a capability.Node, keeping the evidence for
// each fact so that explain can print it. It interprets nothing: the feature packages do.
package nodefeatures

import (
	"fmt"
	"sort"
	"strings"

	devicepluginv1 "github.com/intel/intel-device-plugins-for-kubernetes/pkg/apis/deviceplugin/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	"github.com/meshaccel/meshaccel/extensions/capability"
)

// Label prefixes and names read from nodes.
const (
	NFDCPUIDLabelPrefix   = "feature.node.kubernetes.io/cpu-cpuid."
	NFDPCILabelPrefix     = "feature.node.kubernetes.io/pci-"
	NFDKernelVersionLabel = "feature.node.kubernetes.io/kernel-version.full"
	MeshaccelLabelPrefix  = "meshaccel.feature.node.kubernetes.io/"
	IntelLabelPrefix      = "intel.feature.node.kubernetes.io/"
	ArchLabel             = "kubernetes.io/arch"
)

// Extended resources meshaccel reads from allocatable. Intel's device plugins define them as literals.
var trackedResourcePrefixes = []string{"qat.intel.com/", "dlb.intel.com/"}

// Nodes builds the capability of every node, sorted by name.
func Nodes(nodes []corev1.Node, features []nfdv1alpha1.NodeFeature, qatPlugins []devicepluginv1.QatDevicePlugin) []*capability.Node {
	featuresByNode := map[string][]*nfdv1alpha1.NodeFeature{}
	for i := range features {
		nf := &features[i]
		nodeName := nf.Labels[nfdv1alpha1.NodeFeatureObjNodeNameLabel]
		if nodeName == "" {
			continue
		}
		featuresByNode[nodeName] = append(featuresByNode[nodeName], nf)
	}
	out := make([]*capability.Node, 0, len(nodes))
	for i := range nodes {
		out = append(out, Node(&nodes[i], featuresByNode[nodes[i].Name], qatPlugins))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Node builds one node's capability from the node and the NodeFeature objects that target it.
func Node(node *corev1.Node, features []*nfdv1alpha1.NodeFeature, qatPlugins []devicepluginv1.QatDevicePlugin) *capability.Node {
	c := &capability.Node{
		Name:          node.Name,
		Labels:        node.Labels,
		Taints:        node.Spec.Taints,
		KernelVersion: node.Status.NodeInfo.KernelVersion,
		CPUFlags:      map[string]capability.Evidence{},
		FeatureLabels: map[string]capability.Evidence{},
		Allocatable:   map[corev1.ResourceName]resource.Quantity{},
	}
	readArch(c, node)
	readLabels(c, node.Labels)
	for _, nf := range sortedNodeFeatures(features) {
		readNodeFeature(c, nf)
	}
	readAllocatable(c, node.Status.Allocatable)
	readQATDevicePlugins(c, node.Labels, qatPlugins)
	sort.Slice(c.PCIDevices, func(i, j int) bool {
		a, b := c.PCIDevices[i], c.PCIDevices[j]
		if a.Vendor+a.Device != b.Vendor+b.Device {
			return a.Vendor+a.Device < b.Vendor+b.Device
		}
		return a.Evidence.String() < b.Evidence.String()
	})
	return c
}

func readArch(c *capability.Node, node *corev1.Node) {
	if arch := node.Labels[ArchLabel]; arch != "" {
		c.Arch = arch
		c.ArchEvidence = capability.Evidence{Source: capability.SourceNodeInfo, Key: ArchLabel, Value: arch}
		return
	}
	if arch := node.Status.NodeInfo.Architecture; arch != "" {
		c.Arch = arch
		c.ArchEvidence = capability.Evidence{Source: capability.SourceNodeInfo, Key: "status.nodeInfo.architecture", Value: arch}
	}
}

func readLabels(c *capability.Node, nodeLabels map[string]string) {
	for key, value := range nodeLabels {
		switch {
		case strings.HasPrefix(key, NFDCPUIDLabelPrefix):
			if value == "true" {
				flag := strings.TrimPrefix(key, NFDCPUIDLabelPrefix)
				c.CPUFlags[flag] = capability.Evidence{Source: capability.SourceNFDLabel, Key: key, Value: value}
			}
		case strings.HasPrefix(key, MeshaccelLabelPrefix):
			c.FeatureLabels[key] = capability.Evidence{Source: capability.SourceMeshaccelLabel, Key: key, Value: value}
		case strings.HasPrefix(key, IntelLabelPrefix):
			c.FeatureLabels[key] = capability.Evidence{Source: capability.SourceIntelLabel, Key: key, Value: value}
		case strings.HasPrefix(key, NFDPCILabelPrefix) && strings.HasSuffix(key, ".present") && value == "true":
			// feature.node.kubernetes.io/pci-<class>_<vendor>[_<device>].present: the default label
			// carries class and vendor only, so a device id is known only when NFD was configured to
			// include it.
			fields := strings.Split(strings.TrimSuffix(strings.TrimPrefix(key, NFDPCILabelPrefix), ".present"), "_")
			if len(fields) == 3 {
				c.PCIDevices = append(c.PCIDevices, capability.PCIDevice{
					Vendor: fields[1], Device: fields[2],
					Evidence: capability.Evidence{Source: capability.SourceNFDLabel, Key: key, Value: value},
				})
			}
		}
	}
	if v := nodeLabels[NFDKernelVersionLabel]; v != "" && c.KernelVersion == "" {
		c.KernelVersion = v
	}
}

func sortedNodeFeatures(features []*nfdv1alpha1.NodeFeature) []*nfdv1alpha1.NodeFeature {
	out := append([]*nfdv1alpha1.NodeFeature(nil), features...)
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out
}

func readNodeFeature(c *capability.Node, nf *nfdv1alpha1.NodeFeature) {
	object := fmt.Sprintf("NodeFeature %s/%s", nf.Namespace, nf.Name)
	if cpuid, ok := nf.Spec.Features.Flags["cpu.cpuid"]; ok && len(cpuid.Elements) > 0 {
		// A raw cpuid feature set lists every flag, so an absent flag is really absent.
		c.CPUFlagsComplete = true
		for flag := range cpuid.Elements {
			if _, seen := c.CPUFlags[flag]; !seen || c.CPUFlags[flag].Source == capability.SourceNFDLabel {
				c.CPUFlags[flag] = capability.Evidence{Source: capability.SourceNodeFeature, Key: "cpu.cpuid." + flag, Object: object}
			}
		}
	}
	if pci, ok := nf.Spec.Features.Instances["pci.device"]; ok {
		for _, dev := range pci.Elements {
			vendor, device := dev.Attributes["vendor"], dev.Attributes["device"]
			if vendor == "" || device == "" {
				continue
			}
			c.PCIDevices = append(c.PCIDevices, capability.PCIDevice{
				Vendor: vendor, Device: device,
				Evidence: capability.Evidence{Source: capability.SourceNodeFeature, Key: "pci.device", Value: vendor + ":" + device, Object: object},
			})
		}
	}
	if kernel, ok := nf.Spec.Features.Attributes["kernel.version"]; ok && c.KernelVersion == "" {
		c.KernelVersion = kernel.Elements["full"]
	}
	// Labels a NodeFeature requests are applied to the node by nfd-master; read them too, because the
	// master may not have run yet.
	for key, value := range nf.Spec.Labels {
		full := key
		if !strings.Contains(key, "/") {
			full = nfdv1alpha1.FeatureLabelNs + "/" + key
		}
		if strings.HasPrefix(full, MeshaccelLabelPrefix) {
			if _, seen := c.FeatureLabels[full]; !seen {
				c.FeatureLabels[full] = capability.Evidence{Source: capability.SourceNodeFeature, Key: full, Value: value, Object: object}
			}
		}
	}
}

func readAllocatable(c *capability.Node, allocatable corev1.ResourceList) {
	for name, quantity := range allocatable {
		for _, prefix := range trackedResourcePrefixes {
			if strings.HasPrefix(string(name), prefix) {
				c.Allocatable[name] = quantity
			}
		}
	}
}

func readQATDevicePlugins(c *capability.Node, nodeLabels map[string]string, plugins []devicepluginv1.QatDevicePlugin) {
	for i := range plugins {
		p := &plugins[i]
		if !labels.SelectorFromSet(p.Spec.NodeSelector).Matches(labels.Set(nodeLabels)) {
			continue
		}
		drivers := make([]string, 0, len(p.Spec.KernelVfDrivers))
		for _, d := range p.Spec.KernelVfDrivers {
			drivers = append(drivers, string(d))
		}
		value := "kernelVfDrivers=" + strings.Join(drivers, ",")
		if p.Spec.ProvisioningConfig != "" {
			value += " provisioningConfig=" + p.Spec.ProvisioningConfig
		}
		c.QATProvisioning = append(c.QATProvisioning, capability.QATProvisioning{
			VFDrivers: drivers,
			Evidence:  capability.Evidence{Source: capability.SourceQATDevicePlugin, Key: "spec", Value: value, Object: "QatDevicePlugin " + p.Name},
		})
	}
}
