// Package wasmhost runs a compiled proxy-wasm plugin (.wasm) in wazero the way
// Envoy drives it: _initialize, root context, proxy_on_vm_start,
// proxy_on_configure, then per request proxy_on_context_create,
// proxy_on_request_headers, proxy_on_request_body (with Envoy's buffering),
// local replies, proxy_on_done/log/delete.
//
// It is test and measurement support: it implements the host calls the
// plugins in this repository use, in either wazero's compiler or its
// interpreter (the closest stand-in for Envoy's WAMR fast interpreter), and
// can measure Wasm call depth, linear memory and poll_oneoff use.
package wasmhost

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Action is a proxy-wasm filter action.
type Action uint32

const (
	ActionContinue Action = 0
	ActionPause    Action = 1
)

func (a Action) String() string {
	switch a {
	case ActionContinue:
		return "continue"
	case ActionPause:
		return "pause"
	default:
		return fmt.Sprintf("action(%d)", uint32(a))
	}
}

// Options configures a Runtime.
type Options struct {
	// Interpreter selects wazero's interpreter instead of its compiler.
	Interpreter bool
	// Cache shares compiled code between runtimes (nil: none).
	Cache wazero.CompilationCache
	// MeasureCallDepth installs a function listener that records the
	// deepest Wasm call stack of every call into the guest. It slows
	// execution down a lot: use it for measurements only.
	MeasureCallDepth bool
	// Profile installs a function listener that counts calls and self time
	// per guest function (see VM.Profile); like MeasureCallDepth it is for
	// measurements only. The two cannot be combined.
	Profile bool
	// Stderr receives the guest's stdout and stderr (nil: discarded).
	Stderr io.Writer
	// FullWASI gives the guest wazero's complete WASI preview 1, as hosts
	// with proxy-wasm-cpp-host#533 provide. By default the WASI functions
	// behave as in older Envoy hosts: poll_oneoff fails with ENOSYS (and
	// any call is reported), fd_fdstat_get answers for stdout and stderr
	// only.
	FullWASI bool
}

// Runtime is a wazero runtime with the host modules a proxy-wasm plugin
// imports: the proxy-wasm ABI ("env") and WASI preview 1.
type Runtime struct {
	rt   wazero.Runtime
	opts Options
}

// NewRuntime builds the runtime and its host modules.
func NewRuntime(ctx context.Context, opts Options) (*Runtime, error) {
	cfg := wazero.NewRuntimeConfigCompiler()
	if opts.Interpreter {
		cfg = wazero.NewRuntimeConfigInterpreter()
	}
	if opts.Cache != nil {
		cfg = cfg.WithCompilationCache(opts.Cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	r := &Runtime{rt: rt, opts: opts}
	if err := r.instantiateWASI(ctx); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("wasi host module: %w", err)
	}
	if err := r.instantiateProxyABI(ctx); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("proxy-wasm host module: %w", err)
	}
	return r, nil
}

// Close releases the runtime and every VM created from it.
func (r *Runtime) Close(ctx context.Context) error { return r.rt.Close(ctx) }

// instantiateWASI provides WASI preview 1, by default with the semantics of
// older Envoy hosts where they matter to a Go guest:
//   - poll_oneoff fails (ENOSYS). The Go runtime calls it to sleep, and at
//     every garbage collection once its network poller is initialized, and
//     treats the failure as fatal: any call shows up in tests.
//   - fd_fdstat_get reports stdout and stderr as plain write-only streams
//     and every other descriptor as EBADF, as Envoy does. (wazero reports
//     stdio as non-blocking, which makes package os register it with the
//     network poller, a path Envoy never takes.)
func (r *Runtime) instantiateWASI(ctx context.Context) error {
	b := r.rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	if r.opts.FullWASI {
		_, err := b.Instantiate(ctx)
		return err
	}
	const (
		errnoBadf         = 8
		errnoNosys        = 52
		rightFdWrite      = 1 << 6
		fdstatSize        = 24
		fdstatRightsStart = 8
	)
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
			if vm := vmFrom(ctx); vm != nil {
				vm.pollOneoffCalls++
			}
			stack[0] = errnoNosys
		}), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).
		WithParameterNames("in", "out", "nsubscriptions", "result.nevents").
		Export("poll_oneoff")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, mod api.Module, stack []uint64) {
			fd, out := uint32(stack[0]), uint32(stack[1])
			if fd != 1 && fd != 2 {
				stack[0] = errnoBadf
				return
			}
			var stat [fdstatSize]byte
			binary.LittleEndian.PutUint64(stat[fdstatRightsStart:], rightFdWrite)
			if !mod.Memory().Write(out, stat[:]) {
				stack[0] = 21 // EFAULT
				return
			}
			stack[0] = 0
		}), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).
		WithParameterNames("fd", "result.stat").
		Export("fd_fdstat_get")
	_, err := b.Instantiate(ctx)
	return err
}

