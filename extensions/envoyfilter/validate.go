package envoyfilter

import (
	"fmt"
	"regexp"
	"strings"

	networkingv1alpha3api "istio.io/api/networking/v1alpha3"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
)

const (
	httpConnectionManager       = "envoy.filters.network.http_connection_manager"
	legacyHTTPConnectionManager = "envoy.http_connection_manager"
	maxPort                     = 65535
)

// ValidateEnvoyFilter checks every configPatch of ef: the Istio fields (applyTo, operation,
// match) and the value, decoded into its Envoy message and validated as Envoy would, nested
// typed_configs included. It never stops at the first problem.
func ValidateEnvoyFilter(ef *networkingv1alpha3.EnvoyFilter) Report {
	if ef == nil {
		return Report{Errors: []Issue{{Object: "EnvoyFilter", PatchIndex: NoPatch, Message: "no object"}}}
	}
	v := &validator{object: fmt.Sprintf("EnvoyFilter %s/%s", ef.Namespace, ef.Name)}
	spec := &ef.Spec
	if spec.GetWorkloadSelector() != nil && len(spec.GetTargetRefs()) > 0 {
		v.objectError("spec.targetRefs", "workloadSelector and targetRefs cannot both be set")
	}
	if ws := spec.GetWorkloadSelector(); ws != nil && len(ws.GetLabels()) == 0 {
		v.objectWarning("spec.workloadSelector", "no labels: the patches apply to every workload in the namespace")
	}
	if len(spec.GetConfigPatches()) == 0 {
		v.objectWarning("spec.configPatches", "no patches: the EnvoyFilter does nothing")
	}
	for i, cp := range spec.GetConfigPatches() {
		v.patch(i, cp)
	}
	return v.report
}

type validator struct {
	object string
	report Report
}

func (v *validator) objectError(field, message string) {
	v.report.Errors = append(v.report.Errors, Issue{Object: v.object, PatchIndex: NoPatch, Field: field, Message: message})
}

func (v *validator) objectWarning(field, message string) {
	v.report.Warnings = append(v.report.Warnings, Issue{Object: v.object, PatchIndex: NoPatch, Field: field, Message: message})
}

// patchValidator collects the issues of one configPatch.
type patchValidator struct {
	*validator
	index     int
	applyTo   string
	operation string
}

func (p *patchValidator) issue(warning bool, field, format string, args ...any) {
	issue := Issue{Object: p.object, PatchIndex: p.index, ApplyTo: p.applyTo, Operation: p.operation, Field: field, Message: fmt.Sprintf(format, args...)}
	if warning {
		p.report.Warnings = append(p.report.Warnings, issue)
	} else {
		p.report.Errors = append(p.report.Errors, issue)
	}
}

func (p *patchValidator) errorf(field, format string, args ...any) {
	p.issue(false, field, format, args...)
}
func (p *patchValidator) warnf(field, format string, args ...any) {
	p.issue(true, field, format, args...)
}

func (v *validator) patch(index int, cp *networkingv1alpha3api.EnvoyFilter_EnvoyConfigObjectPatch) {
	p := &patchValidator{validator: v, index: index}
	if cp == nil {
		p.errorf("", "empty patch")
		return
	}
	target, knownTarget := patchTargets[cp.GetApplyTo()]
	op := cp.GetPatch().GetOperation()
	_, knownOperation := networkingv1alpha3api.EnvoyFilter_Patch_Operation_name[int32(op)]
	if knownTarget {
		p.applyTo = cp.GetApplyTo().String()
	}
	if knownOperation && op != networkingv1alpha3api.EnvoyFilter_Patch_INVALID {
		p.operation = op.String()
	}
	switch {
	case cp.GetApplyTo() == networkingv1alpha3api.EnvoyFilter_INVALID:
		p.errorf("applyTo", "applyTo is missing")
	case !knownTarget:
		p.errorf("applyTo", "unknown applyTo %d", int32(cp.GetApplyTo()))
	}
	switch {
	case cp.GetPatch() == nil:
		p.errorf("patch", "patch is missing")
		return
	case op == networkingv1alpha3api.EnvoyFilter_Patch_INVALID:
		p.errorf("patch.operation", "operation is missing")
	case !knownOperation:
		p.errorf("patch.operation", "unknown operation %d", int32(op))
	}
	if knownTarget && p.operation != "" && !containsOperation(target.operations, op) {
		p.errorf("patch.operation", "Istio does not apply %s to %s (it applies %s)", op, cp.GetApplyTo(), operationList(target.operations))
	}
	if cp.GetApplyTo() == networkingv1alpha3api.EnvoyFilter_BOOTSTRAP {
		p.warnf("applyTo", "Istio no longer applies BOOTSTRAP patches; use a custom bootstrap ConfigMap and the sidecar.istio.io/bootstrapOverride annotation")
	}
	p.match(cp)

	value := cp.GetPatch().GetValue()
	switch {
	case op == opRemove && value != nil:
		p.warnf("patch.value", "REMOVE ignores the value")
		return
	case op == opRemove:
		return
	case value == nil && p.operation != "":
		p.errorf("patch.value", "%s needs a value", op)
		return
	case value == nil || !knownTarget:
		return
	}
	p.value(target, op, value.AsMap())
}

