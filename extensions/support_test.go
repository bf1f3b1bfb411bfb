package extensions_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	devicepluginv1 "github.com/intel/intel-device-plugins-for-kubernetes/pkg/apis/deviceplugin/v1"

	"github.com/meshaccel/meshaccel/bypass"
	"github.com/meshaccel/meshaccel/cryptomb"
	"github.com/meshaccel/meshaccel/dlb"
	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/extensions/nodefeatures"
	"github.com/meshaccel/meshaccel/hyperscan"
	"github.com/meshaccel/meshaccel/qat"
)

// nodeOf builds a node from labels and allocatable, the way the API server would hold it.
func nodeOf(labels map[string]string, allocatable map[string]string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: labels}}
	n.Status.Allocatable = corev1.ResourceList{}
	for k, v := range allocatable {
		n.Status.Allocatable[corev1.ResourceName(k)] = resource.MustParse(v)
	}
	return n
}

func cpuidLabels(arch string, flags ...string) map[string]string {
	l := map[string]string{"kubernetes.io/arch": arch}
	for _, f := range flags {
		l[nodefeatures.NFDCPUIDLabelPrefix+f] = "true"
	}
	return l
}

func rawNodeFeature(node string, flags []string, pci ...[2]string) nfdv1alpha1.NodeFeature {
	nf := nfdv1alpha1.NodeFeature{ObjectMeta: metav1.ObjectMeta{Name: node + "-nf", Namespace: "nfd", Labels: map[string]string{nfdv1alpha1.NodeFeatureObjNodeNameLabel: node}}}
	nf.Spec.Features = *nfdv1alpha1.NewFeatures()
	elems := map[string]nfdv1alpha1.Nil{}
	for _, f := range flags {
		elems[f] = nfdv1alpha1.Nil{}
	}
	nf.Spec.Features.Flags["cpu.cpuid"] = nfdv1alpha1.FlagFeatureSet{Elements: elems}
	var devs []nfdv1alpha1.InstanceFeature
	for _, p := range pci {
		devs = append(devs, nfdv1alpha1.InstanceFeature{Attributes: map[string]string{"vendor": p[0], "device": p[1], "class": "0b40"}})
	}
	nf.Spec.Features.Instances["pci.device"] = nfdv1alpha1.InstanceFeatureSet{Elements: devs}
	return nf
}

var avx512Labels = []string{"AVX512F", "AVX512DQ", "AVX512BW", "AVX512IFMA", "AVX512VBMI2"}

