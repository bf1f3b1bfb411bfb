package extensions

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	meshconfig "istio.io/api/mesh/v1alpha1"
	istionetworkingv1alpha3api "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/bypass"
	"github.com/meshaccel/meshaccel/cryptomb"
	"github.com/meshaccel/meshaccel/dlb"
	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/extensions/keyprovider"
	"github.com/meshaccel/meshaccel/extensions/nodefeatures"
	"github.com/meshaccel/meshaccel/extensions/plan"
	"github.com/meshaccel/meshaccel/extensions/render/istio"
	"github.com/meshaccel/meshaccel/hyperscan"
	"github.com/meshaccel/meshaccel/qat"
)

// Extensions are the features meshaccel knows, in the order decisions are made: a key provider first
// (it may narrow placement), then the features that follow it.
var Extensions = []capability.Extension{qat.Extension{}, cryptomb.Extension{}, hyperscan.Extension{}, dlb.Extension{}, bypass.Extension{}}

// Translate turns the input into the objects to apply and the decisions behind them.
//
// Problems confined to one policy (an invalid setting, two policies selecting one workload) are
// returned as an *InputError listing each, while the Result still holds everything the problems do
// not touch: the operator applies that and reports the problems in status; the CLI refuses to print a
// partial result.
func Translate(in Input) (Result, error) {
	t := &translation{
		in:          &in,
		nodeSupport: map[string]map[capability.Feature]capability.Support{},
		candidates:  map[string][]*capability.Node{},
		splits:      map[string]*capableSplit{},
		names:       map[string][]string{},
		bypassNodes: nodeSet{},
	}
	t.buildNodes()
	t.parsePolicies()
	t.selectWorkloads()
	for _, sel := range t.selections {
		t.decide(sel)
	}
	result := t.result()
	if len(t.problems) > 0 {
		sortProblems(t.problems)
		return result, &InputError{Problems: t.problems}
	}
	return result, nil
}

type translation struct {
	in          *Input
	nodes       []*capability.Node
	nodeByName  map[string]*capability.Node
	nodeSupport map[string]map[capability.Feature]capability.Support
	policies    []*policy
	selections  []*selection
	problems    []Problem
	plans       []*plan.Workload
	decisions   []WorkloadDecision
	// Memoized per scheduling-constraint key: most workloads share their constraints.
	candidates map[string][]*capability.Node
	splits     map[string]*capableSplit
	names      map[string][]string
	// podsByLabel indexes scheduled pods by "namespace/key=value" of each label, so a workload looks
	// only at pods that carry one of its selector's labels.
	podsByLabel map[string][]*corev1.Pod
	podsByNS    map[string][]*corev1.Pod
	// bypassNodes are the nodes where some workload wants the TCP/IP bypass and the node supports it.
	bypassNodes nodeSet
	bypassAsked bool
}

// podsMaybeSelected returns the scheduled pods that can match the workload's selector: those with one
// of its matchLabels (the selector is checked afterwards), or all pods of the namespace.
func (t *translation) podsMaybeSelected(w *workload) []*corev1.Pod {
	if t.podsByNS == nil {
		t.podsByNS = map[string][]*corev1.Pod{}
		t.podsByLabel = map[string][]*corev1.Pod{}
		for i := range t.in.Pods {
			pod := &t.in.Pods[i]
			if pod.Spec.NodeName == "" {
				continue
			}
			t.podsByNS[pod.Namespace] = append(t.podsByNS[pod.Namespace], pod)
			for k, v := range pod.Labels {
				key := pod.Namespace + "/" + k + "=" + v
				t.podsByLabel[key] = append(t.podsByLabel[key], pod)
			}
		}
	}
	if w.podSelector != nil {
		for _, k := range sortedKeys(w.podSelector.MatchLabels) {
			return t.podsByLabel[w.ref.Namespace+"/"+k+"="+w.podSelector.MatchLabels[k]]
		}
	}
	return t.podsByNS[w.ref.Namespace]
}

// candidateNames lists a candidate set's node names once per set; decisions share it read-only.
func (t *translation) candidateNames(key string, nodes []*capability.Node) []string {
	if names, ok := t.names[key]; ok {
		return names
	}
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	t.names[key] = names
	return names
}