// Module is a compiled plugin, instantiated into any number of VMs.
type Module struct {
	r        *Runtime
	compiled wazero.CompiledModule
	depth    *depthListenerFactory
}

// Compile compiles the plugin.
func (r *Runtime) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	m := &Module{r: r}
	if r.opts.MeasureCallDepth {
		costs, err := ComputeFrameCosts(wasm)
		if err != nil {
			return nil, fmt.Errorf("estimating frame sizes: %w", err)
		}
		m.depth = &depthListenerFactory{costs: costs}
		ctx = experimental.WithFunctionListenerFactory(ctx, m.depth)
	} else if r.opts.Profile {
		ctx = experimental.WithFunctionListenerFactory(ctx, profileListenerFactory{})
	}
	compiled, err := r.rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("compiling the plugin: %w", err)
	}
	if _, ok := compiled.ExportedFunctions()["proxy_abi_version_0_2_0"]; !ok {
		if _, ok := compiled.ExportedFunctions()["proxy_abi_version_0_2_1"]; !ok {
			return nil, errors.New("the module exports no proxy-wasm ABI version (proxy_abi_version_0_2_x)")
		}
	}
	m.compiled = compiled
	return m, nil
}

// VM is one instance of the plugin, as Envoy runs one per worker thread.
// A VM is not safe for concurrent use.
type VM struct {
	mod    api.Module
	ctx    context.Context
	module *Module
	// ownRuntime is the runtime made for this VM alone (NewStandaloneVM), closed with it.
	ownRuntime *Runtime

	exports struct {
		malloc, onContextCreate, onVMStart, onConfigure, onDone, onLog, onDelete,
		onRequestHeaders, onRequestBody, onRequestTrailers api.Function
	}

	nextContextID uint32
	rootID        uint32
	pluginConfig  []byte
	vmConfig      []byte
	properties    map[string][]byte

	metricIDs    map[string]uint32
	metricValues []int64

	streams map[uint32]*Stream
	active  *Stream // the stream whose callback runs

	// LogSink receives every proxy_log call; nil keeps the last logs in
	// memory (see Logs).
	LogSink func(level LogLevel, msg string)
	logs    []LogEntry

	// Faults makes host calls fail, to test the plugin's failure policy.
	Faults Faults

	pollOneoffCalls int
	depth           depthState
	profile         profileState
}

// Faults injects host failures.
type Faults struct {
	// HeaderMapStatus, when non-zero, is returned by proxy_get_header_map_pairs.
	HeaderMapStatus uint32
	// CorruptHeaderMap returns a header map whose sizes point past its end.
	CorruptHeaderMap bool
}

type vmKey struct{}

func vmFrom(ctx context.Context) *VM {
	vm, _ := ctx.Value(vmKey{}).(*VM)
	return vm
}

// NewVM instantiates the plugin and runs _initialize.
func (m *Module) NewVM(ctx context.Context) (*VM, error) {
	vm := &VM{
		module:        m,
		nextContextID: 1,
		properties:    map[string][]byte{},
		metricIDs:     map[string]uint32{},
		streams:       map[uint32]*Stream{},
	}
	vm.ctx = context.WithValue(ctx, vmKey{}, vm)
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: many VMs per runtime
		WithStartFunctions("_initialize").
		WithSysNanotime().WithSysWalltime().WithRandSource(cryptoRand{})
	if w := m.r.opts.Stderr; w != nil {
		cfg = cfg.WithStdout(w).WithStderr(w)
	}
	mod, err := m.r.rt.InstantiateModule(vm.ctx, m.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiating the plugin (_initialize): %w", err)
	}
	vm.mod = mod
	e := &vm.exports
	for name, f := range map[string]*api.Function{
		"proxy_on_memory_allocate":  &e.malloc,
		"proxy_on_context_create":   &e.onContextCreate,
		"proxy_on_vm_start":         &e.onVMStart,
		"proxy_on_configure":        &e.onConfigure,
		"proxy_on_done":             &e.onDone,
		"proxy_on_log":              &e.onLog,
		"proxy_on_delete":           &e.onDelete,
		"proxy_on_request_headers":  &e.onRequestHeaders,
		"proxy_on_request_body":     &e.onRequestBody,
		"proxy_on_request_trailers": &e.onRequestTrailers,
	} {
		if *f = mod.ExportedFunction(name); *f == nil {
			_ = mod.Close(ctx)
			return nil, fmt.Errorf("the plugin does not export %s", name)
		}
	}
	return vm, nil
}

