package operator

import (
	"context"
	"fmt"
	"net/http"
	"time"

	devicepluginv1 "github.com/intel/intel-device-plugins-for-kubernetes/pkg/apis/deviceplugin/v1"
	istioextensionsv1alpha1 "istio.io/client-go/pkg/apis/extensions/v1alpha1"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istionetworkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
)

// ManagerOptions configure the process around the reconciler.
type ManagerOptions struct {
	// MetricsAddr serves Prometheus metrics ("0" disables).
	MetricsAddr string
	// ProbeAddr serves /healthz and /readyz ("0" disables).
	ProbeAddr string
	// LeaderElection makes only one replica reconcile at a time.
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election (client-go defaults when zero).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// GracefulShutdownTimeout bounds how long in-flight work may take after SIGTERM (default 30s).
	GracefulShutdownTimeout time.Duration
	// PprofAddr serves Go's profiling endpoints (empty or "0" disables).
	PprofAddr string
}

// DefaultLeaderElectionID is the Lease name replicas compete for.
const DefaultLeaderElectionID = "meshaccel-operator.meshaccel.io"

// NewManager builds a controller-runtime manager whose cache holds only what the operator reads:
// Pods and Nodes without their managed fields, and ConfigMaps and WasmPlugins only when meshaccel
// owns them (a cluster's ConfigMaps can be large; meshaccel needs only its own).
func NewManager(cfg *rest.Config, opts ManagerOptions) (manager.Manager, error) {
	if opts.LeaderElectionID == "" {
		opts.LeaderElectionID = DefaultLeaderElectionID
	}
	if opts.GracefulShutdownTimeout == 0 {
		opts.GracefulShutdownTimeout = 30 * time.Second
	}
	owned := labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByValue})
	mgrOpts := manager.Options{
		Scheme: NewScheme(),
		Cache: cache.Options{
			ByObject: map[client.Object]cache.ByObject{
				&corev1.ConfigMap{}:                   {Label: owned},
				&istioextensionsv1alpha1.WasmPlugin{}: {Label: owned},
				&corev1.Pod{}:                         {Transform: trimPod},
				&corev1.Node{}:                        {Transform: trimNode},
			},
		},
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:        opts.ProbeAddr,
		LeaderElection:                opts.LeaderElection,
		LeaderElectionID:              opts.LeaderElectionID,
		LeaderElectionNamespace:       opts.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true, // the next replica takes over at once on a clean shutdown
		GracefulShutdownTimeout:       &opts.GracefulShutdownTimeout,
		PprofBindAddress:              opts.PprofAddr,
	}
	if opts.LeaseDuration > 0 {
		mgrOpts.LeaseDuration = &opts.LeaseDuration
	}
	if opts.RenewDeadline > 0 {
		mgrOpts.RenewDeadline = &opts.RenewDeadline
	}
	if opts.RetryPeriod > 0 {
		mgrOpts.RetryPeriod = &opts.RetryPeriod
	}
	mgr, err := manager.New(cfg, mgrOpts)
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	// Ready once the informers have synced: every replica, leader or not, can then take over at once.
	if err := mgr.AddReadyzCheck("informers", func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return fmt.Errorf("informer caches not synced")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return mgr, nil
}

// trimPod keeps only what the translator reads from a Pod (identity, labels, owner, node, phase):
// pods outnumber every other kind and most of their bytes are container specs and status.
// TestTrimmedCacheTranslatesTheSame guards this against the translator starting to read more.
func trimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
			Generation: pod.Generation, Labels: pod.Labels, OwnerReferences: pod.OwnerReferences,
			DeletionTimestamp: pod.DeletionTimestamp,
		},
		Spec:   corev1.PodSpec{NodeName: pod.Spec.NodeName},
		Status: corev1.PodStatus{Phase: pod.Status.Phase},
	}, nil
}

// trimNode drops managed fields and the image list (often the largest part of a Node).
func trimNode(obj any) (any, error) {
	if node, ok := obj.(*corev1.Node); ok {
		node.ManagedFields = nil
		node.Status.Images = nil
	}
	return obj, nil
}