func (t *translation) candidatesFor(template *corev1.PodTemplateSpec) []*capability.Node {
	key := schedulingKey(template)
	if c, ok := t.candidates[key]; ok {
		return c
	}
	c := candidateNodes(template, t.nodes)
	t.candidates[key] = c
	return c
}

// selection is one workload selected by exactly one valid policy.
type selection struct {
	workload *workload
	policy   *policy
}

func (t *translation) buildNodes() {
	t.nodes = nodefeatures.Nodes(t.in.Nodes, t.in.NodeFeatures, t.in.QATDevicePlugins)
	t.nodeByName = make(map[string]*capability.Node, len(t.nodes))
	for _, n := range t.nodes {
		t.nodeByName[n.Name] = n
		support := make(map[capability.Feature]capability.Support, len(Extensions))
		for _, ext := range Extensions {
			support[ext.Feature()] = ext.Supported(n)
		}
		t.nodeSupport[n.Name] = support
	}
}

func (t *translation) parsePolicies() {
	sorted := make([]*v1alpha1.AccelerationPolicy, 0, len(t.in.Policies))
	for i := range t.in.Policies {
		sorted = append(sorted, &t.in.Policies[i])
	}
	sort.Slice(sorted, func(i, j int) bool {
		return sorted[i].Namespace+"/"+sorted[i].Name < sorted[j].Namespace+"/"+sorted[j].Name
	})
	for _, src := range sorted {
		p, problems := parsePolicy(src)
		t.problems = append(t.problems, problems...)
		if len(problems) == 0 {
			t.policies = append(t.policies, p)
		} else {
			// An invalid policy still gets a status, with nothing selected.
			t.policies = append(t.policies, &policy{source: src, object: p.object})
		}
	}
}

func (p *policy) valid() bool { return p.selector != nil || p.gateway != "" }

func (p *policy) selects(w *workload) bool {
	if !p.valid() || w.ref.Namespace != p.source.Namespace {
		return false
	}
	if p.gateway != "" {
		return w.ref.Kind == KindDeployment && w.ref.Name == p.gateway
	}
	return !p.selector.Empty() && p.selector.Matches(labels.Set(w.labels))
}

// selectWorkloads pairs workloads with policies. A workload that two policies select is left alone and
// reported on both: choosing one silently would make the result depend on names.
func (t *translation) selectWorkloads() {
	workloads := collectWorkloads(t.in)
	for _, w := range workloads {
		var matched []*policy
		for _, p := range t.policies {
			if p.selects(w) {
				matched = append(matched, p)
			}
		}
		switch len(matched) {
		case 0:
		case 1:
			t.selections = append(t.selections, &selection{workload: w, policy: matched[0]})
		default:
			names := make([]string, 0, len(matched))
			for _, p := range matched {
				names = append(names, p.source.Name)
			}
			for _, p := range matched {
				t.problems = append(t.problems, Problem{
					Object:  p.object,
					Field:   "spec.workloads",
					Value:   w.ref.String(),
					Message: fmt.Sprintf("workload is selected by %d policies (%s); meshaccel leaves it unchanged until exactly one selects it", len(matched), strings.Join(names, ", ")),
				})
			}
		}
	}
}

// decision builders.
func enabled(f capability.Feature, reason, message string) FeatureDecision {
	return FeatureDecision{Feature: f, Enabled: true, Reason: reason, Message: message}
}

func disabled(f capability.Feature, reason, message string) FeatureDecision {
	return FeatureDecision{Feature: f, Enabled: false, Reason: reason, Message: message}
}

// Reasons for feature decisions that are not a node's.
const (
	ReasonEnabled                = "Enabled"
	ReasonProxyLacksExtension    = "ProxyLacksExtension"
	ReasonNoCandidateNodes       = "NoSchedulableNodes"
	ReasonNoCapableNodes         = "NoCapableNodes"
	ReasonPlacementNotGuaranteed = "PlacementNotGuaranteed"
	ReasonPlacementConflict      = "PlacementWouldTakeOverUserField"
	ReasonQATPreferred           = "QATPreferred"
	ReasonNotAGateway            = "NotAGateway"
	ReasonNoProxyContainer       = "NoProxyContainer"
	ReasonAnnotationInUse        = "AnnotationInUse"
	ReasonNameClash              = "NameClash"
	ReasonIncompatibleRegexes    = "IncompatibleRegexes"
	ReasonNoRegexChecker         = "NoRegexChecker"
	ReasonInvalidDenyRegex       = "InvalidDenyRegex"
	ReasonPolicyInvalid          = "PolicyInvalid"
)