// value decodes the patch value into its Envoy message and validates it.
func (p *patchValidator) value(target patchTarget, op operation, value map[string]any) {
	msg := target.newMessage()
	findings, complete := decodeValue(value, msg, true)
	if complete {
		var base = target.mergeBase
		partial := isMerge(op)
		if partial && base != nil {
			findings = append(findings, validateDeep(msg, base(), true, op == opMergeAndReplaceList)...)
		} else {
			findings = append(findings, validateDeep(msg, nil, partial, false)...)
		}
	}
	for _, f := range findings {
		p.issue(f.warning, "patch.value"+f.path.String(), "%s", f.message)
	}
}

// match checks that the match can select what applyTo names, following the rules of Istio's
// own validation and of its patcher (a match field the patcher never reads is a warning).
func (p *patchValidator) match(cp *networkingv1alpha3api.EnvoyFilter_EnvoyConfigObjectPatch) {
	m := cp.GetMatch()
	applyTo := cp.GetApplyTo()
	op := cp.GetPatch().GetOperation()
	if m == nil {
		p.requireFilterMatch(applyTo, op, nil)
		return
	}
	if _, ok := networkingv1alpha3api.EnvoyFilter_PatchContext_name[int32(m.GetContext())]; !ok {
		p.errorf("match.context", "unknown context %d", int32(m.GetContext()))
	}
	if version := m.GetProxy().GetProxyVersion(); version != "" {
		if _, err := regexp.Compile(version); err != nil {
			p.errorf("match.proxy.proxyVersion", "not a regular expression: %v", err)
		}
	}
	selected := ""
	switch {
	case m.GetListener() != nil:
		selected = "listener"
	case m.GetRouteConfiguration() != nil:
		selected = "routeConfiguration"
	case m.GetCluster() != nil:
		selected = "cluster"
	case m.GetWaypoint() != nil:
		selected = "waypoint"
	}
	want := ""
	switch applyTo {
	case networkingv1alpha3api.EnvoyFilter_LISTENER, networkingv1alpha3api.EnvoyFilter_LISTENER_FILTER,
		networkingv1alpha3api.EnvoyFilter_FILTER_CHAIN, networkingv1alpha3api.EnvoyFilter_NETWORK_FILTER,
		networkingv1alpha3api.EnvoyFilter_HTTP_FILTER:
		want = "listener"
	case networkingv1alpha3api.EnvoyFilter_ROUTE_CONFIGURATION, networkingv1alpha3api.EnvoyFilter_VIRTUAL_HOST,
		networkingv1alpha3api.EnvoyFilter_HTTP_ROUTE:
		want = "routeConfiguration"
	case networkingv1alpha3api.EnvoyFilter_CLUSTER:
		want = "cluster"
	case networkingv1alpha3api.EnvoyFilter_EXTENSION_CONFIG, networkingv1alpha3api.EnvoyFilter_BOOTSTRAP:
		if selected != "" {
			p.warnf("match."+selected, "has no effect on %s", applyTo)
		}
	}
	// A waypoint match selects the waypoint's listeners and routes.
	if want != "" && selected != "" && selected != want && !(selected == "waypoint" && want != "cluster") {
		p.errorf("match."+selected, "%s patches select with match.%s, not match.%s", applyTo, want, selected)
	}

	if l := m.GetListener(); l != nil {
		p.port("match.listener.portNumber", l.GetPortNumber())
		p.port("match.listener.filterChain.destinationPort", l.GetFilterChain().GetDestinationPort())
		if l.GetListenerFilter() != "" && applyTo != networkingv1alpha3api.EnvoyFilter_LISTENER_FILTER {
			p.warnf("match.listener.listenerFilter", "only LISTENER_FILTER patches use it; ignored for %s", applyTo)
		}
		if filter := l.GetFilterChain().GetFilter(); filter != nil {
			p.filterMatch(applyTo, filter)
		}
	}
	if rc := m.GetRouteConfiguration(); rc != nil {
		p.port("match.routeConfiguration.portNumber", rc.GetPortNumber())
	}
	if c := m.GetCluster(); c != nil {
		p.port("match.cluster.portNumber", c.GetPortNumber())
	}
	if w := m.GetWaypoint(); w != nil {
		p.port("match.waypoint.portNumber", w.GetPortNumber())
	}
	p.requireFilterMatch(applyTo, op, m.GetListener())
}

