package operator

import (
	"context"
	"errors"
	"fmt"

	devicepluginv1 "github.com/intel/intel-device-plugins-for-kubernetes/pkg/apis/deviceplugin/v1"
	istioextensionsv1alpha1 "istio.io/client-go/pkg/apis/extensions/v1alpha1"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istionetworkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions"
)

// optionalKinds records which custom resources beyond AccelerationPolicy the cluster serves. NFD,
// Intel's device plugins and Istio are all optional: without NodeFeature the operator still reads
// node labels, without Istio it can decide but not create EnvoyFilters or WasmPlugins.
type optionalKinds struct {
	NodeFeatures     bool
	QATDevicePlugins bool
	EnvoyFilters     bool
	VirtualServices  bool
	WasmPlugins      bool
}

func discoverOptionalKinds(mapper meta.RESTMapper) (optionalKinds, error) {
	served := func(gvk schema.GroupVersionKind) (bool, error) {
		_, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err == nil {
			return true, nil
		}
		if meta.IsNoMatchError(err) {
			return false, nil
		}
		return false, fmt.Errorf("discovering %s: %w", gvk, err)
	}
	var k optionalKinds
	var errs []error
	for _, c := range []struct {
		gvk schema.GroupVersionKind
		to  *bool
	}{
		{nfdv1alpha1.SchemeGroupVersion.WithKind("NodeFeature"), &k.NodeFeatures},
		{devicepluginv1.GroupVersion.WithKind("QatDevicePlugin"), &k.QATDevicePlugins},
		{istionetworkingv1alpha3.SchemeGroupVersion.WithKind("EnvoyFilter"), &k.EnvoyFilters},
		{istionetworkingv1.SchemeGroupVersion.WithKind("VirtualService"), &k.VirtualServices},
		{istioextensionsv1alpha1.SchemeGroupVersion.WithKind("WasmPlugin"), &k.WasmPlugins},
	} {
		ok, err := served(c.gvk)
		*c.to = ok
		errs = append(errs, err)
	}
	return k, errors.Join(errs...)
}

// snapshot is one consistent read of the informer cache: the Translate input plus the live objects
// the operator compares its desired state against.
type snapshot struct {
	input extensions.Input
	// Owned-object candidates by kind, namespace and name: every EnvoyFilter (the cache holds all of
	// them, Translate reads them) and the label-selected ConfigMaps and WasmPlugins.
	live map[objectKey]client.Object
}

// objectKey identifies an object of any kind.
type objectKey struct {
	Kind      string
	Namespace string
	Name      string
}

func (k objectKey) String() string { return k.Kind + " " + k.Namespace + "/" + k.Name }

// read lists everything from the cache. It does not deep-copy: Translate is pure and must not modify
// its input, and the operator itself only reads these objects (it copies before changing status).
func (r *Reconciler) read(ctx context.Context) (*snapshot, error) {
	noCopy := client.UnsafeDisableDeepCopy
	in := extensions.Input{DefaultProxy: r.opts.DefaultProxy, RegexChecker: r.opts.RegexChecker, SystemNamespace: r.opts.SystemNamespace}
	s := &snapshot{live: map[objectKey]client.Object{}}

	var nodes corev1.NodeList
	if err := r.client.List(ctx, &nodes, noCopy); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	in.Nodes = nodes.Items
	var pods corev1.PodList
	if err := r.client.List(ctx, &pods, noCopy); err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	in.Pods = pods.Items
	var deployments appsv1.DeploymentList
	if err := r.client.List(ctx, &deployments, noCopy); err != nil {
		return nil, fmt.Errorf("listing deployments: %w", err)
	}
	in.Deployments = deployments.Items
	var statefulSets appsv1.StatefulSetList
	if err := r.client.List(ctx, &statefulSets, noCopy); err != nil {
		return nil, fmt.Errorf("listing statefulsets: %w", err)
	}
	in.StatefulSets = statefulSets.Items
	var policies v1alpha1.AccelerationPolicyList
	if err := r.client.List(ctx, &policies, noCopy); err != nil {
		return nil, fmt.Errorf("listing accelerationpolicies: %w", err)
	}
	in.Policies = policies.Items

	if r.kinds.NodeFeatures {
		var list nfdv1alpha1.NodeFeatureList
		if err := r.client.List(ctx, &list, noCopy); err != nil {
			return nil, fmt.Errorf("listing nodefeatures: %w", err)
		}
		in.NodeFeatures = list.Items
	}
	if r.kinds.QATDevicePlugins {
		var list devicepluginv1.QatDevicePluginList
		if err := r.client.List(ctx, &list, noCopy); err != nil {
			return nil, fmt.Errorf("listing qatdeviceplugins: %w", err)
		}
		in.QATDevicePlugins = list.Items
	}
	if r.kinds.VirtualServices {
		var list istionetworkingv1.VirtualServiceList
		if err := r.client.List(ctx, &list, noCopy); err != nil {
			return nil, fmt.Errorf("listing virtualservices: %w", err)
		}
		in.VirtualServices = list.Items
	}
	if r.kinds.EnvoyFilters {
		var list istionetworkingv1alpha3.EnvoyFilterList
		if err := r.client.List(ctx, &list, noCopy); err != nil {
			return nil, fmt.Errorf("listing envoyfilters: %w", err)
		}
		in.EnvoyFilters = list.Items
		for _, ef := range list.Items {
			s.live[objectKey{"EnvoyFilter", ef.Namespace, ef.Name}] = ef
		}
	}
	if r.kinds.WasmPlugins {
		var list istioextensionsv1alpha1.WasmPluginList
		if err := r.client.List(ctx, &list, noCopy); err != nil {
			return nil, fmt.Errorf("listing wasmplugins: %w", err)
		}
		for _, wp := range list.Items {
			s.live[objectKey{"WasmPlugin", wp.Namespace, wp.Name}] = wp
		}
	}
	var configMaps corev1.ConfigMapList
	if err := r.client.List(ctx, &configMaps, noCopy); err != nil {
		return nil, fmt.Errorf("listing configmaps: %w", err)
	}
	for i := range configMaps.Items {
		cm := &configMaps.Items[i]
		s.live[objectKey{"ConfigMap", cm.Namespace, cm.Name}] = cm
	}

	for _, c := range []struct {
		kind string
		n    int
	}{
		{"Node", len(in.Nodes)}, {"Pod", len(in.Pods)}, {"Deployment", len(in.Deployments)},
		{"StatefulSet", len(in.StatefulSets)}, {"AccelerationPolicy", len(in.Policies)},
		{"NodeFeature", len(in.NodeFeatures)}, {"QatDevicePlugin", len(in.QATDevicePlugins)},
		{"VirtualService", len(in.VirtualServices)}, {"EnvoyFilter", len(in.EnvoyFilters)},
	} {
		snapshotObjects.WithLabelValues(c.kind).Set(float64(c.n))
	}
	s.input = in
	return s, nil
}
