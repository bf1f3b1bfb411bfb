package operator

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions"
)

// Condition types and reasons the operator sets on top of Translate's decisions.
const (
	ConditionReady    = "Ready"
	ConditionDegraded = "Degraded"
	// ConditionApplied says whether the cluster holds everything the policy's decisions call for.
	ConditionApplied = "Applied"

	ReasonApplied = "Applied"
	// ReasonInputProblem: Translate found a problem confined to the policy (an invalid setting, a
	// workload two policies select); what it already set up is left as it was.
	ReasonInputProblem = "InputProblem"
	ReasonNameClash    = "NameClash"
	// ReasonFieldConflict: a workload field meshaccel would set is held by another field manager
	// (for example the user's own nodeSelector, which server-side apply treats as one atomic value);
	// the workload is left unchanged.
	ReasonFieldConflict = "FieldConflict"
	ReasonApplyFailed   = "ApplyFailed"
	ReasonKindNotServed = "KindNotServed"
)

// issue is a problem confined to one policy, reported in its status rather than failing the reconcile.
type issue struct {
	Reason  string
	Message string
}

// fromTranslate reports whether Translate found the issue (its own status already explains it).
func (i issue) fromTranslate() bool { return i.Reason == ReasonInputProblem }

type issueSet map[types.NamespacedName][]issue

func (s issueSet) add(policy types.NamespacedName, i issue) { s[policy] = append(s[policy], i) }

func (s issueSet) hasInputProblem(policy types.NamespacedName) bool {
	for _, i := range s[policy] {
		if i.fromTranslate() {
			return true
		}
	}
	return false
}

// reasonPriority orders reasons when a policy has several kinds of problem: the one a user must fix
// first names the condition.
var reasonPriority = []string{ReasonInputProblem, ReasonNameClash, ReasonFieldConflict, ReasonKindNotServed, ReasonApplyFailed}

func (s issueSet) summary(policy types.NamespacedName, include func(issue) bool) (reason, message string, ok bool) {
	list := slices.DeleteFunc(slices.Clone(s[policy]), func(i issue) bool { return !include(i) })
	if len(list) == 0 {
		return "", "", false
	}
	sorted := slices.Clone(list)
	sort.SliceStable(sorted, func(i, j int) bool {
		return slices.Index(reasonPriority, sorted[i].Reason) < slices.Index(reasonPriority, sorted[j].Reason)
	})
	msgs := make([]string, 0, len(sorted))
	for _, i := range sorted {
		if !slices.Contains(msgs, i.Message) {
			msgs = append(msgs, i.Message)
		}
	}
	return sorted[0].Reason, joinMessages(msgs, 5), true
}

// desiredStatus merges Translate's status for a policy with the operator's own findings, keeping the
// transition time of every condition whose status did not change.
func desiredStatus(live *v1alpha1.AccelerationPolicy, fromTranslate *v1alpha1.AccelerationPolicyStatus, issues issueSet, appliedMessage string) v1alpha1.AccelerationPolicyStatus {
	var st v1alpha1.AccelerationPolicyStatus
	if fromTranslate != nil {
		st = *fromTranslate.DeepCopy()
	} else {
		st = *live.Status.DeepCopy()
	}
	st.ObservedGeneration = live.Generation
	wanted := slices.Clone(st.Conditions)

	nn := types.NamespacedName{Namespace: live.Namespace, Name: live.Name}
	all := func(issue) bool { return true }
	if reason, message, ok := issues.summary(nn, all); ok {
		wanted = setCondition(wanted, metav1.Condition{Type: ConditionApplied, Status: metav1.ConditionFalse, Reason: reason, Message: message})
		// Translate's Ready and Degraded already explain its own problems; the operator's findings
		// (name clashes, field conflicts, failed requests) are news to them.
		if reason, message, ok := issues.summary(nn, func(i issue) bool { return !i.fromTranslate() }); ok {
			wanted = setCondition(wanted, metav1.Condition{Type: ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: message})
			wanted = setCondition(wanted, metav1.Condition{Type: ConditionDegraded, Status: metav1.ConditionTrue, Reason: reason, Message: message})
		}
	} else {
		wanted = setCondition(wanted, metav1.Condition{Type: ConditionApplied, Status: metav1.ConditionTrue, Reason: ReasonApplied, Message: appliedMessage})
	}

	// Start from the live conditions so unchanged ones keep their LastTransitionTime.
	conditions := slices.Clone(live.Status.Conditions)
	conditions = slices.DeleteFunc(conditions, func(c metav1.Condition) bool {
		return !slices.ContainsFunc(wanted, func(w metav1.Condition) bool { return w.Type == c.Type })
	})
	for _, c := range wanted {
		c.ObservedGeneration = live.Generation
		meta.SetStatusCondition(&conditions, c)
	}
	st.Conditions = conditions
	return st
}

