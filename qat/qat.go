// Package qat is the QAT extension: Envoy's Intel QuickAssist TLS private-key provider
// (envoy.tls.key_providers.qat). Envoy's provider supports QAT Gen4 and later, RSA keys only.
package qat

import (
	"fmt"
	"slices"
	"strings"
	"time"

	qatv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/private_key_providers/qat/v3alpha"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/extensions/keyprovider"
)

// Extended resources of Intel's QAT device plugin (literals there, not exported).
const (
	// ResourceCrypto is a Gen4 VF provisioned for sym;asym: what the TLS provider needs.
	ResourceCrypto corev1.ResourceName = "qat.intel.com/cy"
	// ResourceGeneric is what the plugin exposes for QAT 1.x devices, which Envoy does not support.
	ResourceGeneric corev1.ResourceName = "qat.intel.com/generic"
	// ResourceCompression is a Gen4 VF provisioned for dc only.
	ResourceCompression corev1.ResourceName = "qat.intel.com/dc"
)

// Node labels of meshaccel's NodeFeatureRules.
const (
	LabelGen4   = "meshaccel.feature.node.kubernetes.io/qat-gen4"
	LabelLegacy = "meshaccel.feature.node.kubernetes.io/qat-legacy"
)

// IntelVendor and the PCI device ids of QAT Gen4 physical and virtual functions, and of QAT 1.x.
const IntelVendor = "8086"

var (
	Gen4DeviceIDs   = []string{"4940", "4942", "4944", "4946", "4948"}
	LegacyDeviceIDs = []string{"37c8", "37c9", "19e2", "18a0", "18a1", "19e3", "6f54", "6f55"}
	gen4VFDrivers   = []string{"4xxxvf", "420xxvf"}
)

// Reasons returned by Supported.
const (
	ReasonCryptoAllocatable    = "CryptoAllocatable"
	ReasonLegacyDevice         = "LegacyQATNotSupported"
	ReasonCompressionOnly      = "ProvisionedForCompressionOnly"
	ReasonNoDevicePlugin       = "Gen4WithoutDevicePlugin"
	ReasonLegacyDevicePlugin   = "DevicePluginBindsLegacyDriver"
	ReasonNoQAT                = "NoQATDevice"
	ReasonAllocatableExhausted = "NoAllocatableCrypto"
)

// Extension implements capability.Extension for QAT.
type Extension struct{}

func (Extension) Feature() capability.Feature { return capability.QAT }

func (Extension) EnvoyExtensions() []string { return []string{capability.ExtQAT} }

// Supported needs the qat.intel.com/cy resource: only then can a pod get a Gen4 crypto VF. Everything
// else is reported precisely so the user knows what to fix.
func (Extension) Supported(node *capability.Node) capability.Support {
	if ev, ok := node.HasAllocatable(ResourceCrypto); ok {
		evidence := []capability.Evidence{ev}
		for _, p := range node.QATProvisioning {
			evidence = append(evidence, p.Evidence)
		}
		return capability.Supported(ReasonCryptoAllocatable, "node offers QAT Gen4 crypto VFs ("+string(ResourceCrypto)+")", evidence...)
	}
	if ev, ok := node.HasAllocatable(ResourceGeneric); ok {
		return capability.Unsupported(ReasonLegacyDevice, "QAT 1.x (qat.intel.com/generic) is not supported by Envoy's QAT provider, which needs Gen4 or later", ev)
	}
	if d, ok := node.HasPCIDevice(IntelVendor, LegacyDeviceIDs...); ok {
		if _, gen4 := node.HasPCIDevice(IntelVendor, Gen4DeviceIDs...); !gen4 {
			return capability.Unsupported(ReasonLegacyDevice, fmt.Sprintf("QAT 1.x device %s:%s is not supported by Envoy's QAT provider, which needs Gen4 or later", d.Vendor, d.Device), d.Evidence)
		}
	}
	if ev, ok := node.FeatureLabels[LabelLegacy]; ok && ev.Value == "true" {
		if _, gen4 := node.FeatureLabels[LabelGen4]; !gen4 {
			return capability.Unsupported(ReasonLegacyDevice, "QAT 1.x device is not supported by Envoy's QAT provider, which needs Gen4 or later", ev)
		}
	}
	if ev, ok := node.HasAllocatable(ResourceCompression); ok {
		return capability.Unsupported(ReasonCompressionOnly, "QAT VFs on this node are provisioned for compression only (qat.intel.com/dc); TLS needs sym;asym (qat.intel.com/cy)", ev)
	}
	for _, p := range node.QATProvisioning {
		if len(p.VFDrivers) > 0 && !slices.ContainsFunc(p.VFDrivers, func(d string) bool { return slices.Contains(gen4VFDrivers, d) }) {
			return capability.Unsupported(ReasonLegacyDevicePlugin, "the QatDevicePlugin for this node binds "+strings.Join(p.VFDrivers, ",")+", not a Gen4 VF driver (4xxxvf)", p.Evidence)
		}
	}
	gen4Evidence, gen4 := gen4Device(node)
	if gen4 {
		if _, listed := node.Allocatable[ResourceCrypto]; listed {
			return capability.Unsupported(ReasonAllocatableExhausted, "node lists "+string(ResourceCrypto)+" with zero allocatable", gen4Evidence)
		}
		return capability.Unsupported(ReasonNoDevicePlugin, "a QAT Gen4 device is present but the node offers no "+string(ResourceCrypto)+": deploy Intel's QAT device plugin with sym;asym provisioning", gen4Evidence)
	}
	return capability.Unsupported(ReasonNoQAT, "no QAT device or "+string(ResourceCrypto)+" resource on this node")
}

func gen4Device(node *capability.Node) (capability.Evidence, bool) {
	if d, ok := node.HasPCIDevice(IntelVendor, Gen4DeviceIDs...); ok {
		return d.Evidence, true
	}
	if ev, ok := node.FeatureLabels[LabelGen4]; ok && ev.Value == "true" {
		return ev, true
	}
	return capability.Evidence{}, false
}

// Build returns the typed Envoy private-key provider.
func Build(pollDelay time.Duration, privateKey *corev3.DataSource) (*tlsv3.PrivateKeyProvider, error) {
	if err := keyprovider.ValidatePollDelay(pollDelay); err != nil {
		return nil, err
	}
	return keyprovider.Provider(capability.ExtQAT, &qatv3alpha.QatPrivateKeyMethodConfig{
		PrivateKey: privateKey,
		PollDelay:  durationpb.New(pollDelay),
	})
}
