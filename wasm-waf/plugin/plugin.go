package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// Metric names as Envoy exports them (prefixed "wasmcustom.").
const (
	metricRequests = "meshaccel_waf_requests_total"
	metricBlocked  = "meshaccel_waf_blocked_total"
	metricDetected = "meshaccel_waf_detected_total"
	metricErrors   = "meshaccel_waf_errors_total"
)

// vmContext is the root of the plugin. Nothing in the plugin starts
// goroutines, timers or sleeps: older hosts fail poll_oneoff, which the Go
// runtime treats as fatal.
type vmContext struct {
	types.DefaultVMContext
	load engineLoader
}

func newVMContext(load engineLoader) *vmContext { return &vmContext{load: load} }

func (vm *vmContext) NewPluginContext(contextID uint32) types.PluginContext {
	return &pluginContext{load: vm.load}
}

// counter is a metric that is only touched once defined, and whose host
// errors never turn into a panic inside a callback.
type counter struct {
	id      proxywasm.MetricCounter
	defined bool
}

func defineCounter(name string) counter {
	return counter{id: proxywasm.DefineCounterMetric(name), defined: true}
}

func (c counter) inc() {
	if !c.defined {
		return
	}
	defer func() { _ = recover() }() // the SDK panics on host errors
	c.id.Increment(1)
}

type counters struct {
	requests, blocked, detected, errors counter
}

type pluginContext struct {
	types.DefaultPluginContext
	load    engineLoader
	cfg     Config
	engine  ruleEngine
	metrics counters
	// headerBuf is reused by every request's headers: engines copy what they keep, and callbacks
	// never run concurrently.
	headerBuf [][2]string
}

