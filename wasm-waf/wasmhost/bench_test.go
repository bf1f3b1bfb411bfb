package wasmhost_test

import (
	"context"
	"os"
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/wasmhost"
)

// BenchmarkPluginRequest runs a benign GET through the compiled plugin
// ($MESHACCEL_WAF_PLUGIN_WASM, default ruleset) as Envoy drives it, in
// wazero's interpreter (the stand-in for WAMR) and compiler.
// cmd/waf-wasm-bench reports percentiles, memory and call depth.
func BenchmarkPluginRequest(b *testing.B) {
	path := os.Getenv("MESHACCEL_WAF_PLUGIN_WASM")
	if path == "" {
		b.Skip("set MESHACCEL_WAF_PLUGIN_WASM to a built plugin.wasm (make wasm-plugin)")
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	headers := [][2]string{
		{":method", "GET"}, {":path", "/products/42?ref=home&sort=price"}, {":authority", "shop.example"}, {":scheme", "https"},
		{"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
		{"accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		{"accept-language", "en-US,en;q=0.9"}, {"cookie", "session=7f3c2a9e41b04d6f8a1e; theme=dark"},
	}
	for _, interp := range []bool{true, false} {
		name := "compiler"
		if interp {
			name = "interpreter"
		}
		b.Run(name+"/benign-get", func(b *testing.B) {
			ctx := context.Background()
			vm, err := wasmhost.NewStandaloneVM(ctx, wasm, wasmhost.Options{Interpreter: interp})
			if err != nil {
				b.Fatal(err)
			}
			defer vm.Close()
			if ok, err := vm.Start(nil, nil); err != nil || !ok {
				b.Fatalf("start: %v %v", err, vm.Logs())
			}
			request := func() {
				s, err := vm.NewStream()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.RequestHeaders(headers, true); err != nil {
					b.Fatal(err)
				}
				if s.LocalResponse() != nil {
					b.Fatal("benign request blocked")
				}
				if err := s.Complete(); err != nil {
					b.Fatal(err)
				}
			}
			request() // lazy regex compilation
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				request()
			}
			b.ReportMetric(float64(vm.MemoryBytes())/(1<<20), "linear-MiB")
		})
	}
}
