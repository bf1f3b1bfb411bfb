package extensions

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions/plan"
	"github.com/meshaccel/meshaccel/extensions/render/istio"
	"github.com/meshaccel/meshaccel/qat"
)

// Condition types and reasons on AccelerationPolicy.
const (
	ConditionReady    = "Ready"
	ConditionDegraded = "Degraded"

	ReasonAllAccelerated   = "AllAccelerated"
	ReasonSomeNotEnabled   = "SomeFeaturesNotEnabled"
	ReasonNoWorkloads      = "NoWorkloadsSelected"
	ReasonInvalidSpec      = "InvalidSpec"
	ReasonMisplacedPods    = "PodsOnIncapableNodes"
	ReasonNothingDegraded  = "AsDecided"
	ReasonWorkloadConflict = "WorkloadConflict"
)

func (t *translation) result() Result {
	var r Result
	for _, n := range t.nodes {
		r.Nodes = append(r.Nodes, NodeReport{Node: n, Support: t.nodeSupport[n.Name]})
	}
	templates := map[string]*plan.Workload{} // policy object → a plan needing the QAT template
	for _, p := range t.plans {
		rendered, err := istio.Workload(p)
		if err != nil {
			// A render failure is a bug or an invalid typed config: name it on the policy, render nothing
			// for that workload.
			t.problems = append(t.problems, Problem{Object: "AccelerationPolicy " + p.Namespace + "/" + p.Policy.Name, Field: "spec", Message: err.Error()})
			continue
		}
		r.Objects = append(r.Objects, rendered.Objects...)
		r.WorkloadPatches = append(r.WorkloadPatches, WorkloadPatch{
			Workload: WorkloadRef{Kind: p.Kind, Namespace: p.Namespace, Name: p.Name},
			Policy:   p.Policy.Name, Apply: rendered.Apply, Pending: p.Pending,
		})
		if p.InjectionTemplate != "" {
			templates[p.Namespace+"/"+p.Policy.Name] = p
		}
	}
	for _, key := range sortedKeys(templates) {
		p := templates[key]
		cm, err := istio.InjectionTemplate(p.Namespace, p.Policy, p.InjectionTemplate, corev1.ResourceList{qat.ResourceCrypto: resource.MustParse("1")})
		if err != nil {
			t.problems = append(t.problems, Problem{Object: "AccelerationPolicy " + key, Field: "spec.features.qat", Message: err.Error()})
			continue
		}
		r.Objects = append(r.Objects, cm)
	}
	if t.bypassAsked && t.in.SystemNamespace != "" {
		r.Objects = append(r.Objects, istio.BypassNodes(t.in.SystemNamespace, t.bypassNodes.sorted()))
	}
	istio.SortObjects(r.Objects)
	r.Workloads = t.decisions
	r.Policies = t.policyResults()
	return r
}

func (t *translation) policyResults() []PolicyResult {
	problems := &InputError{Problems: t.problems}
	out := make([]PolicyResult, 0, len(t.policies))
	for _, p := range t.policies {
		status := v1alpha1.AccelerationPolicyStatus{ObservedGeneration: p.source.Generation}
		var degraded []string
		for _, d := range t.decisions {
			if d.Policy != p.source.Name || d.Workload.Namespace != p.source.Namespace {
				continue
			}
			ws := v1alpha1.WorkloadStatus{Kind: d.Workload.Kind, Name: d.Workload.Name, MisplacedPods: d.MisplacedPods}
			any := false
			for _, f := range d.Features {
				ws.Features = append(ws.Features, v1alpha1.FeatureStatus{Feature: string(f.Feature), Enabled: f.Enabled, Reason: f.Reason, Message: f.Message})
				if f.Enabled {
					any = true
				} else if f.Reason != ReasonQATPreferred {
					degraded = append(degraded, fmt.Sprintf("%s %s: %s %s", d.Workload.Kind, d.Workload.Name, f.Feature, f.Reason))
				}
			}
			if len(d.MisplacedPods) > 0 {
				degraded = append(degraded, fmt.Sprintf("%s %s: %d pods on nodes that no longer qualify", d.Workload.Kind, d.Workload.Name, len(d.MisplacedPods)))
			}
			status.SelectedWorkloads++
			if any {
				status.AcceleratedWorkloads++
			}
			status.Workloads = append(status.Workloads, ws)
		}
		sort.Slice(status.Workloads, func(i, j int) bool {
			return status.Workloads[i].Kind+"/"+status.Workloads[i].Name < status.Workloads[j].Kind+"/"+status.Workloads[j].Name
		})
		setConditions(&status, p, problems.problemsFor(p.object), degraded)
		out = append(out, PolicyResult{Namespace: p.source.Namespace, Name: p.source.Name, Status: status})
	}
	return out
}

// setConditions derives Ready and Degraded. Timestamps are left zero: Translate is pure; the operator
// keeps a condition's transition time when its status does not change.
func setConditions(status *v1alpha1.AccelerationPolicyStatus, p *policy, problems []Problem, degraded []string) {
	ready := metav1.Condition{Type: ConditionReady, ObservedGeneration: status.ObservedGeneration}
	deg := metav1.Condition{Type: ConditionDegraded, ObservedGeneration: status.ObservedGeneration}
	switch {
	case len(problems) > 0:
		ready.Status, ready.Reason = metav1.ConditionFalse, ReasonInvalidSpec
		if !p.valid() {
			ready.Reason = ReasonInvalidSpec
		} else {
			ready.Reason = ReasonWorkloadConflict
		}
		ready.Message = joinLimited(problemStrings(problems), 5)
		deg.Status, deg.Reason, deg.Message = metav1.ConditionTrue, ready.Reason, ready.Message
	case status.SelectedWorkloads == 0:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, ReasonNoWorkloads, "no Deployment or StatefulSet in the namespace matches spec.workloads"
		deg.Status, deg.Reason, deg.Message = metav1.ConditionFalse, ReasonNoWorkloads, ready.Message
	case len(degraded) > 0:
		ready.Status, ready.Reason = metav1.ConditionTrue, ReasonSomeNotEnabled
		ready.Message = fmt.Sprintf("%d of %d workloads accelerated; see status.workloads for each feature's reason", status.AcceleratedWorkloads, status.SelectedWorkloads)
		deg.Status, deg.Reason, deg.Message = metav1.ConditionTrue, ReasonSomeNotEnabled, joinLimited(degraded, 5)
	default:
		ready.Status, ready.Reason = metav1.ConditionTrue, ReasonAllAccelerated
		ready.Message = fmt.Sprintf("all %d selected workloads have every requested feature", status.SelectedWorkloads)
		deg.Status, deg.Reason, deg.Message = metav1.ConditionFalse, ReasonNothingDegraded, "every requested feature is enabled"
	}
	meta.SetStatusCondition(&status.Conditions, ready)
	meta.SetStatusCondition(&status.Conditions, deg)
	for i := range status.Conditions {
		status.Conditions[i].LastTransitionTime = metav1.Time{}
	}
}

func problemStrings(ps []Problem) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func joinLimited(lines []string, limit int) string {
	s := ""
	for i, l := range lines {
		if i == limit {
			return s + fmt.Sprintf("; and %d more", len(lines)-limit)
		}
		if i > 0 {
			s += "; "
		}
		s += l
	}
	return s
}
