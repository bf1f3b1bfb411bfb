// Package dlb is the DLB extension: Envoy's Intel Dynamic Load Balancer connection balancer
// (envoy.network.connection_balance.dlb). Experimental: Envoy disabled it in 1.35 (envoy#45568) and
// Intel deprecated its DLB device plugin, so it is offered only to proxies that still contain it.
package dlb

import (
	"fmt"

	dlbv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/network/connection_balance/dlb/v3alpha"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/anypb"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshaccel/meshaccel/extensions/capability"
)

// Extended resources of Intel's DLB device plugin.
const (
	ResourcePF corev1.ResourceName = "dlb.intel.com/pf"
	ResourceVF corev1.ResourceName = "dlb.intel.com/vf"
)

// NodeLabel is published by meshaccel's NodeFeatureRule for PCI 8086:2710.
const NodeLabel = "meshaccel.feature.node.kubernetes.io/dlb"

// PCI ids of the DLB 2.0 device.
const (
	IntelVendor = "8086"
	DeviceID    = "2710"
)

// MaxConcurrency is the most Envoy worker threads the DLB balancer supports.
const MaxConcurrency = 32

// Reasons returned by Supported.
const (
	ReasonAllocatable    = "DLBAllocatable"
	ReasonNoDevicePlugin = "DeviceWithoutDevicePlugin"
	ReasonNoDLB          = "NoDLBDevice"
)

// Extension implements capability.Extension for DLB.
type Extension struct{}

func (Extension) Feature() capability.Feature { return capability.DLB }

func (Extension) EnvoyExtensions() []string { return []string{capability.ExtDLB} }

// Supported needs a DLB physical or virtual function the pod can be given.
func (Extension) Supported(node *capability.Node) capability.Support {
	for _, r := range []corev1.ResourceName{ResourcePF, ResourceVF} {
		if ev, ok := node.HasAllocatable(r); ok {
			return capability.Supported(ReasonAllocatable, "node offers "+string(r), ev)
		}
	}
	if d, ok := node.HasPCIDevice(IntelVendor, DeviceID); ok {
		return capability.Unsupported(ReasonNoDevicePlugin, "a DLB device is present but the node offers no dlb.intel.com/pf or /vf: deploy Intel's DLB device plugin", d.Evidence)
	}
	if ev, ok := node.FeatureLabels[NodeLabel]; ok && ev.Value == "true" {
		return capability.Unsupported(ReasonNoDevicePlugin, "a DLB device is present but the node offers no dlb.intel.com/pf or /vf: deploy Intel's DLB device plugin", ev)
	}
	return capability.Unsupported(ReasonNoDLB, "no DLB device or dlb.intel.com resource on this node")
}

// Settings of the balancer.
type Settings struct {
	ID             uint32
	MaxRetries     uint32
	FallbackPolicy string
}

// Build returns the Listener fields to merge: connection_balance_config.extend_balance with the DLB
// balancer.
func Build(s Settings) (*listenerv3.Listener, error) {
	policy, ok := dlbv3alpha.Dlb_FallbackPolicy_value[s.FallbackPolicy]
	if !ok {
		return nil, fmt.Errorf("fallbackPolicy %q is not one of None, NopConnectionBalance, ExactConnectionBalance", s.FallbackPolicy)
	}
	config := &dlbv3alpha.Dlb{Id: s.ID, MaxRetries: s.MaxRetries, FallbackPolicy: dlbv3alpha.Dlb_FallbackPolicy(policy)}
	if err := config.ValidateAll(); err != nil {
		return nil, err
	}
	typed, err := anypb.New(config)
	if err != nil {
		return nil, err
	}
	listener := &listenerv3.Listener{
		ConnectionBalanceConfig: &listenerv3.Listener_ConnectionBalanceConfig{
			BalanceType: &listenerv3.Listener_ConnectionBalanceConfig_ExtendBalance{
				ExtendBalance: &corev3.TypedExtensionConfig{Name: capability.ExtDLB, TypedConfig: typed},
			},
		},
	}
	if err := listener.ConnectionBalanceConfig.ValidateAll(); err != nil {
		return nil, err
	}
	return listener, nil
}
