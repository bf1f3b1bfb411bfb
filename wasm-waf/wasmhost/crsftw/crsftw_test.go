package crsftw

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/meshaccel/meshaccel/wasm-waf/crs"
	"github.com/meshaccel/meshaccel/wasm-waf/wasmhost"
)

// crsOptions is the CRS configuration the regression tests are written for,
// as the engine's native run uses it (wasm-waf/crs).
var crsOptions = crs.Options{Setup: crs.TestingSetup}

// TestCRSRegressionThroughWasm runs the OWASP CRS v4 request-phase
// regression tests against the compiled plugin.wasm in wazero, in detection
// mode, reading matched rule ids from the plugin's log.
func TestCRSRegressionThroughWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about 4,000 CRS tests")
	}
	ctx := context.Background()
	wasm, err := os.ReadFile(pluginWasm(t))
	if err != nil {
		t.Fatal(err)
	}
	pluginConfig := pluginConfigForCRS(t)

	vm, err := wasmhost.NewStandaloneVM(ctx, wasm, wasmhost.Options{Cache: cache(t), FullWASI: engineNeedsPollOneoff})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	var server *PluginServer
	var progress io.Writer
	if testing.Verbose() && os.Getenv("CRSFTW_PROGRESS") != "" {
		progress = os.Stderr
	}
	res, err := Run(Options{Skip: crsSkips(t), Progress: progress}, func(log io.Writer) http.Handler {
		server = NewPluginServer(vm, log)
		ok, err := vm.Start(nil, pluginConfig)
		if err != nil || !ok {
			t.Fatalf("the plugin rejected the CRS test configuration: %v %v", err, vm.Logs())
		}
		return server
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s engine: %d passed, %d failed, %d skipped (%.2f%% of the tests that ran) in %v",
		engineName, res.Passed, res.Failed, res.Skipped, 100*res.PassRate(), res.Duration.Round(1e6))
	if len(res.FailedIDs) > 0 {
		t.Logf("failed: %v", res.FailedIDs)
	}
	if server.Errors > 0 {
		t.Errorf("the host failed to drive %d requests", server.Errors)
	}
	if res.Run() < 3000 {
		t.Errorf("only %d tests ran", res.Run())
	}
	if rate := res.PassRate(); rate < 0.95 {
		t.Errorf("pass rate %.2f%% is below 95%%", 100*rate)
	}
	if n := vm.PollOneoffCalls(); n > 0 && !engineNeedsPollOneoff {
		t.Errorf("the plugin called poll_oneoff %d times", n)
	}
}

func jsonConfig(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	fields["mode"] = "detect"
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pluginWasm(t *testing.T) string {
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
	if err := wasmhost.BuildPlugin(context.Background(), "../../plugin", out, engineBuildTags...); err != nil {
		t.Fatal(err)
	}
	return out
}

func cache(t *testing.T) wazero.CompilationCache {
	dir, err := os.UserCacheDir()
	if err != nil {
		return nil
	}
	c, err := wazero.NewCompilationCacheWithDir(filepath.Join(dir, "meshaccel-test", "wazero"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
