package operator

import (
	devicepluginv1 "github.com/intel/intel-device-plugins-for-kubernetes/pkg/apis/deviceplugin/v1"
	istioextensionsv1alpha1 "istio.io/client-go/pkg/apis/extensions/v1alpha1"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istionetworkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
)

// NewScheme returns a scheme with every type the operator reads or writes: the Kubernetes built-ins,
// meshaccel's AccelerationPolicy, Istio's networking and extensions groups, NFD's NodeFeature and
// NodeFeatureRule, and Intel's device-plugin custom resources.
func NewScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	utilruntime.Must(istionetworkingv1alpha3.AddToScheme(scheme))
	utilruntime.Must(istionetworkingv1.AddToScheme(scheme))
	utilruntime.Must(istioextensionsv1alpha1.AddToScheme(scheme))
	utilruntime.Must(nfdv1alpha1.AddToScheme(scheme))
	utilruntime.Must(devicepluginv1.AddToScheme(scheme))
	return scheme
}
