package operator

// The operator's permissions, least privilege: read what Translate reads; write only the kinds it owns
// (apply = patch; apply that creates also needs create); delete only what it prunes; status of its
// own policies; events. deploy/rbac is generated from these markers.
//
// +kubebuilder:rbac:groups=meshaccel.io,resources=accelerationpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=meshaccel.io,resources=accelerationpolicies/status,verbs=get;patch;update
// +kubebuilder:rbac:groups="",resources=nodes;pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.istio.io,resources=envoyfilters,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices,verbs=get;list;watch
// +kubebuilder:rbac:groups=extensions.istio.io,resources=wasmplugins,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=nfd.k8s-sigs.io,resources=nodefeatures,verbs=get;list;watch
// +kubebuilder:rbac:groups=deviceplugin.intel.com,resources=qatdeviceplugins,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
//
// Leader election uses a Lease in the operator's own namespace only.
//
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=meshaccel-system,resources=leases,verbs=get;create;update
