package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/tetratelabs/wazero"

	"github.com/meshaccel/meshaccel/wasm-waf/wasmhost"
)

// Every behaviour test runs twice: natively in the SDK's proxytest emulator
// (fast, debuggable) and as the compiled plugin.wasm in wazero through
// wasmhost, which drives it the way Envoy does.

// exchange is one request through the plugin.
type exchange struct {
	headers  [][2]string
	body     [][]byte // chunks; the last one ends the stream
	trailers [][2]string
}

// outcome is what the host saw.
type outcome struct {
	headersAction types.Action
	lastAction    types.Action
	local         *localReply
}

type localReply struct {
	status int
	body   string
}

// forwarded says whether the request went on upstream.
func (o outcome) forwarded() bool { return o.local == nil && o.lastAction == types.ActionContinue }

type pluginHost interface {
	start(config string) bool
	do(t *testing.T, ex exchange) outcome
	counter(t *testing.T, name string) int64
	logs(level string) []string
	close()
}

func forEachHost(t *testing.T, test func(t *testing.T, newHost func(t *testing.T) pluginHost)) {
	t.Run("native", func(t *testing.T) {
		test(t, func(t *testing.T) pluginHost { return &nativeHost{} })
	})
	t.Run("wasm", func(t *testing.T) {
		mod := compiledPlugin(t)
		test(t, func(t *testing.T) pluginHost {
			vm, err := mod.NewVM(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return &wasmHost{vm: vm}
		})
	})
}

// nativeHost runs the plugin code in the proxytest emulator.
type nativeHost struct {
	host  proxytest.HostEmulator
	reset func()
}

func (h *nativeHost) start(config string) bool {
	opt := proxytest.NewEmulatorOption().WithVMContext(newVMContext(loadEngine)).WithPluginConfiguration([]byte(config))
	h.host, h.reset = proxytest.NewHostEmulator(opt)
	return h.host.StartPlugin() == types.OnPluginStartStatusOK
}

func (h *nativeHost) do(t *testing.T, ex exchange) outcome {
	id := h.host.InitializeHttpContext()
	var o outcome
	o.headersAction = h.host.CallOnRequestHeaders(id, ex.headers, len(ex.body) == 0 && ex.trailers == nil)
	o.lastAction = o.headersAction
	for i, chunk := range ex.body {
		if h.host.GetSentLocalResponse(id) != nil {
			break
		}
		o.lastAction = h.host.CallOnRequestBody(id, chunk, i == len(ex.body)-1 && ex.trailers == nil)
	}
	if ex.trailers != nil && h.host.GetSentLocalResponse(id) == nil {
		o.lastAction = h.host.CallOnRequestTrailers(id, ex.trailers)
	}
	if lr := h.host.GetSentLocalResponse(id); lr != nil {
		o.local = &localReply{status: int(lr.StatusCode), body: string(lr.Data)}
	}
	h.host.CompleteHttpContext(id)
	return o
}

func (h *nativeHost) counter(t *testing.T, name string) int64 {
	v, err := h.host.GetCounterMetric(name)
	if err != nil {
		t.Fatalf("counter %s: %v", name, err)
	}
	return int64(v)
}

func (h *nativeHost) logs(level string) []string {
	switch level {
	case "info":
		return h.host.GetInfoLogs()
	case "warn":
		return h.host.GetWarnLogs()
	case "error":
		return h.host.GetErrorLogs()
	case "critical":
		return h.host.GetCriticalLogs()
	}
	return nil
}

func (h *nativeHost) close() {
	if h.reset != nil {
		h.reset()
	}
}

// wasmHost runs the compiled plugin.wasm.
type wasmHost struct{ vm *wasmhost.VM }

func (h *wasmHost) start(config string) bool {
	h.vm.SetProperty([]string{"request", "protocol"}, []byte("HTTP/1.1"))
	ok, err := h.vm.Start(nil, []byte(config))
	if err != nil {
		panic(err)
	}
	return ok
}

func (h *wasmHost) do(t *testing.T, ex exchange) outcome {
	t.Helper()
	s, err := h.vm.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	var o outcome
	a, err := s.RequestHeaders(ex.headers, len(ex.body) == 0 && ex.trailers == nil)
	if err != nil {
		t.Fatalf("request headers: %v", err)
	}
	o.headersAction, o.lastAction = types.Action(a), types.Action(a)
	for i, chunk := range ex.body {
		if s.LocalResponse() != nil {
			break
		}
		a, err := s.RequestBody(chunk, i == len(ex.body)-1 && ex.trailers == nil)
		if err != nil {
			t.Fatalf("request body: %v", err)
		}
		o.lastAction = types.Action(a)
	}
	if ex.trailers != nil && s.LocalResponse() == nil {
		a, err := s.RequestTrailers(ex.trailers)
		if err != nil {
			t.Fatalf("request trailers: %v", err)
		}
		o.lastAction = types.Action(a)
	}
	if lr := s.LocalResponse(); lr != nil {
		o.local = &localReply{status: lr.Status, body: string(lr.Body)}
	}
	if err := s.Complete(); err != nil {
		t.Fatalf("completing the stream: %v", err)
	}
	return o
}

func (h *wasmHost) counter(t *testing.T, name string) int64 {
	v, ok := h.vm.Counter(name)
	if !ok {
		t.Fatalf("counter %s is not defined", name)
	}
	return v
}

func (h *wasmHost) logs(level string) []string {
	var out []string
	for _, e := range h.vm.Logs() {
		if e.Level.String() == level {
			out = append(out, e.Message)
		}
	}
	return out
}

func (h *wasmHost) close() { _ = h.vm.Close() }

var (
	pluginOnce   sync.Once
	pluginModule *wasmhost.Module
	pluginErr    error
)

// pluginWasmPath is the compiled plugin: $MESHACCEL_WAF_PLUGIN_WASM when set
// (make builds it once), else built here.
func pluginWasmPath(t testing.TB) string {
	if p := os.Getenv("MESHACCEL_WAF_PLUGIN_WASM"); p != "" {
		return p
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	out := filepath.Join(dir, "meshaccel-test", engineName, "plugin.wasm")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := wasmhost.BuildPlugin(context.Background(), ".", out, engineBuildTags...); err != nil {
		t.Fatal(err)
	}
	return out
}

func compiledPlugin(t *testing.T) *wasmhost.Module {
	t.Helper()
	pluginOnce.Do(func() {
		wasm, err := os.ReadFile(pluginWasmPath(t))
		if err != nil {
			pluginErr = err
			return
		}
		ctx := context.Background()
		cache, err := wazeroCache()
		if err != nil {
			pluginErr = err
			return
		}
		rt, err := wasmhost.NewRuntime(ctx, wasmhost.Options{Cache: cache, Stderr: os.Stderr, FullWASI: engineNeedsPollOneoff})
		if err != nil {
			pluginErr = err
			return
		}
		pluginModule, pluginErr = rt.Compile(ctx, wasm)
	})
	if pluginErr != nil {
		t.Fatal(pluginErr)
	}
	return pluginModule
}

// wazeroCache keeps compiled machine code across test runs.
func wazeroCache() (wazero.CompilationCache, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return wazero.NewCompilationCache(), nil
	}
	return wazero.NewCompilationCacheWithDir(filepath.Join(dir, "meshaccel-test", "wazero"))
}

func hasLine(lines []string, substrings ...string) bool {
	for _, l := range lines {
		all := true
		for _, s := range substrings {
			if !strings.Contains(l, s) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}
