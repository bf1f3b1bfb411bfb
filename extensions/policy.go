package extensions

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/dlb"
	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/extensions/keyprovider"
)

// policy is an AccelerationPolicy with its settings parsed and defaulted.
type policy struct {
	source    *v1alpha1.AccelerationPolicy
	object    string // "AccelerationPolicy ns/name"
	selector  labels.Selector
	gateway   string
	placement v1alpha1.PlacementMode
	manual    bool
	proxy     *capability.Proxy // nil: the default proxy

	cryptoMB          *time.Duration // poll delay when requested
	qat               *time.Duration
	injectionTemplate string
	dlb               *dlb.Settings
	hyperscan         *v1alpha1.HyperscanFeature
	waf               *v1alpha1.WAFFeature
	bypass            bool
}

func (p *policy) requested() []capability.Feature {
	var out []capability.Feature
	if p.qat != nil {
		out = append(out, capability.QAT)
	}
	if p.cryptoMB != nil {
		out = append(out, capability.CryptoMB)
	}
	if p.dlb != nil {
		out = append(out, capability.DLB)
	}
	if p.hyperscan != nil {
		out = append(out, capability.Hyperscan)
	}
	if p.waf != nil {
		out = append(out, capability.WAF)
	}
	if p.bypass {
		out = append(out, capability.Bypass)
	}
	return out
}

