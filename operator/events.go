package operator

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
)

// Event reasons.
const (
	EventFeatureEnabled  = "FeatureEnabled"
	EventFeatureDisabled = "FeatureDisabled"
	EventMisplacedPods   = "MisplacedPods"
	EventPolicyProblem   = "PolicyProblem"
	EventPolicyApplied   = "PolicyApplied"
)

// recordDecisionEvents compares the status a policy had with the one just written and records an event
// for every decision that changed: a feature switched on or off for a workload, new misplaced pods, a
// new problem. Events go to the workload (kubectl describe deployment) and to the policy. Comparing
// against the stored status, not memory, keeps a restarted operator from repeating old events.
func (r *Reconciler) recordDecisionEvents(policy *v1alpha1.AccelerationPolicy, now *v1alpha1.AccelerationPolicyStatus, snap *snapshot) {
	if r.recorder == nil {
		return
	}
	before := policy.Status
	workloads := workloadObjects(snap)
	for _, w := range now.Workloads {
		i := slices.IndexFunc(before.Workloads, func(o v1alpha1.WorkloadStatus) bool { return o.Kind == w.Kind && o.Name == w.Name })
		if i < 0 {
			continue // first decision for this workload: the policy's summary event covers it
		}
		old := before.Workloads[i]
		regarding := workloads[objectKey{w.Kind, policy.Namespace, w.Name}]
		for _, f := range w.Features {
			j := slices.IndexFunc(old.Features, func(o v1alpha1.FeatureStatus) bool { return o.Feature == f.Feature })
			if j >= 0 && old.Features[j].Enabled == f.Enabled {
				continue
			}
			eventType, reason, verb := corev1.EventTypeNormal, EventFeatureEnabled, "enabled"
			if !f.Enabled {
				eventType, reason, verb = corev1.EventTypeWarning, EventFeatureDisabled, "disabled"
			}
			note := fmt.Sprintf("%s %s for %s/%s by AccelerationPolicy %s (%s): %s", f.Feature, verb, strings.ToLower(w.Kind), w.Name, policy.Name, f.Reason, f.Message)
			r.event(policy, nil, eventType, reason, note)
			if regarding != nil {
				r.event(regarding, policy, eventType, reason, note)
			}
		}
		var newlyMisplaced []string
		for _, p := range w.MisplacedPods {
			if !slices.Contains(old.MisplacedPods, p) {
				newlyMisplaced = append(newlyMisplaced, p)
			}
		}
		if len(newlyMisplaced) > 0 {
			note := fmt.Sprintf("pods of %s/%s run on nodes that can no longer run an enabled feature: %s", strings.ToLower(w.Kind), w.Name, joinMessages(newlyMisplaced, 10))
			r.event(policy, nil, corev1.EventTypeWarning, EventMisplacedPods, note)
			if regarding != nil {
				r.event(regarding, policy, corev1.EventTypeWarning, EventMisplacedPods, note)
			}
		}
	}

	oldApplied := meta.FindStatusCondition(before.Conditions, ConditionApplied)
	newApplied := meta.FindStatusCondition(now.Conditions, ConditionApplied)
	if newApplied == nil {
		return
	}
	changed := oldApplied == nil || oldApplied.Status != newApplied.Status || oldApplied.Reason != newApplied.Reason || oldApplied.Message != newApplied.Message
	switch {
	case !changed:
	case newApplied.Status != "True":
		r.event(policy, nil, corev1.EventTypeWarning, EventPolicyProblem, newApplied.Reason+": "+newApplied.Message)
	case oldApplied == nil || oldApplied.Status != newApplied.Status || before.AcceleratedWorkloads != now.AcceleratedWorkloads:
		r.event(policy, nil, corev1.EventTypeNormal, EventPolicyApplied,
			fmt.Sprintf("%d of %d selected workloads accelerated", now.AcceleratedWorkloads, now.SelectedWorkloads))
	}
}

func (r *Reconciler) event(regarding, related runtime.Object, eventType, reason, note string) {
	r.recorder.Eventf(regarding, related, eventType, reason, "Reconcile", "%s", note)
}

func workloadObjects(snap *snapshot) map[objectKey]runtime.Object {
	out := make(map[objectKey]runtime.Object, len(snap.input.Deployments)+len(snap.input.StatefulSets))
	for i := range snap.input.Deployments {
		d := &snap.input.Deployments[i]
		out[objectKey{"Deployment", d.Namespace, d.Name}] = d
	}
	for i := range snap.input.StatefulSets {
		s := &snap.input.StatefulSets[i]
		out[objectKey{"StatefulSet", s.Namespace, s.Name}] = s
	}
	return out
}
