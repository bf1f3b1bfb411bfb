package extensions

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	istionetworkingv1alpha3api "istio.io/api/networking/v1alpha3"

	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/extensions/plan"
	"github.com/meshaccel/meshaccel/hyperscan"
)

// The router filter name, before which meshaccel inserts HTTP filters.
const routerFilter = "envoy.filters.http.router"

func (c *workloadContext) decideHyperscan() FeatureDecision {
	f := capability.Hyperscan
	h := c.p.hyperscan
	var needed []string
	if h.RegexEngine {
		needed = append(needed, capability.ExtHyperscanEngine)
	}
	if len(h.DenyPaths)+len(h.DenyUserAgents) > 0 {
		needed = append(needed, capability.ExtHyperscanMatcher)
	}
	if d, ok := c.proxyHas(f, needed...); !ok {
		return d
	}
	if c.t.in.RegexChecker == nil {
		return disabled(f, ReasonNoRegexChecker, "no Hyperscan compatibility checker is configured, so no regex can be proven safe")
	}
	var parts []string
	var evidence []string
	if h.RegexEngine {
		uses := regexesReaching(c.t.in, c.w)
		var offending []string
		for _, u := range uses {
			v := c.t.in.RegexChecker.CheckRegex(u.Regex)
			if v.Equivalent {
				continue
			}
			if h.OnIncompatible == "Proceed" && slices.Contains(h.Exceptions, u.Regex) {
				evidence = append(evidence, fmt.Sprintf("accepted exception %q in %s %s: %s", u.Regex, u.Object, u.Field, describeVerdict(v)))
				continue
			}
			offending = append(offending, fmt.Sprintf("%s %s %q: %s", u.Object, u.Field, u.Regex, describeVerdict(v)))
		}
		if len(offending) > 0 {
			d := disabled(f, ReasonIncompatibleRegexes, fmt.Sprintf("%d of %d regexes reaching this proxy behave differently under Hyperscan: %s", len(offending), len(uses), strings.Join(offending, "; ")))
			d.Evidence = offending
			return d
		}
		parts = append(parts, fmt.Sprintf("Hyperscan regex engine (all %d regexes reaching the proxy are equivalent)", len(uses)))
	}
	var denyFilter *hcmv3.HttpFilter
	if len(h.DenyPaths)+len(h.DenyUserAgents) > 0 {
		for _, list := range [][]string{h.DenyPaths, h.DenyUserAgents} {
			for _, r := range list {
				if v := c.t.in.RegexChecker.CheckRegex(r); !compilesUnderHyperscan(v) {
					return disabled(f, ReasonInvalidDenyRegex, fmt.Sprintf("deny regex %q: %s", r, describeVerdict(v)))
				}
			}
		}
		filter, err := hyperscan.BuildRBACDenyFilter(h.DenyPaths, h.DenyUserAgents)
		if err != nil {
			return disabled(f, ReasonPolicyInvalid, err.Error())
		}
		denyFilter = filter
		parts = append(parts, fmt.Sprintf("RBAC deny list with the Hyperscan matcher (%d path and %d user-agent regexes)", len(h.DenyPaths), len(h.DenyUserAgents)))
	}
	configMapName := c.w.ref.Name + "-meshaccel-bootstrap"
	if h.RegexEngine && !c.annotationFree(AnnotationBootstrapOverride, configMapName) {
		return disabled(f, ReasonAnnotationInUse, "the pod template already sets "+AnnotationBootstrapOverride+"; meshaccel does not replace a user's bootstrap override")
	}
	filterName := c.w.ref.Name + "-meshaccel-hyperscan"
	if denyFilter != nil {
		if d, clash := c.nameClash(f, filterName); clash {
			return d
		}
	}
	d, ok := c.placeable(f, hyperscan.NodeLabel, false)
	if !ok {
		return d
	}
	if h.RegexEngine {
		bootstrap, err := hyperscan.BuildBootstrap()
		if err != nil {
			return disabled(f, ReasonPolicyInvalid, err.Error())
		}
		c.plan.Bootstrap = &plan.BootstrapConfigMap{Name: configMapName, Bootstrap: bootstrap}
		c.plan.BootstrapOverride = configMapName
	}
	if denyFilter != nil {
		c.addHTTPFilterBeforeRouter(filterName, f, denyFilter)
	}
	c.switchProxyImage()
	c.enabledOn[f] = true
	d.Message = strings.Join(parts, "; ") + fmt.Sprintf(" on %d capable nodes", len(d.CapableNodes))
	d.Evidence = append(d.Evidence, evidence...)
	return d
}

