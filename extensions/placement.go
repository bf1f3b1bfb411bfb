package extensions

import (
	"encoding/json"
	"fmt"
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

// choosePlacement builds the smallest constraint that keeps pods on allowed nodes: a nodeSelector on
// meshaccel's NodeFeatureRule labels when every node it selects (among the candidates) is allowed, or
// else required node affinity on the allowed host names. The user's own required terms are kept.
func choosePlacement(t *corev1.PodTemplateSpec, candidates []*capability.Node, allowed nodeSet, reqs []placementRequirement) *plan.Placement {
	if len(reqs) == 0 {
		return nil
	}
	selector := map[string]string{}
	usable := true
	for _, r := range reqs {
		if r.nodeLabel == "" {
			usable = false
			break
		}
		selector[r.nodeLabel] = "true"
	}
	if usable {
		selected := 0
		for _, n := range candidates {
			if !matchesSelector(n.Labels, selector) {
				continue
			}
			if !allowed[n.Name] {
				usable = false
				break
			}
			selected++
		}
		if usable && selected > 0 {
			keys := make([]string, 0, len(selector))
			for k := range selector {
				keys = append(keys, k+"=true")
			}
			sort.Strings(keys)
			return &plan.Placement{
				NodeSelector: selector,
				Description:  fmt.Sprintf("nodeSelector %s (selects %d of the %d nodes that support every enabled feature)", strings.Join(keys, ","), selected, len(allowed)),
			}
		}
	}
	requirement := corev1.NodeSelectorRequirement{Key: hostnameLabel, Operator: corev1.NodeSelectorOpIn, Values: allowed.sorted()}
	var terms []corev1.NodeSelectorTerm
	if a := t.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			term = *term.DeepCopy()
			term.MatchExpressions = append(term.MatchExpressions, requirement)
			terms = append(terms, term)
		}
	}
	if len(terms) == 0 {
		terms = []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{requirement}}}
	}
	return &plan.Placement{
		RequiredNodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: terms},
		Description:          fmt.Sprintf("required node affinity on %s in [%s] (no NodeFeatureRule label selects only capable nodes)", hostnameLabel, strings.Join(allowed.sorted(), ", ")),
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
			if r.Key == hostnameLabel && r.Operator == corev1.NodeSelectorOpIn {
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
