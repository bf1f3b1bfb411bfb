// Package v1alpha1 is the meshaccel.io/v1alpha1 API: AccelerationPolicy.
// +kubebuilder:object:generate=true
// +groupName=meshaccel.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of meshaccel's objects.
var GroupVersion = schema.GroupVersion{Group: "meshaccel.io", Version: "v1alpha1"}

var (
	// SchemeBuilder registers the meshaccel types; it needs only apimachinery so the core stays free of
	// controller-runtime.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the meshaccel types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion, &AccelerationPolicy{}, &AccelerationPolicyList{})
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