// addHTTPFilterBeforeRouter plans an EnvoyFilter that inserts an HTTP filter before the router, on the
// inbound sidecar listeners or, for a gateway, on its listeners.
func (c *workloadContext) addHTTPFilterBeforeRouter(name string, f capability.Feature, filter *hcmv3.HttpFilter) {
	context := istionetworkingv1alpha3api.EnvoyFilter_SIDECAR_INBOUND
	if c.w.gateway {
		context = istionetworkingv1alpha3api.EnvoyFilter_GATEWAY
	}
	c.plan.EnvoyFilters = append(c.plan.EnvoyFilters, plan.EnvoyFilter{
		Name: name, Feature: f,
		Patches: []plan.Patch{{
			ApplyTo:   istionetworkingv1alpha3api.EnvoyFilter_HTTP_FILTER,
			Context:   context,
			Match:     httpFilterMatch(context),
			Operation: istionetworkingv1alpha3api.EnvoyFilter_Patch_INSERT_BEFORE,
			Value:     filter,
		}},
	})
}

// httpFilterMatch anchors an HTTP filter patch before the router in the HTTP connection manager.
func httpFilterMatch(context istionetworkingv1alpha3api.EnvoyFilter_PatchContext) *istionetworkingv1alpha3api.EnvoyFilter_EnvoyConfigObjectMatch {
	return &istionetworkingv1alpha3api.EnvoyFilter_EnvoyConfigObjectMatch{
		Context: context,
		ObjectTypes: &istionetworkingv1alpha3api.EnvoyFilter_EnvoyConfigObjectMatch_Listener{
			Listener: &istionetworkingv1alpha3api.EnvoyFilter_ListenerMatch{
				FilterChain: &istionetworkingv1alpha3api.EnvoyFilter_ListenerMatch_FilterChainMatch{
					Filter: &istionetworkingv1alpha3api.EnvoyFilter_ListenerMatch_FilterMatch{
						Name:      "envoy.filters.network.http_connection_manager",
						SubFilter: &istionetworkingv1alpha3api.EnvoyFilter_ListenerMatch_SubFilterMatch{Name: routerFilter},
					},
				},
			},
		},
	}
}

func describeVerdict(v hyperscan.RegexVerdict) string {
	if v.Equivalent {
		return "equivalent"
	}
	parts := make([]string, 0, len(v.Differences))
	for _, d := range v.Differences {
		s := string(d.Kind) + ": " + d.Detail
		if d.Example != "" {
			s += fmt.Sprintf(" (e.g. %q)", d.Example)
		}
		parts = append(parts, s)
	}
	if v.Rewrite != "" {
		parts = append(parts, fmt.Sprintf("safe rewrite: %q", v.Rewrite))
	}
	return strings.Join(parts, ", ")
}

// compilesUnderHyperscan: deny lists run on the Hyperscan matcher itself, so only refusal matters.
func compilesUnderHyperscan(v hyperscan.RegexVerdict) bool {
	for _, d := range v.Differences {
		if d.Kind == hyperscan.DiffUnsupported || d.Kind == hyperscan.DiffInvalidRE2 {
			return false
		}
	}
	return true
}

// WAF names.
const (
	wafFilterName = "meshaccel.waf"
	wafRootID     = "meshaccel-waf"
)

