package wasmhost

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// OlderEnvoyWASI lists the WASI preview 1 functions that Envoy hosts provide
// before proxy-wasm-cpp-host added the full set (proxy-wasm-cpp-host#533):
// the original fifteen plus sched_yield, poll_oneoff and fd_fdstat_set_flags
// that the Go SDK needs (proxy-wasm-cpp-host#427). A module importing
// anything else fails to load there.
var OlderEnvoyWASI = []string{
	"args_get", "args_sizes_get", "clock_time_get", "environ_get", "environ_sizes_get",
	"fd_close", "fd_fdstat_get", "fd_fdstat_set_flags", "fd_prestat_dir_name", "fd_prestat_get",
	"fd_read", "fd_seek", "fd_write", "path_open", "poll_oneoff", "proc_exit", "random_get",
	"sched_yield",
}

// ProxyWasmHostCalls lists the proxy-wasm 0.2.x host functions ("env").
var ProxyWasmHostCalls = []string{
	"proxy_log", "proxy_get_log_level", "proxy_get_status", "proxy_set_property", "proxy_get_property",
	"proxy_send_local_response", "proxy_get_shared_data", "proxy_set_shared_data",
	"proxy_register_shared_queue", "proxy_resolve_shared_queue", "proxy_dequeue_shared_queue",
	"proxy_enqueue_shared_queue", "proxy_get_header_map_value", "proxy_add_header_map_value",
	"proxy_replace_header_map_value", "proxy_remove_header_map_value", "proxy_get_header_map_pairs",
	"proxy_set_header_map_pairs", "proxy_get_header_map_size", "proxy_get_buffer_status",
	"proxy_get_buffer_bytes", "proxy_set_buffer_bytes", "proxy_http_call", "proxy_grpc_call",
	"proxy_grpc_stream", "proxy_grpc_close", "proxy_grpc_cancel", "proxy_grpc_send",
	"proxy_set_tick_period_milliseconds", "proxy_get_current_time_nanoseconds", "proxy_define_metric",
	"proxy_increment_metric", "proxy_record_metric", "proxy_get_metric", "proxy_set_effective_context",
	"proxy_done", "proxy_call_foreign_function", "proxy_continue_stream", "proxy_close_stream",
}

// Import is one imported function.
type Import struct{ Module, Name string }

func (i Import) String() string { return i.Module + "." + i.Name }

// ImportedFunctions lists a module's function imports, sorted, without
// duplicates.
func ImportedFunctions(ctx context.Context, wasm []byte) ([]Import, error) {
	// The interpreter compiles quickly; only the import section matters.
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("compiling: %w", err)
	}
	var out []Import
	for _, def := range compiled.ImportedFunctions() {
		mod, name, _ := def.Import()
		out = append(out, Import{Module: mod, Name: name})
	}
	slices.SortFunc(out, func(a, b Import) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(out), nil
}

// DisallowedImports returns the imports an older Envoy host cannot satisfy:
// anything outside OlderEnvoyWASI (as wasi_snapshot_preview1) and the
// proxy-wasm host calls (as env).
func DisallowedImports(imports []Import) []Import {
	var bad []Import
	for _, imp := range imports {
		switch {
		case imp.Module == wasi_snapshot_preview1.ModuleName && slices.Contains(OlderEnvoyWASI, imp.Name):
		case imp.Module == "env" && slices.Contains(ProxyWasmHostCalls, imp.Name):
		default:
			bad = append(bad, imp)
		}
	}
	return bad
}