// Setup creates the reconciler and registers its watches with the manager. It discovers which optional
// custom resources (NFD, Intel device plugins, Istio) the cluster serves; kinds installed later are
// picked up on the operator's next start.
func Setup(mgr manager.Manager, opts Options) (*Reconciler, error) {
	opts = opts.withDefaults()
	kinds, err := discoverOptionalKinds(mgr.GetRESTMapper())
	if err != nil {
		return nil, err
	}
	log := mgr.GetLogger().WithName("meshaccel")
	log.Info("optional kinds", "nodeFeatures", kinds.NodeFeatures, "qatDevicePlugins", kinds.QATDevicePlugins,
		"envoyFilters", kinds.EnvoyFilters, "virtualServices", kinds.VirtualServices, "wasmPlugins", kinds.WasmPlugins)
	r := &Reconciler{
		client:    mgr.GetClient(),
		apiReader: mgr.GetAPIReader(),
		scheme:    mgr.GetScheme(),
		recorder:  mgr.GetEventRecorder("meshaccel-operator"),
		opts:      opts,
		kinds:     kinds,
		log:       log,
	}

	enqueue := debounced(opts.Debounce)
	b := builder.ControllerManagedBy(mgr).
		Named("meshaccel").
		WithOptions(controller.Options{MaxConcurrentReconciles: 1, SkipNameValidation: &opts.AllowSeveralInProcess}).
		Watches(&v1alpha1.AccelerationPolicy{}, enqueue, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&corev1.Node{}, enqueue, builder.WithPredicates(nodeChanged)).
		Watches(&corev1.Pod{}, enqueue, builder.WithPredicates(podChanged)).
		Watches(&appsv1.Deployment{}, enqueue, builder.WithPredicates(workloadChanged, r.notOwnWrite("Deployment"))).
		Watches(&appsv1.StatefulSet{}, enqueue, builder.WithPredicates(workloadChanged, r.notOwnWrite("StatefulSet"))).
		Watches(&corev1.ConfigMap{}, enqueue, builder.WithPredicates(r.notOwnWrite("ConfigMap")))
	if kinds.NodeFeatures {
		b = b.Watches(&nfdv1alpha1.NodeFeature{}, enqueue)
	}
	if kinds.QATDevicePlugins {
		b = b.Watches(&devicepluginv1.QatDevicePlugin{}, enqueue, builder.WithPredicates(predicate.GenerationChangedPredicate{}))
	}
	if kinds.EnvoyFilters {
		b = b.Watches(&istionetworkingv1alpha3.EnvoyFilter{}, enqueue, builder.WithPredicates(specOrMetadataChanged, r.notOwnWrite("EnvoyFilter")))
	}
	if kinds.VirtualServices {
		b = b.Watches(&istionetworkingv1.VirtualService{}, enqueue, builder.WithPredicates(predicate.GenerationChangedPredicate{}))
	}
	if kinds.WasmPlugins {
		b = b.Watches(&istioextensionsv1alpha1.WasmPlugin{}, enqueue, builder.WithPredicates(specOrMetadataChanged, r.notOwnWrite("WasmPlugin")))
	}
	if err := b.Complete(r); err != nil {
		return nil, fmt.Errorf("building controller: %w", err)
	}
	return r, nil
}

// debounced maps every event to the one cluster key, delayed so that a burst of events (a node
// relabelled, then its pods rescheduled) becomes one reconcile. A key already waiting keeps its
// earlier time, so the delay never grows under a steady stream of events.
func debounced(delay time.Duration) handler.EventHandler {
	add := func(q workqueue.TypedRateLimitingInterface[reconcile.Request]) { q.AddAfter(clusterRequest, delay) }
	return handler.Funcs{
		CreateFunc: func(_ context.Context, _ event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q)
		},
		UpdateFunc: func(_ context.Context, _ event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q)
		},
		DeleteFunc: func(_ context.Context, _ event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q)
		},
		GenericFunc: func(_ context.Context, _ event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q)
		},
	}
}