// Close releases the VM, and the runtime too when NewStandaloneVM made it.
func (vm *VM) Close() error {
	err := vm.mod.Close(vm.ctx)
	if vm.ownRuntime != nil {
		err = errors.Join(err, vm.ownRuntime.Close(vm.ctx))
	}
	return err
}

// NewStandaloneVM compiles the plugin in a runtime of its own and instantiates one VM, for
// callers that need a single VM (a benchmark, a test run); Close releases the runtime with it.
func NewStandaloneVM(ctx context.Context, wasm []byte, opts Options) (*VM, error) {
	rt, err := NewRuntime(ctx, opts)
	if err != nil {
		return nil, err
	}
	mod, err := rt.Compile(ctx, wasm)
	if err == nil {
		var vm *VM
		if vm, err = mod.NewVM(ctx); err == nil {
			vm.ownRuntime = rt
			return vm, nil
		}
	}
	_ = rt.Close(ctx)
	return nil, err
}

// SetProperty sets a host property (path segments as in Envoy's attributes).
func (vm *VM) SetProperty(path []string, value []byte) {
	vm.properties[propertyKey(path)] = value
}

// Start creates the root context and runs proxy_on_vm_start and
// proxy_on_configure with the plugin configuration, as Envoy does when it
// loads a plugin. It returns false when the plugin rejects the configuration.
func (vm *VM) Start(vmConfig, pluginConfig []byte) (bool, error) {
	vm.vmConfig, vm.pluginConfig = vmConfig, pluginConfig
	vm.rootID = vm.newContextID()
	if _, err := vm.call(vm.exports.onContextCreate, uint64(vm.rootID), 0); err != nil {
		return false, fmt.Errorf("proxy_on_context_create(root): %w", err)
	}
	res, err := vm.call(vm.exports.onVMStart, uint64(vm.rootID), uint64(len(vmConfig)))
	if err != nil {
		return false, fmt.Errorf("proxy_on_vm_start: %w", err)
	}
	if res[0] == 0 {
		return false, nil
	}
	res, err = vm.call(vm.exports.onConfigure, uint64(vm.rootID), uint64(len(pluginConfig)))
	if err != nil {
		return false, fmt.Errorf("proxy_on_configure: %w", err)
	}
	return res[0] != 0, nil
}

func (vm *VM) newContextID() uint32 {
	id := vm.nextContextID
	vm.nextContextID++
	return id
}

func (vm *VM) call(f api.Function, params ...uint64) ([]uint64, error) {
	vm.depth.beginCall()
	res, err := f.Call(vm.ctx, params...)
	vm.depth.endCall()
	if err == nil && vm.pollOneoffCalls > 0 {
		err = fmt.Errorf("the plugin called poll_oneoff %d times (sleep or timer): older Envoy hosts fail it", vm.pollOneoffCalls)
	}
	return res, err
}

// MemoryBytes is the size of the VM's linear memory.
func (vm *VM) MemoryBytes() uint64 { return uint64(vm.mod.Memory().Size()) }

// PollOneoffCalls counts the guest's calls to poll_oneoff.
func (vm *VM) PollOneoffCalls() int { return vm.pollOneoffCalls }

// Counter returns a metric's value and whether the plugin defined it.
func (vm *VM) Counter(name string) (int64, bool) {
	id, ok := vm.metricIDs[name]
	if !ok {
		return 0, false
	}
	return vm.metricValues[id], true
}

// LogLevel is a proxy-wasm log level.
type LogLevel uint32

const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

func (l LogLevel) String() string {
	names := [...]string{"trace", "debug", "info", "warn", "error", "critical"}
	if int(l) < len(names) {
		return names[l]
	}
	return fmt.Sprintf("level(%d)", uint32(l))
}

// LogEntry is one proxy_log call.
type LogEntry struct {
	Level   LogLevel
	Message string
}