func TestSupportedReasons(t *testing.T) {
	allSix := append([]string{"BMI2", "SSSE3"}, avx512Labels...)
	tests := []struct {
		name       string
		ext        capability.Extension
		node       corev1.Node
		features   []nfdv1alpha1.NodeFeature
		qatPlugins []devicepluginv1.QatDevicePlugin
		supported  bool
		reason     string
		evidence   string // one evidence line that must be present
	}{
		{name: "cryptomb from meshaccel label", ext: cryptomb.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64", cryptomb.NodeLabel: "true"}, nil),
			supported: true, reason: cryptomb.ReasonNodeFeatureRuleLabel, evidence: "meshaccel-label " + cryptomb.NodeLabel + "=true"},
		{name: "cryptomb from raw NodeFeature flags", ext: cryptomb.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64"}, nil),
			features:  []nfdv1alpha1.NodeFeature{rawNodeFeature("n1", allSix)},
			supported: true, reason: cryptomb.ReasonAllCPUFlags, evidence: "nodefeature cpu.cpuid.BMI2 (NodeFeature nfd/n1-nf)"},
		{name: "cryptomb with default NFD labels hides BMI2", ext: cryptomb.Extension{},
			node:      nodeOf(cpuidLabels("amd64", avx512Labels...), nil),
			supported: false, reason: cryptomb.ReasonBMI2NotVisible},
		{name: "cryptomb missing IFMA in raw flags", ext: cryptomb.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64"}, nil),
			features:  []nfdv1alpha1.NodeFeature{rawNodeFeature("n1", []string{"BMI2", "AVX512F", "AVX512DQ", "AVX512BW", "AVX512VBMI2"})},
			supported: false, reason: cryptomb.ReasonMissingCPUFlags},
		{name: "cryptomb on arm64", ext: cryptomb.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "arm64", cryptomb.NodeLabel: "true"}, nil),
			supported: false, reason: cryptomb.ReasonNotX86},
		{name: "qat gen4 crypto allocatable", ext: qat.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64"}, map[string]string{"qat.intel.com/cy": "4"}),
			supported: true, reason: qat.ReasonCryptoAllocatable, evidence: "allocatable qat.intel.com/cy=4"},
		{name: "qat 1.x generic allocatable", ext: qat.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64", "intel.feature.node.kubernetes.io/qat": "true"}, map[string]string{"qat.intel.com/generic": "8"}),
			supported: false, reason: qat.ReasonLegacyDevice},
		{name: "qat 1.x PCI id", ext: qat.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64"}, nil),
			features:  []nfdv1alpha1.NodeFeature{rawNodeFeature("n1", nil, [2]string{"8086", "37c8"})},
			supported: false, reason: qat.ReasonLegacyDevice, evidence: "nodefeature pci.device=8086:37c8 (NodeFeature nfd/n1-nf)"},
		{name: "qat gen4 without device plugin", ext: qat.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64"}, nil),
			features:  []nfdv1alpha1.NodeFeature{rawNodeFeature("n1", nil, [2]string{"8086", "4940"})},
			supported: false, reason: qat.ReasonNoDevicePlugin},
		{name: "qat compression only", ext: qat.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64"}, map[string]string{"qat.intel.com/dc": "4"}),
			supported: false, reason: qat.ReasonCompressionOnly},
		{name: "qat device plugin binding a legacy driver", ext: qat.Extension{},
			node: nodeOf(map[string]string{"kubernetes.io/arch": "amd64", "qat": "yes"}, nil),
			qatPlugins: []devicepluginv1.QatDevicePlugin{{ObjectMeta: metav1.ObjectMeta{Name: "qat"},
				Spec: devicepluginv1.QatDevicePluginSpec{NodeSelector: map[string]string{"qat": "yes"}, KernelVfDrivers: []devicepluginv1.KernelVfDriver{"c6xxvf"}}}},
			supported: false, reason: qat.ReasonLegacyDevicePlugin},
		{name: "qat zero allocatable", ext: qat.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64", qat.LabelGen4: "true"}, map[string]string{"qat.intel.com/cy": "0"}),
			supported: false, reason: qat.ReasonAllocatableExhausted},
		{name: "no qat", ext: qat.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64"}, nil),
			supported: false, reason: qat.ReasonNoQAT},
		{name: "dlb pf", ext: dlb.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64"}, map[string]string{"dlb.intel.com/pf": "1"}),
			supported: true, reason: dlb.ReasonAllocatable},
		{name: "dlb device without plugin", ext: dlb.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64", dlb.NodeLabel: "true"}, nil),
			supported: false, reason: dlb.ReasonNoDevicePlugin},
		{name: "no dlb", ext: dlb.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64"}, nil),
			supported: false, reason: dlb.ReasonNoDLB},
		{name: "hyperscan amd64", ext: hyperscan.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64"}, nil),
			supported: true, reason: hyperscan.ReasonX86SSSE3},
		{name: "hyperscan amd64 without SSSE3 in complete flags", ext: hyperscan.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "amd64"}, nil),
			features:  []nfdv1alpha1.NodeFeature{rawNodeFeature("n1", []string{"SSE2"})},
			supported: false, reason: hyperscan.ReasonNoSSSE3},
		{name: "hyperscan arm64 via vectorscan", ext: hyperscan.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "arm64"}, nil),
			supported: true, reason: hyperscan.ReasonArm64},
		{name: "hyperscan s390x", ext: hyperscan.Extension{},
			node:      nodeOf(map[string]string{"kubernetes.io/arch": "s390x"}, nil),
			supported: false, reason: hyperscan.ReasonUnsupportedArc},
		{name: "hyperscan unknown arch", ext: hyperscan.Extension{},
			node:      nodeOf(nil, nil),
			supported: false, reason: hyperscan.ReasonUnknownArch},
	}
	withKernel := func(n corev1.Node, kernel string) corev1.Node {
		n.Status.NodeInfo.KernelVersion = kernel
		return n
	}
	tests = append(tests, []struct {
		name       string
		ext        capability.Extension
		node       corev1.Node
		features   []nfdv1alpha1.NodeFeature
		qatPlugins []devicepluginv1.QatDevicePlugin
		supported  bool
		reason     string
		evidence   string
	}{
		{name: "bypass on 6.8 with cgroup v2", ext: bypass.Extension{},
			node:      withKernel(nodeOf(map[string]string{bypass.CgroupV2Label: "true"}, nil), "6.8.0-1015-aws"),
			supported: true, reason: bypass.ReasonSupported, evidence: "meshaccel-label " + bypass.CgroupV2Label + "=true"},
		{name: "bypass on 5.4", ext: bypass.Extension{},
			node:      withKernel(nodeOf(map[string]string{bypass.CgroupV2Label: "true"}, nil), "5.4.0-216-generic"),
			supported: false, reason: bypass.ReasonUnsupported},
		{name: "bypass on cgroup v1", ext: bypass.Extension{},
			node:      withKernel(nodeOf(map[string]string{bypass.CgroupV2Label: "false"}, nil), "6.1.0"),
			supported: false, reason: bypass.ReasonUnsupported},
		{name: "bypass before the agent probed", ext: bypass.Extension{},
			node:      withKernel(nodeOf(nil, nil), "6.1.0"),
			supported: false, reason: bypass.ReasonCgroupV2Unknown},
		{name: "bypass without a kernel version", ext: bypass.Extension{},
			node:      nodeOf(nil, nil),
			supported: false, reason: bypass.ReasonNotLinux},
	}...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes := nodefeatures.Nodes([]corev1.Node{tc.node}, tc.features, tc.qatPlugins)
			got := tc.ext.Supported(nodes[0])
			if got.Supported != tc.supported || got.Reason != tc.reason {
				t.Fatalf("Supported = (%v, %s: %s), want (%v, %s)", got.Supported, got.Reason, got.Message, tc.supported, tc.reason)
			}
			if got.Message == "" {
				t.Error("a decision must explain itself: empty message")
			}
			if tc.evidence != "" {
				found := false
				for _, ev := range got.Evidence {
					found = found || ev.String() == tc.evidence
				}
				if !found {
					t.Errorf("evidence %v lacks %q", got.Evidence, tc.evidence)
				}
			}
		})
	}
}
