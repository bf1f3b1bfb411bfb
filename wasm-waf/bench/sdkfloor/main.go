// Command sdkfloor is the least a proxy-wasm WAF built with the Go SDK does per request: read the
// request headers and the protocol, and refuse a request whose path holds "UNION SELECT". It is
// not a WAF; `make bench-waf-floors` measures it with waf-wasm-bench (which it answers like the
// plugin) as the floor under the plugin's one-rule shell: the SDK, the Go runtime and the host
// calls, without the engine. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o sdkfloor.wasm .
package main

import (
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct{ types.DefaultPluginContext }

func (*pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{} }

type httpContext struct{ types.DefaultHttpContext }

func (*httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	headers, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		return types.ActionContinue
	}
	_, _ = proxywasm.GetProperty([]string{"request", "protocol"})
	for _, h := range headers {
		if h[0] == ":path" && strings.Contains(strings.ToUpper(h[1]), "UNION%20SELECT") {
			_ = proxywasm.SendHttpResponse(403, nil, []byte("request blocked\n"), -1)
			return types.ActionPause
		}
	}
	return types.ActionContinue
}