func (p *pluginContext) OnPluginStart(int) (ok types.OnPluginStartStatus) {
	defer func() {
		if r := recover(); r != nil {
			proxywasm.LogCriticalf("waf: plugin start failed: panic: %v", r)
			ok = types.OnPluginStartStatusFailed
		}
	}()
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		proxywasm.LogCriticalf("waf: reading the plugin configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		proxywasm.LogCritical(err.Error())
		return types.OnPluginStartStatusFailed
	}
	engine, err := p.load(&cfg)
	if err != nil {
		proxywasm.LogCriticalf("waf: loading the ruleset: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.cfg, p.engine = cfg, engine
	p.metrics = counters{
		requests: defineCounter(metricRequests),
		blocked:  defineCounter(metricBlocked),
		detected: defineCounter(metricDetected),
		errors:   defineCounter(metricErrors),
	}
	proxywasm.LogInfof("waf: started: engine=%s ruleset=%s mode=%s blockStatus=%d failurePolicy=%s maxBodyBytes=%d",
		engineName, rulesetSource(&cfg), cfg.Mode, cfg.BlockStatus, cfg.FailurePolicy, cfg.bodyLimit())
	return types.OnPluginStartStatusOK
}

func rulesetSource(cfg *Config) string {
	switch {
	case len(cfg.Ruleset) > 0:
		return "configured artifact"
	case strings.TrimSpace(cfg.Rules) != "":
		return "configured rules"
	default:
		return "embedded default"
	}
}

func (p *pluginContext) NewHttpContext(contextID uint32) types.HttpContext {
	return &httpContext{plugin: p}
}

// httpContext follows one request through the request phase. It keeps no
// request data after the verdict: linear memory never shrinks.
type httpContext struct {
	types.DefaultHttpContext
	plugin *pluginContext
	tx     transaction
	// limit is the number of body bytes to inspect for this request: the
	// smaller of maxBodyBytes and the ruleset's own body limit.
	limit int
	// engineLimit is the ruleset's body limit; a body beyond it is
	// reported to the engine as truncated (SecRequestBodyLimitAction).
	engineLimit int
	// bodySeen is the request body size the host has buffered so far.
	bodySeen int
	// decided is set once the request phase has a verdict (or failed).
	decided bool
}

func (h *httpContext) OnHttpRequestHeaders(_ int, endOfStream bool) (action types.Action) {
	defer h.recoverInto(&action)
	p := h.plugin
	if p.engine == nil {
		return h.fail(errors.New("no ruleset loaded"))
	}
	p.metrics.requests.inc()

	headers, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		return h.fail(fmt.Errorf("reading request headers: %w", err))
	}
	var req request
	req, p.headerBuf = requestFromHeaders(headers, p.headerBuf)
	h.tx = p.engine.newTransaction()
	v, err := h.tx.requestHeaders(&req)
	if err != nil {
		return h.fail(err)
	}
	if v.interrupt {
		return h.decide(v)
	}
	h.engineLimit = h.tx.requestBodyLimit()
	h.limit = min(p.cfg.bodyLimit(), h.engineLimit)
	if endOfStream || h.limit == 0 {
		v, err := h.tx.requestBody(nil, false)
		if err != nil {
			return h.fail(err)
		}
		return h.decide(v)
	}
	return types.ActionContinue
}

func (h *httpContext) OnHttpRequestBody(bodySize int, endOfStream bool) (action types.Action) {
	defer h.recoverInto(&action)
	if h.decided || h.tx == nil {
		return types.ActionContinue
	}
	h.bodySeen = bodySize
	if !endOfStream && bodySize < h.limit {
		// Let the host buffer until the whole body (or the limit) is there.
		return types.ActionPause
	}
	return h.inspectBody()
}

// inspectBody runs the body phase over what the host has buffered, up to the
// configured limit.
func (h *httpContext) inspectBody() types.Action {
	limit := h.limit
	n := min(h.bodySeen, limit)
	var body []byte
	if n > 0 {
		var err error
		if body, err = proxywasm.GetHttpRequestBody(0, n); err != nil {
			return h.fail(fmt.Errorf("reading the request body: %w", err))
		}
	}
	// Cutting at maxBodyBytes is the plugin's choice (the prefix is
	// inspected); only a body beyond the ruleset's limit is the ruleset's
	// business.
	v, err := h.tx.requestBody(body, h.bodySeen > h.engineLimit)
	if err != nil {
		return h.fail(err)
	}
	return h.decide(v)
}

func (h *httpContext) OnHttpRequestTrailers(int) (action types.Action) {
	defer h.recoverInto(&action)
	if h.decided || h.tx == nil {
		return types.ActionContinue
	}
	// A body that ends with trailers never reports endOfStream to the body
	// callback: inspect what was buffered.
	return h.inspectBody()
}

func (h *httpContext) OnHttpStreamDone() {
	defer h.recoverInto(nil)
	h.release()
}

// decide applies the verdict of the request phase.
func (h *httpContext) decide(v verdict) types.Action {
	p := h.plugin
	h.decided = true
	ids := h.tx.matchedRuleIDs() // valid until release
	switch {
	case !v.interrupt:
		if len(ids) > 0 {
			proxywasm.LogInfo(matchLogLine("pass", 0, v, ids))
		}
		h.release()
		return types.ActionContinue
	case p.cfg.Mode == ModeDetect:
		p.metrics.detected.inc()
		proxywasm.LogWarn(matchLogLine("detect", 0, v, ids))
		h.release()
		return types.ActionContinue
	default:
		p.metrics.blocked.inc()
		proxywasm.LogWarn(matchLogLine("block", p.cfg.BlockStatus, v, ids))
		h.release()
		if err := proxywasm.SendHttpResponse(uint32(p.cfg.BlockStatus), blockHeaders, blockBody, -1); err != nil {
			proxywasm.LogErrorf("waf: sending the block response: %v", err)
			p.metrics.errors.inc()
		}
		return types.ActionPause
	}
}

var (
	blockHeaders = [][2]string{{"content-type", "text/plain; charset=utf-8"}}
	blockBody    = []byte("request blocked\n")
	failHeaders  = [][2]string{{"content-type", "text/plain; charset=utf-8"}}
	failBody     = []byte("request refused: the web application firewall failed\n")
)

// fail applies the failure policy to an error of the plugin itself.
func (h *httpContext) fail(err error) types.Action {
	p := h.plugin
	h.decided = true
	h.release()
	p.metrics.errors.inc()
	if p.cfg.FailurePolicy != FailClosed {
		proxywasm.LogErrorf("waf: inspection failed, request let through (failurePolicy=open): %v", err)
		return types.ActionContinue
	}
	proxywasm.LogErrorf("waf: inspection failed, request refused (failurePolicy=closed): %v", err)
	if sendErr := proxywasm.SendHttpResponse(failClosedStatus, failHeaders, failBody, -1); sendErr != nil {
		proxywasm.LogErrorf("waf: sending the failure response: %v", sendErr)
	}
	return types.ActionPause
}

// recoverInto turns a panic in a callback into the failure policy, so that a
// panic never leaves the VM: the next request runs normally.
func (h *httpContext) recoverInto(action *types.Action) {
	r := recover()
	if r == nil {
		return
	}
	h.tx = nil // its state is unknown; drop it without calling into it
	a := h.fail(fmt.Errorf("panic: %v", r))
	if action != nil {
		*action = a
	}
}

func (h *httpContext) release() {
	if h.tx != nil {
		tx := h.tx
		h.tx = nil
		tx.close()
	}
}

// matchLogLine formats matched rules the way ModSecurity-style tooling reads
// them ([id "942100"]). Request data is not logged.
func matchLogLine(action string, status int, v verdict, ids []int) string {
	var b strings.Builder
	b.WriteString("waf: action=")
	b.WriteString(action)
	if status != 0 {
		b.WriteString(" status=")
		b.WriteString(strconv.Itoa(status))
	}
	if v.interrupt && v.ruleID != 0 {
		b.WriteString(" rule=")
		b.WriteString(strconv.Itoa(v.ruleID))
	}
	b.WriteString(" matched=")
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(`[id "`)
		b.WriteString(strconv.Itoa(id))
		b.WriteString(`"]`)
	}
	return b.String()
}