// workloadContext carries the per-workload state while features are decided in order.
type workloadContext struct {
	t        *translation
	w        *workload
	p        *policy
	proxy    capability.Proxy
	template *corev1.PodTemplateSpec // without meshaccel's own placement constraint
	// candidates narrows as Required features add constraints; candidateKey names the set, so that
	// workloads with the same constraints share the work.
	candidates   []*capability.Node
	candidateKey string
	requirements []placementRequirement
	plan         *plan.Workload
	decision     WorkloadDecision
	enabledOn    map[capability.Feature]bool
}

func (t *translation) decide(sel *selection) {
	w, p := sel.workload, sel.policy
	proxy := t.in.DefaultProxy
	if p.proxy != nil {
		proxy = *p.proxy
	}
	template := userTemplate(w.template)
	c := &workloadContext{
		t: t, w: w, p: p, proxy: proxy, template: template,
		candidates:   t.candidatesFor(template),
		candidateKey: schedulingKey(template),
		plan: &plan.Workload{
			Kind: w.ref.Kind, Namespace: w.ref.Namespace, Name: w.ref.Name,
			Policy:      plan.PolicyRef{Name: p.source.Name, UID: p.source.UID},
			Gateway:     w.gateway,
			PodSelector: w.podSelectorMap(),
			Pending:     p.manual,
		},
		decision: WorkloadDecision{
			Workload: w.ref, Policy: p.source.Name, Gateway: w.gateway, Proxy: proxy.String(),
		},
		enabledOn: map[capability.Feature]bool{},
	}
	c.decision.CandidateNodes = t.candidateNames(c.candidateKey, c.candidates)
	c.decideKeyProvider()
	if p.hyperscan != nil {
		c.decision.Features = append(c.decision.Features, c.decideHyperscan())
	}
	if p.dlb != nil {
		c.decision.Features = append(c.decision.Features, c.decideDLB())
	}
	if p.waf != nil {
		c.decision.Features = append(c.decision.Features, c.decideWAF())
	}
	if p.bypass {
		c.decision.Features = append(c.decision.Features, c.decideBypass())
	}
	c.finishPlacement()
	c.findMisplacedPods()
	t.plans = append(t.plans, c.plan)
	t.decisions = append(t.decisions, c.decision)
}

// proxyHas checks the proxy for a feature's Envoy extensions and says which image provides them.
func (c *workloadContext) proxyHas(f capability.Feature, extensions ...string) (FeatureDecision, bool) {
	if !c.proxy.IsIstio() && c.proxy.Flavor != "" {
		return disabled(f, ReasonProxyLacksExtension, fmt.Sprintf("%s is not an Istio proxy and cannot run as this workload's sidecar or gateway", c.proxy)), false
	}
	for _, ext := range extensions {
		if ok, why := c.proxy.Has(ext); !ok {
			return disabled(f, ReasonProxyLacksExtension, fmt.Sprintf("proxy %s lacks %s: %s", c.proxy, ext, why)), false
		}
	}
	return FeatureDecision{}, true
}

// capableSplit is the split of a candidate set by one feature's node support.
type capableSplit struct {
	capable   nodeSet
	sorted    []string // capable node names, sorted; shared read-only by decisions
	incapable []string
	narrowed  []*capability.Node
	evidence  []string
}

// maxEvidenceNodes bounds the per-node evidence copied into each decision; explain on a node shows
// the rest.
const maxEvidenceNodes = 5

// capableCandidates splits the current candidates by a feature's node support. Results are shared by
// every workload with the same candidate set (thousands of workloads usually share a few).
func (c *workloadContext) capableCandidates(f capability.Feature) *capableSplit {
	key := c.candidateKey + "|" + string(f)
	if split, ok := c.t.splits[key]; ok {
		return split
	}
	split := &capableSplit{capable: nodeSet{}}
	for _, n := range c.candidates {
		s := c.t.nodeSupport[n.Name][f]
		if !s.Supported {
			split.incapable = append(split.incapable, fmt.Sprintf("%s (%s)", n.Name, s.Reason))
			continue
		}
		split.capable[n.Name] = true
		split.narrowed = append(split.narrowed, n)
		if len(split.capable) <= maxEvidenceNodes {
			for _, ev := range s.Evidence {
				split.evidence = append(split.evidence, n.Name+": "+ev.String())
			}
		}
	}
	if extra := len(split.capable) - maxEvidenceNodes; extra > 0 {
		split.evidence = append(split.evidence, fmt.Sprintf("and %d more capable nodes (meshaccel explain node/NAME)", extra))
	}
	split.sorted = split.capable.sorted()
	c.t.splits[key] = split
	return split
}

