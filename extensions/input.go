package extensions

import (
	"fmt"

	devicepluginv1 "github.com/intel/intel-device-plugins-for-kubernetes/pkg/apis/deviceplugin/v1"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istionetworkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	istionetworkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
)

// AddObjects sorts decoded objects into the input by kind. Objects meshaccel does not read are
// rejected by name, so a typo in a manifest is not silently ignored; objects meshaccel itself renders
// (ConfigMaps, WasmPlugins) are skipped, so `render` output can be fed back.
func (in *Input) AddObjects(objs ...runtime.Object) error {
	for _, obj := range objs {
		switch o := obj.(type) {
		case *corev1.Node:
			in.Nodes = append(in.Nodes, *o)
		case *nfdv1alpha1.NodeFeature:
			in.NodeFeatures = append(in.NodeFeatures, *o)
		case *devicepluginv1.QatDevicePlugin:
			in.QATDevicePlugins = append(in.QATDevicePlugins, *o)
		case *corev1.Pod:
			in.Pods = append(in.Pods, *o)
		case *appsv1.Deployment:
			in.Deployments = append(in.Deployments, *o)
		case *appsv1.StatefulSet:
			in.StatefulSets = append(in.StatefulSets, *o)
		case *v1alpha1.AccelerationPolicy:
			in.Policies = append(in.Policies, *o)
		case *istionetworkingv1.VirtualService:
			in.VirtualServices = append(in.VirtualServices, o)
		case *istionetworkingv1beta1.VirtualService:
			// Every Istio API version shares one spec message.
			in.VirtualServices = append(in.VirtualServices, &istionetworkingv1.VirtualService{ObjectMeta: o.ObjectMeta, Spec: *o.Spec.DeepCopy()})
		case *istionetworkingv1alpha3.VirtualService:
			in.VirtualServices = append(in.VirtualServices, &istionetworkingv1.VirtualService{ObjectMeta: o.ObjectMeta, Spec: *o.Spec.DeepCopy()})
		case *istionetworkingv1alpha3.EnvoyFilter:
			in.EnvoyFilters = append(in.EnvoyFilters, o)
		case *corev1.ConfigMap, *corev1.Namespace, *corev1.Service:
			// Not read by the translator.
		default:
			gvk := obj.GetObjectKind().GroupVersionKind()
			return fmt.Errorf("meshaccel does not read %s objects (%s)", gvk.Kind, gvk.GroupVersion())
		}
	}
	return nil
}
