package operator

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics are registered once in controller-runtime's registry, which the manager serves on its
// metrics endpoint next to the controller, workqueue and client metrics.
var (
	reconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "meshaccel_reconcile_duration_seconds",
		Help:    "Time spent in each phase of a cluster-wide reconcile (snapshot, translate, apply, prune, status, total).",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"phase"})

	reconcileTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshaccel_reconcile_total",
		Help: "Reconciles by result: success, problems (some policy reported a problem) or error (nothing applied or a request failed).",
	}, []string{"result"})

	objectOperations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshaccel_object_operations_total",
		Help: "Operations on objects by kind and outcome: applied, unchanged, deleted, released, clash, conflict, failed.",
	}, []string{"kind", "outcome"})

	workloadDecisions = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "meshaccel_workloads",
		Help: "Selected workloads per feature and decision (enabled true/false) with the decision's reason.",
	}, []string{"feature", "enabled", "reason"})

	misplacedPods = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "meshaccel_misplaced_pods",
		Help: "Running pods on nodes that can no longer run a feature enabled for their workload.",
	})

	snapshotObjects = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "meshaccel_snapshot_objects",
		Help: "Objects of each kind in the last snapshot handed to Translate.",
	}, []string{"kind"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(reconcileDuration, reconcileTotal, objectOperations, workloadDecisions,
		misplacedPods, snapshotObjects)
}