// placeable decides whether the feature can be kept on capable nodes under the policy's placement
// mode. guaranteedByResource is true when the feature requests an extended resource that only capable
// nodes offer, which the scheduler enforces by itself.
func (c *workloadContext) placeable(f capability.Feature, nodeLabel string, guaranteedByResource bool) (FeatureDecision, bool) {
	if len(c.candidates) == 0 {
		return disabled(f, ReasonNoCandidateNodes, "no node satisfies the workload's own node selector, affinity and tolerations"), false
	}
	split := c.capableCandidates(f)
	capable, incapable := split.capable, split.incapable
	if len(capable) == 0 {
		return disabled(f, ReasonNoCapableNodes, fmt.Sprintf("none of the %d schedulable nodes supports %s: %s", len(c.candidates), f, strings.Join(incapable, ", "))), false
	}
	if c.p.placement == v1alpha1.PlacementWhereGuaranteed && len(incapable) > 0 {
		return disabled(f, ReasonPlacementNotGuaranteed, fmt.Sprintf("placement WhereGuaranteed: the workload can still be scheduled to nodes without %s: %s", f, strings.Join(incapable, ", "))), false
	}
	d := FeatureDecision{Feature: f, Enabled: true, Reason: ReasonEnabled, CapableNodes: split.sorted, Evidence: append([]string(nil), split.evidence...)}
	if len(incapable) > 0 && !guaranteedByResource {
		if why := placementBlocked(c.template, nodeLabel, c.candidates, capable); why != "" {
			return disabled(f, ReasonPlacementConflict, why), false
		}
		c.requirements = append(c.requirements, placementRequirement{feature: f, nodeLabel: nodeLabel})
	}
	// Later features only see the nodes this one allows.
	if len(incapable) > 0 {
		c.candidates = split.narrowed
		c.candidateKey += "|" + string(f)
	}
	return d, true
}

// annotationFree reports whether meshaccel may own a pod-template annotation: it is absent, or holds
// exactly what meshaccel would write.
func (c *workloadContext) annotationFree(key, want string) bool {
	have, ok := c.template.Annotations[key]
	return !ok || have == want
}

func (c *workloadContext) decideKeyProvider() {
	p := c.p
	if p.qat == nil && p.cryptoMB == nil {
		return
	}
	var qatDecision, cmbDecision *FeatureDecision
	chosen := false
	if p.qat != nil {
		d := c.tryKeyProvider(capability.QAT, *p.qat)
		qatDecision = &d
		chosen = d.Enabled
	}
	if p.cryptoMB != nil {
		var d FeatureDecision
		if chosen {
			d = disabled(capability.CryptoMB, ReasonQATPreferred, "QAT was chosen for this workload: it has a QAT device and the proxy has the QAT provider")
		} else {
			d = c.tryKeyProvider(capability.CryptoMB, *p.cryptoMB)
		}
		cmbDecision = &d
	}
	if qatDecision != nil {
		c.decision.Features = append(c.decision.Features, *qatDecision)
	}
	if cmbDecision != nil {
		c.decision.Features = append(c.decision.Features, *cmbDecision)
	}
}

