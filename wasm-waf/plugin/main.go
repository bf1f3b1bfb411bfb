// Command plugin is the meshaccel WAF as a proxy-wasm plugin. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// and ship it with wasm-waf/cmd/wasm-image. The build uses default.pgo, a CPU profile of the
// engine's native benchmarks (make wasm-pgo): the compiler inlines the calls it shows hot, and
// calls are what an interpreting Wasm runtime pays for most.
package main

import "github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"

// main is unused: the host calls _initialize, then the proxy-wasm exports.
func main() {}

func init() {
	proxywasm.SetVMContext(newVMContext(loadEngine))
}
