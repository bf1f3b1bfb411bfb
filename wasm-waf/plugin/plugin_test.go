package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/meshaccel/meshaccel/wasm-waf/wasmhost"
)

// testRules is a small SecLang ruleset: one header rule (phase 1), one
// argument rule (phase 2, query or form body) and one logging-only rule.
const testRules = `
SecRuleEngine On
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:X-Attack "@streq yes" "id:1001,phase:1,deny,status:403,log,msg:'attack header'"
SecRule ARGS "@contains <script>" "id:1002,phase:2,deny,status:403,log,msg:'script in an argument'"
SecRule REQUEST_FILENAME "@beginsWith /admin" "id:1003,phase:1,pass,log,msg:'admin area'"
`

// config renders a plugin configuration; without "ruleset" or "rules" it
// carries testRules in the form the linked engine takes.
func config(t *testing.T, fields map[string]any) string {
	t.Helper()
	_, hasRuleset := fields["ruleset"]
	_, hasRules := fields["rules"]
	if !hasRuleset && !hasRules {
		k, v := rulesField(t, testRules)
		fields[k] = v
	}
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func get(path string, extra ...[2]string) exchange {
	h := [][2]string{{":method", "GET"}, {":path", path}, {":authority", "shop.example"}, {":scheme", "http"}, {"user-agent", "test"}}
	return exchange{headers: append(h, extra...)}
}

func postForm(path string, chunks ...string) exchange {
	ex := exchange{headers: [][2]string{
		{":method", "POST"}, {":path", path}, {":authority", "shop.example"}, {":scheme", "http"},
		{"content-type", "application/x-www-form-urlencoded"},
	}}
	for _, c := range chunks {
		ex.body = append(ex.body, []byte(c))
	}
	return ex
}

func started(t *testing.T, newHost func(*testing.T) pluginHost, cfg string) pluginHost {
	t.Helper()
	h := newHost(t)
	t.Cleanup(h.close)
	if !h.start(cfg) {
		t.Fatalf("plugin rejected the configuration %s; critical logs: %q", cfg, h.logs("critical"))
	}
	return h
}

func TestBenignRequestIsForwarded(t *testing.T) {
	forEachHost(t, func(t *testing.T, newHost func(*testing.T) pluginHost) {
		h := started(t, newHost, config(t, map[string]any{}))
		o := h.do(t, get("/products?id=42"))
		if !o.forwarded() {
			t.Fatalf("benign GET was not forwarded: %+v", o)
		}
		if got := h.counter(t, metricRequests); got != 1 {
			t.Errorf("requests = %d, want 1", got)
		}
		if got := h.counter(t, metricBlocked); got != 0 {
			t.Errorf("blocked = %d, want 0", got)
		}
		if w := h.logs("warn"); len(w) != 0 {
			t.Errorf("benign request logged warnings: %q", w)
		}
	})
}

func TestHeaderAttackIsBlockedAtHeaders(t *testing.T) {
	forEachHost(t, func(t *testing.T, newHost func(*testing.T) pluginHost) {
		h := started(t, newHost, config(t, map[string]any{}))
		o := h.do(t, get("/", [2]string{"x-attack", "yes"}))
		if o.local == nil || o.local.status != 403 {
			t.Fatalf("want a 403 local reply, got %+v", o)
		}
		if o.headersAction != types.ActionPause {
			t.Errorf("headers action = %v, want pause", o.headersAction)
		}
		if !strings.Contains(o.local.body, "blocked") {
			t.Errorf("block body = %q", o.local.body)
		}
		if got := h.counter(t, metricBlocked); got != 1 {
			t.Errorf("blocked = %d, want 1", got)
		}
		if !hasLine(h.logs("warn"), "action=block", "status=403", `[id "1001"]`) {
			t.Errorf("no block log naming rule 1001: %q", h.logs("warn"))
		}
	})
}

func TestQueryAttackIsBlockedWithoutBody(t *testing.T) {
	forEachHost(t, func(t *testing.T, newHost func(*testing.T) pluginHost) {
		h := started(t, newHost, config(t, map[string]any{}))
		o := h.do(t, get("/search?q=%3Cscript%3Ealert(1)"))
		if o.local == nil || o.local.status != 403 {
			t.Fatalf("want a 403 local reply, got %+v", o)
		}
		if !hasLine(h.logs("warn"), `[id "1002"]`) {
			t.Errorf("no log naming rule 1002: %q", h.logs("warn"))
		}
	})
}

func TestBodyIsBufferedThenInspected(t *testing.T) {
	forEachHost(t, func(t *testing.T, newHost func(*testing.T) pluginHost) {
		h := started(t, newHost, config(t, map[string]any{}))
		o := h.do(t, postForm("/comment", "name=bob&text=hello%20", "%3Cscript%3E"))
		if o.headersAction != types.ActionContinue {
			t.Errorf("headers action = %v, want continue (body pending)", o.headersAction)
		}
		if o.local == nil || o.local.status != 403 {
			t.Fatalf("attack split across body chunks was not blocked: %+v", o)
		}

		benign := h.do(t, postForm("/comment", "name=bob&", "text=hello"))
		if !benign.forwarded() {
			t.Fatalf("benign form post was not forwarded: %+v", benign)
		}
		if got := h.counter(t, metricRequests); got != 2 {
			t.Errorf("requests = %d, want 2", got)
		}
	})
}

func TestBodyEndingWithTrailersIsInspected(t *testing.T) {
	forEachHost(t, func(t *testing.T, newHost func(*testing.T) pluginHost) {
		h := started(t, newHost, config(t, map[string]any{}))
		ex := postForm("/comment", "text=%3Cscript%3E")
		ex.trailers = [][2]string{{"x-checksum", "1"}}
		o := h.do(t, ex)
		if o.local == nil || o.local.status != 403 {
			t.Fatalf("attack in a body followed by trailers was not blocked: %+v", o)
		}
	})
}

func TestDetectModeCountsAndForwards(t *testing.T) {
	forEachHost(t, func(t *testing.T, newHost func(*testing.T) pluginHost) {
		h := started(t, newHost, config(t, map[string]any{"mode": "detect"}))
		o := h.do(t, get("/", [2]string{"x-attack", "yes"}))
		if !o.forwarded() {
			t.Fatalf("detect mode must forward, got %+v", o)
		}
		if got := h.counter(t, metricDetected); got != 1 {
			t.Errorf("detected = %d, want 1", got)
		}
		if got := h.counter(t, metricBlocked); got != 0 {
			t.Errorf("blocked = %d, want 0", got)
		}
		if !hasLine(h.logs("warn"), "action=detect", `[id "1001"]`) {
			t.Errorf("no detect log naming rule 1001: %q", h.logs("warn"))
		}
	})
}

func TestConfiguredBlockStatus(t *testing.T) {
	forEachHost(t, func(t *testing.T, newHost func(*testing.T) pluginHost) {
		h := started(t, newHost, config(t, map[string]any{"blockStatus": 451}))
		o := h.do(t, get("/", [2]string{"x-attack", "yes"}))
		if o.local == nil || o.local.status != 451 {
			t.Fatalf("want a 451 local reply, got %+v", o)
		}
	})
}

func TestPassingMatchesAreLogged(t *testing.T) {
	forEachHost(t, func(t *testing.T, newHost func(*testing.T) pluginHost) {
		h := started(t, newHost, config(t, map[string]any{}))
		o := h.do(t, get("/admin/users"))
		if !o.forwarded() {
			t.Fatalf("pass rule must not block, got %+v", o)
		}
		if !hasLine(h.logs("info"), "action=pass", `[id "1003"]`) {
			t.Errorf("no info log naming rule 1003: %q", h.logs("info"))
		}
	})
}

func TestBodyBeyondMaxBodyBytesIsNotInspected(t *testing.T) {
	forEachHost(t, func(t *testing.T, newHost func(*testing.T) pluginHost) {
		h := started(t, newHost, config(t, map[string]any{"maxBodyBytes": 32}))
		within := h.do(t, postForm("/c", "t=%3Cscript%3E"))
		if within.local == nil {
			t.Fatalf("attack within maxBodyBytes was not blocked: %+v", within)
		}
		beyond := h.do(t, postForm("/c", "t="+strings.Repeat("a", 40), "&u=%3Cscript%3E"))
		if !beyond.forwarded() {
			t.Fatalf("only the first 32 bytes are inspected, the request must pass: %+v", beyond)
		}
	})
}

func TestZeroMaxBodyBytesInspectsHeadersOnly(t *testing.T) {
	forEachHost(t, func(t *testing.T, newHost func(*testing.T) pluginHost) {
		h := started(t, newHost, config(t, map[string]any{"maxBodyBytes": 0}))
		body := h.do(t, postForm("/c", "t=%3Cscript%3E"))
		if !body.forwarded() {
			t.Fatalf("body inspection is off, the request must pass: %+v", body)
		}
		query := h.do(t, get("/c?t=%3Cscript%3E"))
		if query.local == nil {
			t.Fatalf("query arguments are still inspected: %+v", query)
		}
	})
}

func TestInvalidConfigurationIsRejected(t *testing.T) {
	for _, tc := range append([]struct{ config, wantLog string }{
		{`{"mode":"block-all"}`, `field "mode": value "block-all"`},
		{`{"blockStatus":200}`, `field "blockStatus": value 200`},
		{`{"failurePolicy":"maybe"}`, `field "failurePolicy"`},
		{`{"modes":"block"}`, `field "modes"`},
		{`{"ruleset":"AAAA"}`, `field "ruleset"`},
	}, engineBadConfigs...) {
		t.Run(tc.config, func(t *testing.T) {
			forEachHost(t, func(t *testing.T, newHost func(*testing.T) pluginHost) {
				h := newHost(t)
				defer h.close()
				if h.start(tc.config) {
					t.Fatalf("configuration %s was accepted", tc.config)
				}
				if !hasLine(h.logs("critical"), tc.wantLog) {
					t.Errorf("critical logs %q do not mention %q", h.logs("critical"), tc.wantLog)
				}
			})
		})
	}
}

func TestDefaultRulesetBlocksSQLInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the full default ruleset")
	}
	forEachHost(t, func(t *testing.T, newHost func(*testing.T) pluginHost) {
		h := started(t, newHost, "")
		benign := h.do(t, get("/products?id=42", [2]string{"accept", "text/html"}))
		if !benign.forwarded() {
			t.Fatalf("benign request blocked by the default ruleset: %+v; logs %q", benign, h.logs("warn"))
		}
		attack := h.do(t, get("/products?id=1%27%20OR%20%271%27%3D%271", [2]string{"accept", "text/html"}))
		if attack.local == nil || attack.local.status != 403 {
			t.Fatalf("SQL injection was not blocked: %+v", attack)
		}
		if !hasLine(h.logs("warn"), "action=block", `[id "942`) {
			t.Errorf("block log names no SQL injection rule (942xxx): %q", h.logs("warn"))
		}
	})
}

