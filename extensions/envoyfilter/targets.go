package envoyfilter

import (
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3api "istio.io/api/networking/v1alpha3"
)

type (
	applyTo   = networkingv1alpha3api.EnvoyFilter_ApplyTo
	operation = networkingv1alpha3api.EnvoyFilter_Patch_Operation
)

const (
	opMerge               = networkingv1alpha3api.EnvoyFilter_Patch_MERGE
	opAdd                 = networkingv1alpha3api.EnvoyFilter_Patch_ADD
	opRemove              = networkingv1alpha3api.EnvoyFilter_Patch_REMOVE
	opInsertBefore        = networkingv1alpha3api.EnvoyFilter_Patch_INSERT_BEFORE
	opInsertAfter         = networkingv1alpha3api.EnvoyFilter_Patch_INSERT_AFTER
	opInsertFirst         = networkingv1alpha3api.EnvoyFilter_Patch_INSERT_FIRST
	opReplace             = networkingv1alpha3api.EnvoyFilter_Patch_REPLACE
	opMergeAndReplaceList = networkingv1alpha3api.EnvoyFilter_Patch_MERGE_AND_REPLACE_LIST
)

// isMerge reports whether the operation merges the value onto an object Istio generated, so the
// value may be partial.
func isMerge(op operation) bool { return op == opMerge || op == opMergeAndReplaceList }

// patchTarget describes one applyTo: the Envoy message its value is, the operations Istio's
// patcher (pilot/pkg/networking/core/envoyfilter) applies to it, and the smallest valid object
// a MERGE can land on.
type patchTarget struct {
	newMessage func() proto.Message
	operations []operation
	// mergeBase returns a valid object of the type, standing in for the one Istio generated;
	// Envoy validates the object after the merge, not the patch alone.
	mergeBase func() proto.Message
}

var (
	filterOperations = []operation{opMerge, opMergeAndReplaceList, opAdd, opRemove, opInsertBefore, opInsertAfter, opInsertFirst, opReplace}
	mergeBaseName    = "merge-base"
)

var patchTargets = map[applyTo]patchTarget{
	networkingv1alpha3api.EnvoyFilter_LISTENER: {
		newMessage: func() proto.Message { return &listenerv3.Listener{} },
		operations: []operation{opMerge, opMergeAndReplaceList, opAdd, opRemove},
		mergeBase: func() proto.Message {
			return &listenerv3.Listener{
				Name: mergeBaseName,
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080},
				}}},
			}
		},
	},
	networkingv1alpha3api.EnvoyFilter_LISTENER_FILTER: {
		newMessage: func() proto.Message { return &listenerv3.ListenerFilter{} },
		operations: filterOperations,
		mergeBase:  func() proto.Message { return &listenerv3.ListenerFilter{Name: mergeBaseName} },
	},
	networkingv1alpha3api.EnvoyFilter_FILTER_CHAIN: {
		newMessage: func() proto.Message { return &listenerv3.FilterChain{} },
		operations: []operation{opMerge, opMergeAndReplaceList, opAdd, opRemove},
		mergeBase:  func() proto.Message { return &listenerv3.FilterChain{Name: mergeBaseName} },
	},
	networkingv1alpha3api.EnvoyFilter_NETWORK_FILTER: {
		newMessage: func() proto.Message { return &listenerv3.Filter{} },
		operations: filterOperations,
		mergeBase:  func() proto.Message { return &listenerv3.Filter{Name: mergeBaseName} },
	},
	networkingv1alpha3api.EnvoyFilter_HTTP_FILTER: {
		newMessage: func() proto.Message { return &hcmv3.HttpFilter{} },
		operations: filterOperations,
		mergeBase:  func() proto.Message { return &hcmv3.HttpFilter{Name: mergeBaseName} },
	},
	networkingv1alpha3api.EnvoyFilter_ROUTE_CONFIGURATION: {
		newMessage: func() proto.Message { return &routev3.RouteConfiguration{} },
		operations: []operation{opMerge, opMergeAndReplaceList},
		mergeBase:  func() proto.Message { return &routev3.RouteConfiguration{Name: mergeBaseName} },
	},
	networkingv1alpha3api.EnvoyFilter_VIRTUAL_HOST: {
		newMessage: func() proto.Message { return &routev3.VirtualHost{} },
		operations: []operation{opMerge, opMergeAndReplaceList, opAdd, opRemove, opReplace},
		mergeBase:  func() proto.Message { return &routev3.VirtualHost{Name: mergeBaseName, Domains: []string{"*"}} },
	},
	networkingv1alpha3api.EnvoyFilter_HTTP_ROUTE: {
		newMessage: func() proto.Message { return &routev3.Route{} },
		operations: []operation{opMerge, opMergeAndReplaceList, opAdd, opRemove, opInsertBefore, opInsertAfter, opInsertFirst},
		mergeBase: func() proto.Message {
			return &routev3.Route{
				Name:  mergeBaseName,
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: mergeBaseName},
				}},
			}
		},
	},
	networkingv1alpha3api.EnvoyFilter_CLUSTER: {
		newMessage: func() proto.Message { return &clusterv3.Cluster{} },
		operations: []operation{opMerge, opMergeAndReplaceList, opAdd, opRemove},
		mergeBase: func() proto.Message {
			return &clusterv3.Cluster{Name: mergeBaseName, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}}
		},
	},
	networkingv1alpha3api.EnvoyFilter_EXTENSION_CONFIG: {
		newMessage: func() proto.Message { return &corev3.TypedExtensionConfig{} },
		operations: []operation{opAdd},
	},
	networkingv1alpha3api.EnvoyFilter_BOOTSTRAP: {
		newMessage: func() proto.Message { return &bootstrapv3.Bootstrap{} },
		operations: []operation{opMerge, opMergeAndReplaceList},
		mergeBase:  func() proto.Message { return &bootstrapv3.Bootstrap{} },
	},
}
