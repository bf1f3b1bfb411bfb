package extensions

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/extensions/plan"
)

const (
	hostnameLabel        = "kubernetes.io/hostname"
	meshaccelLabelPrefix = "meshaccel.feature.node.kubernetes.io/"
)

// candidateNodes are the nodes the pod template's own constraints allow: node selector, required node
// affinity, and NoSchedule/NoExecute taints it does not tolerate.
func candidateNodes(t *corev1.PodTemplateSpec, nodes []*capability.Node) []*capability.Node {
	affinity := nodeaffinity.GetRequiredNodeAffinity(&corev1.Pod{Spec: t.Spec})
	var out []*capability.Node
	for _, n := range nodes {
		match, err := affinity.Match(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels}})
		if err != nil || !match {
			continue
		}
		_, untolerated := corev1helpers.FindMatchingUntoleratedTaint(logr.Discard(), n.Taints, t.Spec.Tolerations, func(taint *corev1.Taint) bool {
			return taint.Effect == corev1.TaintEffectNoSchedule || taint.Effect == corev1.TaintEffectNoExecute
		}, false)
		if untolerated {
			continue
		}
		out = append(out, n)
	}
	return out
}

// schedulingKey identifies a template's scheduling constraints, for memoizing candidate sets.
func schedulingKey(t *corev1.PodTemplateSpec) string {
	var affinity *corev1.NodeSelector
	if a := t.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		affinity = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	if len(t.Spec.NodeSelector) == 0 && affinity == nil && len(t.Spec.Tolerations) == 0 {
		return ""
	}
	b, _ := json.Marshal(struct {
		NodeSelector map[string]string
		Affinity     *corev1.NodeSelector
		Tolerations  []corev1.Toleration
	}{t.Spec.NodeSelector, affinity, t.Spec.Tolerations})
	return string(b)
}

// nodeSet is a set of node names.
type nodeSet map[string]bool