func (c *workloadContext) tryKeyProvider(f capability.Feature, pollDelay time.Duration) FeatureDecision {
	ext := capability.ExtCryptoMB
	if f == capability.QAT {
		ext = capability.ExtQAT
	}
	if d, ok := c.proxyHas(f, ext); !ok {
		return d
	}
	var istioProvider = keyprovider.IstioCryptoMB(pollDelay)
	if f == capability.QAT {
		istioProvider = keyprovider.IstioQAT(pollDelay)
	}
	proxyConfig, err := istio.ProxyConfigAnnotation(keyprovider.IstioProxyConfig(istioProvider))
	if err != nil {
		return disabled(f, ReasonPolicyInvalid, err.Error())
	}
	if !c.annotationFree(AnnotationProxyConfig, proxyConfig) && !proxyConfigHoldsOnlyAKeyProvider(c.template.Annotations[AnnotationProxyConfig]) {
		return disabled(f, ReasonAnnotationInUse, "the pod template already sets "+AnnotationProxyConfig+"; meshaccel does not overwrite a user's proxy config (move its settings to a ProxyConfig resource)")
	}
	if f == capability.QAT && c.w.gateway && !hasContainer(c.template, ProxyContainerName) {
		return disabled(f, ReasonNoProxyContainer, "gateway pod template has no "+ProxyContainerName+" container to give the QAT device to")
	}
	if f == capability.QAT && !c.w.gateway {
		templates := "sidecar," + c.p.injectionTemplate
		if !c.annotationFree(AnnotationInjectTemplates, templates) {
			return disabled(f, ReasonAnnotationInUse, "the pod template already sets "+AnnotationInjectTemplates+"; sidecars get a QAT device only through meshaccel's injection template")
		}
	}
	label := cryptomb.NodeLabel
	if f == capability.QAT {
		label = ""
	}
	d, ok := c.placeable(f, label, f == capability.QAT)
	if !ok {
		return d
	}
	if f == capability.QAT {
		if c.w.gateway {
			c.plan.ProxyContainer = &plan.ProxyContainer{
				Name:         ProxyContainerName,
				Resources:    corev1.ResourceList{qat.ResourceCrypto: resource.MustParse("1")},
				Capabilities: []corev1.Capability{"IPC_LOCK"},
			}
			d.Message = fmt.Sprintf("QAT key provider (pollDelay %s) on %d capable nodes; the gateway's proxy requests %s and IPC_LOCK (the container runtime must allow locked memory)", pollDelay, len(d.CapableNodes), qat.ResourceCrypto)
		} else {
			c.plan.InjectionTemplate = c.p.injectionTemplate
			d.Message = fmt.Sprintf("QAT key provider (pollDelay %s) on %d capable nodes; sidecars get %s and IPC_LOCK from the injection template %q, which must be installed in istiod", pollDelay, len(d.CapableNodes), qat.ResourceCrypto, c.p.injectionTemplate)
		}
	} else {
		d.Message = fmt.Sprintf("CryptoMB key provider (pollDelay %s) on %d capable nodes", pollDelay, len(d.CapableNodes))
	}
	if c.w.gateway {
		// istiod (credentialName secrets) and istio-agent (workload and file-mounted certificates, served
		// as file-cert SDS resources) both apply the pod's privateKeyProvider to every key they send, so
		// the annotation covers all gateway certificates; an EnvoyFilter would add a second certificate.
		d.Message += "; applies to every gateway certificate Istio serves over SDS (credentialName and file-mounted)"
	}
	c.plan.ProxyConfig = keyprovider.IstioProxyConfig(istioProvider)
	c.switchProxyImage()
	c.enabledOn[f] = true
	return d
}

// proxyConfigHoldsOnlyAKeyProvider recognises a proxy.istio.io/config that meshaccel wrote: a key
// provider and nothing else (a user's own settings would be lost when meshaccel drops the annotation).
func proxyConfigHoldsOnlyAKeyProvider(value string) bool {
	var pc meshconfig.ProxyConfig
	if err := protojson.Unmarshal([]byte(value), &pc); err != nil || pc.PrivateKeyProvider == nil {
		return false
	}
	pc.PrivateKeyProvider = nil
	return proto.Size(&pc) == 0
}

// switchProxyImage asks Istio for the policy's proxy image when the policy names one.
func (c *workloadContext) switchProxyImage() {
	if c.p.proxy != nil && c.p.proxy.Image != "" {
		c.plan.ProxyImage = c.p.proxy.Image
	}
}

func hasContainer(t *corev1.PodTemplateSpec, name string) bool {
	for _, ct := range t.Spec.Containers {
		if ct.Name == name {
			return true
		}
	}
	return false
}