func (c *workloadContext) decideWAF() FeatureDecision {
	f := capability.WAF
	w := c.p.waf
	needed := []string{capability.ExtWasm}
	if w.Runtime == "WAMR" {
		needed = append(needed, capability.ExtWasmRuntimeWAMR)
	}
	if d, ok := c.proxyHas(f, needed...); !ok {
		return d
	}
	config := map[string]any{"mode": strings.ToLower(w.Mode)}
	if w.PluginConfig != nil && len(w.PluginConfig.Raw) > 0 {
		var user map[string]any
		if err := json.Unmarshal(w.PluginConfig.Raw, &user); err != nil {
			return disabled(f, ReasonPolicyInvalid, "spec.features.waf.pluginConfig: "+err.Error())
		}
		for k, v := range user {
			config[k] = v
		}
	}
	name := c.w.ref.Name + "-meshaccel-waf"
	if w.Runtime == "WAMR" {
		if d, clash := c.nameClash(f, name); clash {
			return d
		}
		filter, err := wamrWasmFilter(w.Image, w.SHA256, config)
		if err != nil {
			return disabled(f, ReasonPolicyInvalid, err.Error())
		}
		c.addHTTPFilterBeforeRouter(name, f, filter)
	} else {
		c.plan.WasmPlugin = &plan.WasmPlugin{Name: name, URL: w.Image, SHA256: w.SHA256, PluginConfig: config}
	}
	c.switchProxyImage()
	c.enabledOn[f] = true
	how := "WasmPlugin " + name
	if w.Runtime == "WAMR" {
		how = "EnvoyFilter " + name + " on the WAMR runtime"
	}
	return enabled(f, ReasonEnabled, fmt.Sprintf("WAF (%s mode) from %s via %s", w.Mode, w.Image, how))
}

// wamrWasmFilter builds the Wasm HTTP filter on Envoy's WAMR runtime. The module is fetched by
// istio-agent, which rewrites remote code to a local file and checks the sha256.
func wamrWasmFilter(image, sha256 string, config map[string]any) (*hcmv3.HttpFilter, error) {
	configJSON, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	pluginConfig, err := anypb.New(wrapperspb.String(string(configJSON)))
	if err != nil {
		return nil, err
	}
	wasm := &wasmfilterv3.Wasm{Config: &wasmv3.PluginConfig{
		Name:          wafFilterName,
		RootId:        wafRootID,
		Configuration: pluginConfig,
		FailOpen:      false,
		Vm: &wasmv3.PluginConfig_VmConfig{VmConfig: &wasmv3.VmConfig{
			VmId:    wafRootID,
			Runtime: capability.ExtWasmRuntimeWAMR,
			Code: &corev3.AsyncDataSource{Specifier: &corev3.AsyncDataSource_Remote{Remote: &corev3.RemoteDataSource{
				HttpUri: &corev3.HttpUri{
					Uri:              image,
					HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: "outbound|443||meshaccel-wasm-registry"},
					Timeout:          durationpb.New(30 * time.Second),
				},
				Sha256: sha256,
			}}},
		}},
	}}
	if err := wasm.ValidateAll(); err != nil {
		return nil, err
	}
	typed, err := anypb.New(wasm)
	if err != nil {
		return nil, err
	}
	filter := &hcmv3.HttpFilter{Name: wafFilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: typed}}
	return filter, filter.ValidateAll()
}

// decideBypass activates the node agent wherever the workload's pods can run and the node supports
// it. It adds no scheduling constraint: the bypass is transparent, and a node without it keeps the
// kernel path.
func (c *workloadContext) decideBypass() FeatureDecision {
	f := capability.Bypass
	c.t.bypassAsked = true
	if len(c.candidates) == 0 {
		return disabled(f, ReasonNoCandidateNodes, "no node satisfies the workload's own node selector, affinity and tolerations")
	}
	split := c.capableCandidates(f)
	if len(split.capable) == 0 {
		return disabled(f, ReasonNoCapableNodes, fmt.Sprintf("none of the %d schedulable nodes supports the bypass: %s", len(c.candidates), strings.Join(split.incapable, ", ")))
	}
	for name := range split.capable {
		c.t.bypassNodes[name] = true
	}
	c.enabledOn[f] = true
	d := enabled(f, ReasonEnabled, fmt.Sprintf("the node agent bypasses the kernel TCP/IP stack for local sidecar hops on %d of the %d nodes the workload can run on; elsewhere traffic takes the normal path", len(split.capable), len(c.candidates)))
	d.CapableNodes = split.sorted
	d.Evidence = append([]string(nil), split.evidence...)
	return d
}