func (s nodeSet) sorted() []string {
	out := make([]string, 0, len(s))
	for n := range s {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// placementRequirement is one feature that needs pods kept on the nodes that support it.
type placementRequirement struct {
	feature capability.Feature
	// nodeLabel, when set, is a NodeFeatureRule label that marks capable nodes.
	nodeLabel string
}

// userConstraints says which scheduling fields the user's template sets. Under server-side apply a
// pod's nodeSelector map and required node-affinity terms are atomic: meshaccel can only set one the
// user leaves empty, or it would have to take the whole field over from its owner.
func userConstraints(t *corev1.PodTemplateSpec) (nodeSelector, requiredAffinity bool) {
	nodeSelector = len(t.Spec.NodeSelector) > 0
	if a := t.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		requiredAffinity = len(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) > 0
	}
	return nodeSelector, requiredAffinity
}

// labelSelectsOnly reports whether every candidate carrying `label=true` is in allowed, and at least
// one does: then the label alone keeps pods on allowed nodes.
func labelSelectsOnly(label string, candidates []*capability.Node, allowed nodeSet) (selected int, ok bool) {
	if label == "" {
		return 0, false
	}
	for _, n := range candidates {
		if n.Labels[label] != "true" {
			continue
		}
		if !allowed[n.Name] {
			return 0, false
		}
		selected++
	}
	return selected, selected > 0
}

// placementBlocked says why a feature that needs a constraint cannot get one without taking over a
// field the user owns; empty when it can.
func placementBlocked(t *corev1.PodTemplateSpec, nodeLabel string, candidates []*capability.Node, capable nodeSet) string {
	userSelector, userAffinity := userConstraints(t)
	switch {
	case userSelector && userAffinity:
		return "the workload sets both nodeSelector and required node affinity, and meshaccel never takes over a field its owner set; add a constraint to capable nodes yourself, or use placement WhereGuaranteed"
	case userAffinity:
		if _, ok := labelSelectsOnly(nodeLabel, candidates, capable); !ok {
			return "the workload sets its own required node affinity, so meshaccel can only add a nodeSelector, and no NodeFeatureRule label selects only capable nodes (install meshaccel's NodeFeatureRules, or use placement WhereGuaranteed)"
		}
	}
	return ""
}

// choosePlacement builds the constraint that keeps pods on allowed nodes, in a field the user leaves
// empty: a nodeSelector on meshaccel's NodeFeatureRule labels when they select only allowed nodes, or
// else required node affinity (on those labels, or on the allowed host names).
func choosePlacement(t *corev1.PodTemplateSpec, candidates []*capability.Node, allowed nodeSet, reqs []placementRequirement) *plan.Placement {
	if len(reqs) == 0 {
		return nil
	}
	userSelector, _ := userConstraints(t)
	labelsUsable := true
	selected := len(allowed)
	labels := make([]string, 0, len(reqs))
	for _, r := range reqs {
		n, ok := labelSelectsOnly(r.nodeLabel, candidates, allowed)
		if !ok {
			labelsUsable = false
			break
		}
		selected = min(selected, n)
		labels = append(labels, r.nodeLabel)
	}
	sort.Strings(labels)
	labels = slices.Compact(labels)
	if labelsUsable && !userSelector {
		selector := make(map[string]string, len(labels))
		for _, l := range labels {
			selector[l] = "true"
		}
		return &plan.Placement{
			NodeSelector: selector,
			Description:  fmt.Sprintf("nodeSelector %s=true (selects nodes that support every enabled feature)", strings.Join(labels, "=true,")),
		}
	}
	var term corev1.NodeSelectorTerm
	var description string
	if labelsUsable {
		for _, l := range labels {
			term.MatchExpressions = append(term.MatchExpressions, corev1.NodeSelectorRequirement{Key: l, Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}})
		}
		description = fmt.Sprintf("required node affinity on %s=true (the workload has its own nodeSelector)", strings.Join(labels, "=true,"))
	} else {
		term.MatchExpressions = []corev1.NodeSelectorRequirement{{Key: hostnameLabel, Operator: corev1.NodeSelectorOpIn, Values: allowed.sorted()}}
		description = fmt.Sprintf("required node affinity on %s in [%s] (no NodeFeatureRule label selects only capable nodes)", hostnameLabel, strings.Join(allowed.sorted(), ", "))
	}
	return &plan.Placement{
		RequiredNodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{term}},
		Description:          description,
	}
}

// userTemplate returns the pod template without the placement constraint meshaccel added earlier:
// the translator reads live templates, which carry meshaccel's last constraint (recorded in the
// meshaccel.io/placement annotation), and must not mistake it for the user's.
func userTemplate(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	if _, ours := t.Annotations[AnnotationPlacement]; !ours {
		return t
	}
	u := t.DeepCopy()
	for k := range u.Spec.NodeSelector {
		if strings.HasPrefix(k, meshaccelLabelPrefix) {
			delete(u.Spec.NodeSelector, k)
		}
	}
	a := u.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return u
	}
	var terms []corev1.NodeSelectorTerm
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		var kept []corev1.NodeSelectorRequirement
		for _, r := range term.MatchExpressions {
			if (r.Key == hostnameLabel || strings.HasPrefix(r.Key, meshaccelLabelPrefix)) && r.Operator == corev1.NodeSelectorOpIn {
				continue
			}
			kept = append(kept, r)
		}
		term.MatchExpressions = kept
		if len(term.MatchExpressions) > 0 || len(term.MatchFields) > 0 {
			terms = append(terms, term)
		}
	}
	if len(terms) == 0 {
		a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = nil
	} else {
		a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = terms
	}
	return u
}

func matchesSelector(nodeLabels, selector map[string]string) bool {
	for k, v := range selector {
		if nodeLabels[k] != v {
			return false
		}
	}
	return true
}