func (c *workloadContext) decideDLB() FeatureDecision {
	f := capability.DLB
	if !c.w.gateway {
		return disabled(f, ReasonNotAGateway, "the DLB balancer applies to gateway listeners only")
	}
	if d, ok := c.proxyHas(f, capability.ExtDLB); !ok {
		return d
	}
	if !hasContainer(c.template, ProxyContainerName) {
		return disabled(f, ReasonNoProxyContainer, "gateway pod template has no "+ProxyContainerName+" container to give the DLB device to")
	}
	name := c.w.ref.Name + "-meshaccel-dlb"
	if d, clash := c.nameClash(f, name); clash {
		return d
	}
	listener, err := dlb.Build(*c.p.dlb)
	if err != nil {
		return disabled(f, ReasonPolicyInvalid, err.Error())
	}
	d, ok := c.placeable(f, "", true)
	if !ok {
		return d
	}
	if c.plan.ProxyContainer == nil {
		c.plan.ProxyContainer = &plan.ProxyContainer{Name: ProxyContainerName, Resources: corev1.ResourceList{}}
	}
	c.plan.ProxyContainer.Resources[dlb.ResourcePF] = resource.MustParse("1")
	c.plan.EnvoyFilters = append(c.plan.EnvoyFilters, plan.EnvoyFilter{
		Name: name, Feature: f,
		Patches: []plan.Patch{{
			ApplyTo:   istionetworkingv1alpha3api.EnvoyFilter_LISTENER,
			Context:   istionetworkingv1alpha3api.EnvoyFilter_GATEWAY,
			Operation: istionetworkingv1alpha3api.EnvoyFilter_Patch_MERGE,
			Value:     listener,
		}},
	})
	c.switchProxyImage()
	c.enabledOn[f] = true
	d.Message = fmt.Sprintf("experimental DLB connection balancer (device %d, fallback %s) on the gateway listeners; the proxy requests %s; keep proxy concurrency at most %d", c.p.dlb.ID, c.p.dlb.FallbackPolicy, dlb.ResourcePF, dlb.MaxConcurrency)
	return d
}

// nameClash reports an existing EnvoyFilter with meshaccel's name that meshaccel does not own.
func (c *workloadContext) nameClash(f capability.Feature, name string) (FeatureDecision, bool) {
	for _, ef := range c.t.in.EnvoyFilters {
		if ef.Namespace == c.w.ref.Namespace && ef.Name == name && ef.Labels[LabelManagedBy] != ManagedByMeshaccel {
			return disabled(f, ReasonNameClash, fmt.Sprintf("EnvoyFilter %s/%s exists and is not managed by meshaccel; it is left untouched", ef.Namespace, name)), true
		}
	}
	return FeatureDecision{}, false
}

func (c *workloadContext) finishPlacement() {
	if len(c.requirements) == 0 {
		return
	}
	allowed := nodeSet{}
	for _, n := range c.candidates {
		allowed[n.Name] = true
	}
	c.plan.Placement = choosePlacement(c.template, c.candidates, allowed, c.requirements)
	for i := range c.decision.Features {
		d := &c.decision.Features[i]
		for _, r := range c.requirements {
			if r.feature == d.Feature && d.Enabled {
				d.Message += "; pods are kept on capable nodes by " + c.plan.Placement.Description
			}
		}
	}
}

// findMisplacedPods lists running pods of the workload on nodes that cannot run an enabled feature
// (for example after a node lost a capability): they keep running until rolled.
func (c *workloadContext) findMisplacedPods() {
	if len(c.enabledOn) == 0 {
		return
	}
	selector := c.w.selector()
	if selector == nil {
		return
	}
	for _, pod := range c.t.podsMaybeSelected(c.w) {
		if pod.Spec.NodeName == "" || !selector.Matches(labels.Set(pod.Labels)) {
			continue
		}
		support, known := c.t.nodeSupport[pod.Spec.NodeName]
		for _, f := range sortedFeatures(c.enabledOn) {
			if f == capability.WAF {
				continue
			}
			if !known {
				c.decision.MisplacedPods = append(c.decision.MisplacedPods, fmt.Sprintf("%s on unknown node %s", pod.Name, pod.Spec.NodeName))
				break
			}
			if s := support[f]; !s.Supported {
				c.decision.MisplacedPods = append(c.decision.MisplacedPods, fmt.Sprintf("%s on %s: %s %s", pod.Name, pod.Spec.NodeName, f, s.Reason))
				break
			}
		}
	}
	sort.Strings(c.decision.MisplacedPods)
}

func sortedFeatures(m map[capability.Feature]bool) []capability.Feature {
	out := make([]capability.Feature, 0, len(m))
	for f := range m {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