func setCondition(list []metav1.Condition, c metav1.Condition) []metav1.Condition {
	for i := range list {
		if list[i].Type == c.Type {
			list[i] = c
			return list
		}
	}
	return append(list, c)
}

// updateStatuses writes each policy's status when it differs from the live one, and records events
// for the decisions that changed.
func (r *Reconciler) updateStatuses(ctx context.Context, snap *snapshot, res extensions.Result, issues issueSet, written *writeLog) []error {
	fromTranslate := map[types.NamespacedName]*v1alpha1.AccelerationPolicyStatus{}
	for i := range res.Policies {
		p := &res.Policies[i]
		fromTranslate[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}] = &p.Status
	}
	appliedMessage := map[types.NamespacedName]string{}
	for _, p := range res.WorkloadPatches {
		nn := types.NamespacedName{Namespace: p.Workload.Namespace, Name: p.Policy}
		if p.Pending {
			appliedMessage[nn] = "pod-template changes are pending (rollout strategy Manual)"
		}
	}

	var errs []error
	for i := range snap.input.Policies {
		live := &snap.input.Policies[i]
		if live.DeletionTimestamp != nil {
			continue
		}
		nn := types.NamespacedName{Namespace: live.Namespace, Name: live.Name}
		msg := appliedMessage[nn]
		if msg == "" {
			msg = "the cluster holds every object and workload change the policy's decisions call for"
		}
		want := desiredStatus(live, fromTranslate[nn], issues, msg)
		if equality.Semantic.DeepEqual(live.Status, want) {
			continue
		}
		updated := live.DeepCopy()
		updated.Status = want
		if err := r.client.Status().Patch(ctx, updated, client.MergeFrom(live)); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			errs = append(errs, fmt.Errorf("updating status of AccelerationPolicy %s: %w", nn, err))
			continue
		}
		written.add(v1alpha1.GroupVersion.WithKind("AccelerationPolicy"), client.ObjectKeyFromObject(live), updated.ResourceVersion)
		r.recordDecisionEvents(live, &want, snap)
	}
	return errs
}

// addInputError files each of Translate's policy-confined problems under its policy.
func (s issueSet) addInputError(err *extensions.InputError) {
	for _, p := range err.Problems {
		nn, ok := policyFromObject(p.Object)
		if !ok {
			continue
		}
		s.add(nn, issue{Reason: ReasonInputProblem, Message: p.String()})
	}
}

// policyFromObject parses Translate's "AccelerationPolicy namespace/name" object names.
func policyFromObject(object string) (types.NamespacedName, bool) {
	rest, ok := strings.CutPrefix(object, "AccelerationPolicy ")
	if !ok {
		return types.NamespacedName{}, false
	}
	ns, name, ok := strings.Cut(rest, "/")
	if !ok {
		return types.NamespacedName{}, false
	}
	return types.NamespacedName{Namespace: ns, Name: name}, true
}