func (p *patchValidator) filterMatch(applyTo applyTo, filter *networkingv1alpha3api.EnvoyFilter_ListenerMatch_FilterMatch) {
	const field = "match.listener.filterChain.filter"
	if applyTo == networkingv1alpha3api.EnvoyFilter_LISTENER || applyTo == networkingv1alpha3api.EnvoyFilter_FILTER_CHAIN {
		p.warnf(field, "a filter match has no effect on %s", applyTo)
	}
	if filter.GetName() == "" {
		p.errorf(field+".name", "a filter match needs the filter name")
		return
	}
	sub := filter.GetSubFilter()
	if sub == nil {
		return
	}
	switch {
	case applyTo != networkingv1alpha3api.EnvoyFilter_HTTP_FILTER:
		p.errorf(field+".subFilter", "only HTTP_FILTER patches can match a subFilter")
	case filter.GetName() != httpConnectionManager && filter.GetName() != legacyHTTPConnectionManager:
		p.errorf(field+".name", "a subFilter match needs the filter %s, not %q", httpConnectionManager, filter.GetName())
	case sub.GetName() == "":
		p.errorf(field+".subFilter.name", "a subFilter match needs the HTTP filter name")
	}
}

// requireFilterMatch warns about REPLACE and REMOVE of a filter that name no filter: Istio
// skips them.
func (p *patchValidator) requireFilterMatch(applyTo applyTo, op operation, l *networkingv1alpha3api.EnvoyFilter_ListenerMatch) {
	if op != opReplace && op != opRemove {
		return
	}
	switch applyTo {
	case networkingv1alpha3api.EnvoyFilter_NETWORK_FILTER:
		if l.GetFilterChain().GetFilter() == nil {
			p.warnf("match.listener.filterChain.filter", "%s without a filter match does nothing", op)
		}
	case networkingv1alpha3api.EnvoyFilter_HTTP_FILTER:
		if l.GetFilterChain().GetFilter().GetSubFilter() == nil {
			p.warnf("match.listener.filterChain.filter.subFilter", "%s without a subFilter match does nothing", op)
		}
	case networkingv1alpha3api.EnvoyFilter_LISTENER_FILTER:
		if l.GetListenerFilter() == "" {
			p.warnf("match.listener.listenerFilter", "%s without a listenerFilter match does nothing", op)
		}
	}
}

func (p *patchValidator) port(field string, port uint32) {
	if port > maxPort {
		p.errorf(field, "port %d is not between 1 and %d", port, maxPort)
	}
}

func containsOperation(ops []operation, op operation) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

func operationList(ops []operation) string {
	names := make([]string, len(ops))
	for i, o := range ops {
		names[i] = o.String()
	}
	return strings.Join(names, ", ")
}