const maxKeptLogs = 1024

// Logs returns the last log entries (when no LogSink is set).
func (vm *VM) Logs() []LogEntry { return vm.logs }

// ResetLogs forgets the kept log entries.
func (vm *VM) ResetLogs() { vm.logs = vm.logs[:0] }

func (vm *VM) log(level LogLevel, msg string) {
	if vm.LogSink != nil {
		vm.LogSink(level, msg)
		return
	}
	if len(vm.logs) == maxKeptLogs {
		copy(vm.logs, vm.logs[1:])
		vm.logs = vm.logs[:maxKeptLogs-1]
	}
	vm.logs = append(vm.logs, LogEntry{Level: level, Message: msg})
}

// LocalResponse is what the plugin sent with proxy_send_local_response.
type LocalResponse struct {
	Status  int
	Details string
	Headers [][2]string
	Body    []byte
}

// Stream is one HTTP request through the plugin.
type Stream struct {
	vm        *VM
	id        uint32
	headers   [][2]string
	trailers  [][2]string
	body      []byte // what the host buffers (Envoy keeps it while paused)
	local     *LocalResponse
	completed bool
}

// NewStream creates an HTTP context (proxy_on_context_create).
func (vm *VM) NewStream() (*Stream, error) {
	if vm.rootID == 0 {
		return nil, errors.New("the VM is not started")
	}
	s := &Stream{vm: vm, id: vm.newContextID()}
	vm.streams[s.id] = s
	if err := s.callback(vm.exports.onContextCreate, uint64(s.id), uint64(vm.rootID)); err != nil {
		return nil, fmt.Errorf("proxy_on_context_create: %w", err)
	}
	return s, nil
}

func (s *Stream) callback(f api.Function, params ...uint64) error {
	_, err := s.callbackResult(f, params...)
	return err
}

func (s *Stream) callbackResult(f api.Function, params ...uint64) (Action, error) {
	prev := s.vm.active
	s.vm.active = s
	defer func() { s.vm.active = prev }()
	res, err := s.vm.call(f, params...)
	if err != nil {
		return 0, err
	}
	if len(res) == 0 {
		return 0, nil
	}
	return Action(res[0]), nil
}

// RequestHeaders runs proxy_on_request_headers. Headers include the HTTP/2
// style pseudo-headers Envoy presents (:method, :path, :authority, :scheme).
func (s *Stream) RequestHeaders(headers [][2]string, endOfStream bool) (Action, error) {
	s.headers = headers
	return s.callbackResult(s.vm.exports.onRequestHeaders, uint64(s.id), uint64(len(headers)), boolParam(endOfStream))
}

// RequestBody delivers a body chunk. While the plugin pauses, the host keeps
// buffering and reports the buffered size, as Envoy does.
func (s *Stream) RequestBody(chunk []byte, endOfStream bool) (Action, error) {
	s.body = append(s.body, chunk...)
	a, err := s.callbackResult(s.vm.exports.onRequestBody, uint64(s.id), uint64(len(s.body)), boolParam(endOfStream))
	if err == nil && a == ActionContinue {
		s.body = s.body[:0] // forwarded upstream
	}
	return a, err
}

// RequestTrailers runs proxy_on_request_trailers.
func (s *Stream) RequestTrailers(trailers [][2]string) (Action, error) {
	s.trailers = trailers
	return s.callbackResult(s.vm.exports.onRequestTrailers, uint64(s.id), uint64(len(trailers)))
}

// LocalResponse is the reply the plugin sent, or nil.
func (s *Stream) LocalResponse() *LocalResponse { return s.local }

// Complete ends the stream: proxy_on_done, proxy_on_log, proxy_on_delete.
func (s *Stream) Complete() error {
	if s.completed {
		return nil
	}
	s.completed = true
	defer delete(s.vm.streams, s.id)
	if _, err := s.callbackResult(s.vm.exports.onDone, uint64(s.id)); err != nil {
		return fmt.Errorf("proxy_on_done: %w", err)
	}
	if err := s.callback(s.vm.exports.onLog, uint64(s.id)); err != nil {
		return fmt.Errorf("proxy_on_log: %w", err)
	}
	if err := s.callback(s.vm.exports.onDelete, uint64(s.id)); err != nil {
		return fmt.Errorf("proxy_on_delete: %w", err)
	}
	return nil
}

func boolParam(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
