// Command plugin is the meshaccel WAF as a proxy-wasm plugin. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// and ship it with wasm-waf/cmd/wasm-image. The build uses default.pgo, a CPU profile of the
// engine's native benchmarks (make wasm-pgo): the compiler inlines the calls it shows hot, and
// calls are what an interpreting Wasm runtime pays for most.
package main

import (
	"runtime"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
)

// main is unused: the host calls _initialize, then the proxy-wasm exports.
func main() {}

func init() {
	proxywasm.SetVMContext(newVMContext(loadEngine))
	// The runtime's first collection also starts its mark workers. A plugin's only goroutine
	// never waits, so inside a host callback a cycle advances by mark assists alone; a first
	// cycle that began inside a request never finished in the benchmark's traffic (write barriers
	// left on, requests 2.7x slower, linear memory 8 → 83 MiB over 20,000 requests). Run here,
	// on the heap that package initialization left, it takes about 75 ms interpreted, once.
	runtime.GC()
}