// requestFromHeaders splits the pseudo-headers from the header map, into buf when it has room;
// it returns the buffer it used, for the next request. Names are passed as the host gives them:
// Envoy's are lower-case, and the engines fold case themselves.
func requestFromHeaders(headers [][2]string, buf [][2]string) (request, [][2]string) {
	// Slot 0 is kept for a host header made from :authority (HTTP/2 has none of its own).
	list := buf[:0]
	if cap(list) < len(headers)+1 {
		list = make([][2]string, 0, len(headers)+1)
	}
	list = append(list, [2]string{})
	req := request{protocol: requestProtocol()}
	var authority string
	hasHost := false
	for _, kv := range headers {
		name := kv[0]
		if strings.HasPrefix(name, ":") {
			switch name {
			case ":method":
				req.method = kv[1]
			case ":path":
				req.uri = kv[1]
			case ":authority":
				authority = kv[1]
			}
			continue
		}
		if len(name) == 4 && strings.EqualFold(name, "host") {
			hasHost = true
		}
		list = append(list, [2]string{name, kv[1]})
	}
	if !hasHost && authority != "" {
		list[0] = [2]string{"host", authority}
		req.headers = list
	} else {
		req.headers = list[1:]
	}
	return req, list[:0]
}

// requestProtocol is the request's HTTP version, "HTTP/1.1" when the host does not say. The
// usual ones are returned as constants: no string is allocated for them.
func requestProtocol() string {
	proto, err := proxywasm.GetProperty(protocolProperty)
	if err != nil || len(proto) == 0 {
		return "HTTP/1.1"
	}
	for _, known := range knownProtocols {
		if string(proto) == known {
			return known
		}
	}
	return string(proto)
}

var (
	protocolProperty = []string{"request", "protocol"}
	knownProtocols   = [...]string{"HTTP/1.1", "HTTP/2", "HTTP/1.0", "HTTP/3"}
)