// fakePanickingEngine stands in for an engine bug: it panics on every request.
type fakePanickingEngine struct{}

func (fakePanickingEngine) newTransaction() transaction { panic("engine bug") }

// fakeFailingEngine stands in for an engine that reports an error.
type fakeFailingEngine struct{}

func (fakeFailingEngine) newTransaction() transaction { return fakeFailingTransaction{} }

type fakeFailingTransaction struct{}

func (fakeFailingTransaction) requestHeaders(*request) (verdict, error) {
	return verdict{}, errors.New("engine error")
}
func (fakeFailingTransaction) requestBodyLimit() int                     { return 0 }
func (fakeFailingTransaction) requestBody([]byte, bool) (verdict, error) { return verdict{}, nil }
func (fakeFailingTransaction) matchedRuleIDs() []int                     { return nil }
func (fakeFailingTransaction) close()                                    {}

// The native emulator lets a fake engine fail; the compiled module is made to
// fail through the host (see TestFailurePolicyWasm_*).
func TestFailurePolicyNative_FakeEngines(t *testing.T) {
	for _, tc := range []struct {
		name       string
		engine     ruleEngine
		policy     string
		wantStatus int // 0: forwarded
	}{
		{"panic/open", fakePanickingEngine{}, "open", 0},
		{"panic/closed", fakePanickingEngine{}, "closed", 503},
		{"error/open", fakeFailingEngine{}, "open", 0},
		{"error/closed", fakeFailingEngine{}, "closed", 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			load := func(*Config) (ruleEngine, error) { return tc.engine, nil }
			opt := proxytest.NewEmulatorOption().WithVMContext(newVMContext(load)).
				WithPluginConfiguration([]byte(`{"failurePolicy":"` + tc.policy + `"}`))
			host, reset := proxytest.NewHostEmulator(opt)
			defer reset()
			if host.StartPlugin() != types.OnPluginStartStatusOK {
				t.Fatal("plugin did not start")
			}
			for i := 0; i < 2; i++ { // the VM stays usable after a failure
				id := host.InitializeHttpContext()
				action := host.CallOnRequestHeaders(id, get("/").headers, true)
				lr := host.GetSentLocalResponse(id)
				switch {
				case tc.wantStatus == 0 && (lr != nil || action != types.ActionContinue):
					t.Fatalf("request %d: fail-open must forward, got action %v reply %+v", i, action, lr)
				case tc.wantStatus != 0 && (lr == nil || int(lr.StatusCode) != tc.wantStatus):
					t.Fatalf("request %d: fail-closed must answer %d, got %+v", i, tc.wantStatus, lr)
				}
				host.CompleteHttpContext(id)
			}
			if v, _ := host.GetCounterMetric(metricErrors); v != 2 {
				t.Errorf("errors = %d, want 2", v)
			}
			if !hasLine(host.GetErrorLogs(), "inspection failed", "failurePolicy="+tc.policy) {
				t.Errorf("no failure log: %q", host.GetErrorLogs())
			}
		})
	}
}