// parsePolicy applies defaults and checks what the API server's schema would (the CLI reads policies
// that never met one) plus what only meshaccel knows. Every problem names the field and the value.
func parsePolicy(src *v1alpha1.AccelerationPolicy) (*policy, []Problem) {
	p := &policy{source: src, object: "AccelerationPolicy " + src.Namespace + "/" + src.Name}
	var problems []Problem
	bad := func(field, value, format string, args ...any) {
		problems = append(problems, Problem{Object: p.object, Field: field, Value: value, Message: fmt.Sprintf(format, args...)})
	}
	spec := &src.Spec

	switch {
	case spec.Workloads.Selector != nil && spec.Workloads.Gateway != nil:
		bad("spec.workloads", "", "set exactly one of selector or gateway")
	case spec.Workloads.Selector != nil:
		sel, err := metav1.LabelSelectorAsSelector(spec.Workloads.Selector)
		if err != nil {
			bad("spec.workloads.selector", metav1.FormatLabelSelector(spec.Workloads.Selector), "%v", err)
		}
		p.selector = sel
	case spec.Workloads.Gateway != nil:
		if spec.Workloads.Gateway.Name == "" {
			bad("spec.workloads.gateway.name", "", "must name a gateway Deployment")
		}
		p.gateway = spec.Workloads.Gateway.Name
	default:
		bad("spec.workloads", "", "set exactly one of selector or gateway")
	}

	switch spec.Placement {
	case "", v1alpha1.PlacementRequired:
		p.placement = v1alpha1.PlacementRequired
	case v1alpha1.PlacementWhereGuaranteed:
		p.placement = v1alpha1.PlacementWhereGuaranteed
	default:
		bad("spec.placement", string(spec.Placement), "must be Required or WhereGuaranteed")
	}

	switch spec.Rollout.Strategy {
	case "", v1alpha1.RolloutAutomatic:
	case v1alpha1.RolloutManual:
		p.manual = true
	default:
		bad("spec.rollout.strategy", string(spec.Rollout.Strategy), "must be Automatic or Manual")
	}

	if spec.Proxy != nil {
		proxy := capability.Proxy{Flavor: spec.Proxy.Flavor, Version: spec.Proxy.Version, Image: spec.Proxy.Image, Extensions: spec.Proxy.Extensions}
		switch spec.Proxy.Flavor {
		case v1alpha1.ProxyIstioProxyV2, v1alpha1.ProxyIstioContrib, v1alpha1.ProxyEnvoyContrib:
			if spec.Proxy.Version == "" {
				bad("spec.proxy.version", "", "a %s proxy needs a version", spec.Proxy.Flavor)
			} else if _, err := capability.ParseVersion(spec.Proxy.Version); err != nil {
				bad("spec.proxy.version", spec.Proxy.Version, "%v", err)
			}
		case v1alpha1.ProxyCustom:
			if len(spec.Proxy.Extensions) == 0 {
				bad("spec.proxy.extensions", "", "a Custom proxy must declare its extensions")
			}
		default:
			bad("spec.proxy.flavor", string(spec.Proxy.Flavor), "must be one of IstioProxyV2, IstioContrib, EnvoyContrib, Custom")
		}
		if spec.Proxy.Image != "" && spec.Proxy.Flavor == v1alpha1.ProxyEnvoyContrib {
			bad("spec.proxy.image", spec.Proxy.Image, "a plain Envoy contrib image has no pilot-agent and cannot replace an Istio sidecar or gateway; use an Istio proxy build with contrib extensions (flavor IstioContrib)")
		}
		p.proxy = &proxy
	}

	f := &spec.Features
	if f.CryptoMB == nil && f.QAT == nil && f.DLB == nil && f.Hyperscan == nil && f.WAF == nil && f.Bypass == nil {
		bad("spec.features", "", "must name at least one feature")
	}
	pollDelay := func(field string, kp *v1alpha1.KeyProviderFeature) *time.Duration {
		d := keyprovider.DefaultPollDelay
		if kp.PollDelay != nil {
			d = kp.PollDelay.Duration
		}
		if err := keyprovider.ValidatePollDelay(d); err != nil {
			bad(field, d.String(), "must be at least 1ms and less than 1s (Istio keeps only the sub-second part)")
			return nil
		}
		return &d
	}
	if f.CryptoMB != nil {
		p.cryptoMB = pollDelay("spec.features.cryptomb.pollDelay", f.CryptoMB)
	}
	if f.QAT != nil {
		p.qat = pollDelay("spec.features.qat.pollDelay", &f.QAT.KeyProviderFeature)
		p.injectionTemplate = f.QAT.InjectionTemplate
		if p.injectionTemplate == "" {
			p.injectionTemplate = DefaultQATInjectionTemplate
		}
	}
	if f.DLB != nil {
		s := dlb.Settings{ID: f.DLB.ID, MaxRetries: f.DLB.MaxRetries, FallbackPolicy: f.DLB.FallbackPolicy}
		if s.FallbackPolicy == "" {
			s.FallbackPolicy = "ExactConnectionBalance"
		}
		if _, err := dlb.Build(s); err != nil {
			bad("spec.features.dlb.fallbackPolicy", s.FallbackPolicy, "%v", err)
		} else {
			p.dlb = &s
		}
	}
	if f.Hyperscan != nil {
		h := f.Hyperscan.DeepCopy()
		switch h.OnIncompatible {
		case "":
			h.OnIncompatible = "Block"
		case "Block", "Proceed":
		default:
			bad("spec.features.hyperscan.onIncompatible", h.OnIncompatible, "must be Block or Proceed")
		}
		if !h.RegexEngine && len(h.DenyPaths) == 0 && len(h.DenyUserAgents) == 0 {
			bad("spec.features.hyperscan", "", "enable regexEngine or give denyPaths or denyUserAgents")
		}
		if len(h.Exceptions) > 0 && h.OnIncompatible != "Proceed" {
			bad("spec.features.hyperscan.exceptions", "", "exceptions apply only with onIncompatible: Proceed")
		}
		p.hyperscan = h
	}
	p.bypass = f.Bypass != nil
	if f.WAF != nil {
		w := f.WAF.DeepCopy()
		if w.Mode == "" {
			w.Mode = "Block"
		}
		if w.Runtime == "" {
			w.Runtime = "Default"
		}
		if len(w.Image) < len("oci://x") || w.Image[:6] != "oci://" {
			bad("spec.features.waf.image", w.Image, "must be an oci:// image reference")
		}
		if w.Mode != "Block" && w.Mode != "Detect" {
			bad("spec.features.waf.mode", w.Mode, "must be Block or Detect")
		}
		if w.Runtime != "Default" && w.Runtime != "WAMR" {
			bad("spec.features.waf.runtime", w.Runtime, "must be Default or WAMR")
		}
		p.waf = w
	}
	return p, problems
}
