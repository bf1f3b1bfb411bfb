package operator

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// The predicates pass only changes that can alter a decision, so kubelet heartbeats and pod status
// churn do not cost a reconcile each.

// nodeChanged passes changes to what capability is read from: labels, allocatable and capacity,
// taints, schedulability and architecture.
var nodeChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*corev1.Node)
		n, ok2 := e.ObjectNew.(*corev1.Node)
		if !ok1 || !ok2 {
			return true
		}
		return !equality.Semantic.DeepEqual(o.Labels, n.Labels) ||
			!equality.Semantic.DeepEqual(o.Status.Allocatable, n.Status.Allocatable) ||
			!equality.Semantic.DeepEqual(o.Status.Capacity, n.Status.Capacity) ||
			!equality.Semantic.DeepEqual(o.Spec.Taints, n.Spec.Taints) ||
			o.Spec.Unschedulable != n.Spec.Unschedulable ||
			o.Status.NodeInfo.Architecture != n.Status.NodeInfo.Architecture
	},
}

// podChanged passes pods landing on, leaving or changing phase on a node, and label changes.
var podChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*corev1.Pod)
		n, ok2 := e.ObjectNew.(*corev1.Pod)
		if !ok1 || !ok2 {
			return true
		}
		return o.Spec.NodeName != n.Spec.NodeName ||
			o.Status.Phase != n.Status.Phase ||
			(o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) ||
			!equality.Semantic.DeepEqual(o.Labels, n.Labels) ||
			!equality.Semantic.DeepEqual(o.OwnerReferences, n.OwnerReferences)
	},
}

// workloadChanged passes spec changes (generation), label changes and changes to who manages which
// field (a user taking over a field meshaccel set is a conflict to report).
var workloadChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
			!equality.Semantic.DeepEqual(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels()) {
			return true
		}
		return managersChanged(e.ObjectOld, e.ObjectNew)
	},
}

// specOrMetadataChanged passes spec changes and changes to labels, annotations and owner references,
// which decide ownership and carry the applied digest.
var specOrMetadataChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
			!equality.Semantic.DeepEqual(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels()) ||
			!equality.Semantic.DeepEqual(e.ObjectOld.GetAnnotations(), e.ObjectNew.GetAnnotations()) ||
			!equality.Semantic.DeepEqual(e.ObjectOld.GetOwnerReferences(), e.ObjectNew.GetOwnerReferences())
	},
}

func managersChanged(o, n client.Object) bool {
	om, nm := o.GetManagedFields(), n.GetManagedFields()
	if len(om) != len(nm) {
		return true
	}
	for i := range om {
		if om[i].Manager != nm[i].Manager || om[i].Operation != nm[i].Operation ||
			!equality.Semantic.DeepEqual(om[i].FieldsV1, nm[i].FieldsV1) {
			return true
		}
	}
	return false
}

// notOwnWrite drops the create and update events that the operator's own writes to kind caused.
func (r *Reconciler) notOwnWrite(kind string) predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return !r.own.consume(kind, e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool { return !r.own.consume(kind, e.ObjectNew) },
	}
}