func TestFailurePolicyWasm_HostFaults(t *testing.T) {
	for _, tc := range []struct {
		name       string
		corrupt    bool // corrupt header map: the SDK panics decoding it
		policy     string
		wantStatus int
	}{
		{"host-error/open", false, "open", 0},
		{"host-error/closed", false, "closed", 503},
		{"panic/open", true, "open", 0},
		{"panic/closed", true, "closed", 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mod := compiledPlugin(t)
			vm, err := mod.NewVM(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer vm.Close()
			h := &wasmHost{vm: vm}
			if !h.start(config(t, map[string]any{"failurePolicy": tc.policy})) {
				t.Fatal("plugin did not start")
			}
			vm.Faults.HeaderMapStatus = 10 // internal failure
			if tc.corrupt {
				vm.Faults.HeaderMapStatus = 0
				vm.Faults.CorruptHeaderMap = true
			}
			o := h.do(t, get("/"))
			switch {
			case tc.wantStatus == 0 && !o.forwarded():
				t.Fatalf("fail-open must forward, got %+v", o)
			case tc.wantStatus != 0 && (o.local == nil || o.local.status != tc.wantStatus):
				t.Fatalf("fail-closed must answer %d, got %+v", tc.wantStatus, o)
			}
			if got := h.counter(t, metricErrors); got != 1 {
				t.Errorf("errors = %d, want 1", got)
			}
			// The fault is gone: the same VM inspects the next requests normally.
			vm.Faults = wasmhost.Faults{}
			if o := h.do(t, get("/", [2]string{"x-attack", "yes"})); o.local == nil || o.local.status != 403 {
				t.Fatalf("after the failure the VM must still block attacks, got %+v", o)
			}
			if o := h.do(t, get("/ok")); !o.forwarded() {
				t.Fatalf("after the failure the VM must still forward benign requests, got %+v", o)
			}
		})
	}
}

