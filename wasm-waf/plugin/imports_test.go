package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/wasmhost"
)

// TestWasmImportsFitOlderEnvoy lists the compiled module's imports and
// checks them against what older Envoy hosts provide: 18 WASI functions and
// the proxy-wasm ABI. One more import and those hosts refuse to load it.
func TestWasmImportsFitOlderEnvoy(t *testing.T) {
	wasm, err := os.ReadFile(pluginWasmPath(t))
	if err != nil {
		t.Fatal(err)
	}
	imports, err := wasmhost.ImportedFunctions(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) == 0 {
		t.Fatal("no imports found: the module cannot be a proxy-wasm plugin")
	}
	bad := wasmhost.DisallowedImports(imports)
	if !engineRunsOnOlderEnvoy {
		t.Skipf("the %s build imports %d functions older Envoy hosts lack: %v", engineName, len(bad), bad)
	}
	for _, imp := range bad {
		t.Errorf("import %s is not provided by older Envoy hosts", imp)
	}
	var names []string
	for _, imp := range imports {
		names = append(names, imp.String())
	}
	t.Logf("%d imports: %s", len(imports), strings.Join(names, " "))
}