// TestWasmLinearMemoryIsFlat: the plugin keeps nothing of a request after its
// verdict, so once warm its linear memory (which never shrinks) stays put.
// The long run with the default ruleset is in cmd/waf-wasm-bench.
func TestWasmLinearMemoryIsFlat(t *testing.T) {
	vm, err := compiledPlugin(t).NewVM(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	h := &wasmHost{vm: vm}
	if !h.start(config(t, map[string]any{})) {
		t.Fatal("plugin did not start")
	}
	vm.LogSink = func(wasmhost.LogLevel, string) {}
	mix := []exchange{
		get("/products?id=42"),
		postForm("/comment", "name=bob&text="+strings.Repeat("hello+world+", 200)),
		get("/", [2]string{"x-attack", "yes"}),
		get("/search?q=%3Cscript%3E"),
	}
	run := func(n int) {
		for i := 0; i < n; i++ {
			h.do(t, mix[i%len(mix)])
		}
	}
	run(2000)
	warm := vm.MemoryBytes()
	run(6000)
	if after := vm.MemoryBytes(); after != warm {
		t.Errorf("linear memory grew from %d to %d bytes over 6,000 more requests", warm, after)
	}
	if warm > 64<<20 {
		t.Errorf("linear memory %d MiB exceeds 64 MiB", warm>>20)
	}
	if got := h.counter(t, metricRequests); got != 8000 {
		t.Errorf("requests = %d, want 8000", got)
	}
}

// TestRulesSeeTheRequestAsSent: the request line and protocol, a host header made from
// :authority only when the request has none, and each request's own headers, though the plugin
// reuses one buffer for them.
func TestRulesSeeTheRequestAsSent(t *testing.T) {
	const rules = `SecRuleEngine On
SecRule REQUEST_LINE "!@rx ^GET /p(\?q=[12])? HTTP/1\.1$" "id:1,phase:1,deny,status:403,log,msg:'request line'"
SecRule &REQUEST_HEADERS:Host "!@eq 1" "id:2,phase:1,deny,status:403,log,msg:'one host header'"
SecRule REQUEST_HEADERS:Host "!@rx ^(shop|b)\.example$" "id:3,phase:1,deny,status:403,log,msg:'host'"
SecRule REQUEST_HEADERS:X-Extra "@streq first" "id:4,phase:1,pass,log,msg:'extra header'"
`
	forEachHost(t, func(t *testing.T, newHost func(*testing.T) pluginHost) {
		k, v := rulesField(t, rules)
		h := started(t, newHost, config(t, map[string]any{k: v}))
		first := get("/p?q=1", [2]string{"x-extra", "first"}, [2]string{"accept", "*/*"}, [2]string{"accept-language", "en"})
		if o := h.do(t, first); !o.forwarded() {
			t.Fatalf("first request refused: %+v, %q", o, h.logs("warn"))
		}
		// Fewer headers, and a host header of its own besides :authority.
		second := exchange{headers: [][2]string{{":method", "GET"}, {":path", "/p?q=2"}, {":authority", "a.example"}, {"host", "b.example"}}}
		if o := h.do(t, second); !o.forwarded() {
			t.Fatalf("second request refused: %+v, %q", o, h.logs("warn"))
		}
		if o := h.do(t, get("/other")); o.local == nil || !hasLine(h.logs("warn"), `[id "1"]`) {
			t.Fatalf("a request line the rule refuses went through: %+v", o)
		}
		matched := 0
		for _, l := range h.logs("info") {
			if strings.Contains(l, `[id "4"]`) {
				matched++
			}
		}
		if matched != 1 {
			t.Errorf("rule 4 (x-extra: first, in the first request only) logged %d times: %q", matched, h.logs("info"))
		}
	})
}
