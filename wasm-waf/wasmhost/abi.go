package wasmhost

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"strings"

	"github.com/tetratelabs/wazero/api"
)

// proxy-wasm status codes.
const (
	statusOK              = 0
	statusNotFound        = 1
	statusBadArgument     = 2
	statusInternalFailure = 10
	statusUnimplemented   = 12
)

// proxy-wasm buffer and map types.
const (
	bufferHTTPRequestBody     = 0
	bufferVMConfiguration     = 6
	bufferPluginConfiguration = 7
	mapHTTPRequestHeaders     = 0
	mapHTTPRequestTrailers    = 1
)

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

type hostFunc func(vm *VM, mod api.Module, stack []uint64) uint32

// instantiateProxyABI provides the "env" host module with every proxy-wasm
// 0.2.x host call the Go SDK can import. Calls the WAF plugin has no use for
// answer "unimplemented", which the SDK reports as an error.
func (r *Runtime) instantiateProxyABI(ctx context.Context) error {
	b := r.rt.NewHostModuleBuilder("env")
	export := func(name string, params []api.ValueType, f hostFunc) {
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			vm := vmFrom(ctx)
			if vm == nil {
				stack[0] = statusInternalFailure
				return
			}
			// Only the low 32 bits of an i32 on the stack are defined.
			for i, t := range params {
				if t == i32 {
					stack[i] = uint64(uint32(stack[i]))
				}
			}
			stack[0] = uint64(f(vm, mod, stack))
		}), params, []api.ValueType{i32}).Export(name)
	}
	n := func(k int) []api.ValueType {
		p := make([]api.ValueType, k)
		for i := range p {
			p[i] = i32
		}
		return p
	}
	unimplemented := func(*VM, api.Module, []uint64) uint32 { return statusUnimplemented }

	export("proxy_log", n(3), hostLog)
	export("proxy_send_local_response", n(8), hostSendLocalResponse)
	export("proxy_get_header_map_pairs", n(3), hostGetHeaderMapPairs)
	export("proxy_get_header_map_value", n(5), hostGetHeaderMapValue)
	export("proxy_get_buffer_bytes", n(5), hostGetBufferBytes)
	export("proxy_get_property", n(4), hostGetProperty)
	export("proxy_set_effective_context", n(1), hostSetEffectiveContext)
	export("proxy_define_metric", n(4), hostDefineMetric)
	export("proxy_increment_metric", []api.ValueType{i32, i64}, hostIncrementMetric)
	export("proxy_record_metric", []api.ValueType{i32, i64}, hostRecordMetric)
	export("proxy_get_metric", n(2), hostGetMetric)
	export("proxy_continue_stream", n(1), func(*VM, api.Module, []uint64) uint32 { return statusOK })
	export("proxy_close_stream", n(1), func(*VM, api.Module, []uint64) uint32 { return statusOK })
	export("proxy_done", n(0), func(*VM, api.Module, []uint64) uint32 { return statusOK })
	export("proxy_set_tick_period_milliseconds", n(1), unimplemented) // no timers in these plugins
	for name, params := range map[string]int{
		"proxy_get_shared_data":          5,
		"proxy_set_shared_data":          5,
		"proxy_register_shared_queue":    3,
		"proxy_resolve_shared_queue":     5,
		"proxy_dequeue_shared_queue":     3,
		"proxy_enqueue_shared_queue":     3,
		"proxy_add_header_map_value":     5,
		"proxy_replace_header_map_value": 5,
		"proxy_remove_header_map_value":  3,
		"proxy_set_header_map_pairs":     3,
		"proxy_set_buffer_bytes":         5,
		"proxy_http_call":                10,
		"proxy_call_foreign_function":    6,
		"proxy_set_property":             4,
	} {
		export(name, n(params), unimplemented)
	}
	_, err := b.Instantiate(ctx)
	return err
}

func read(mod api.Module, ptr, size uint64) ([]byte, bool) {
	if size == 0 {
		return nil, true
	}
	return mod.Memory().Read(uint32(ptr), uint32(size))
}

// give copies data into guest memory (proxy_on_memory_allocate) and writes
// its address and size to the guest's return pointers.
func (vm *VM) give(mod api.Module, data []byte, retPtr, retSize uint64) uint32 {
	mem := mod.Memory()
	var addr uint64
	if len(data) > 0 {
		res, err := vm.exports.malloc.Call(vm.ctx, uint64(len(data)))
		if err != nil || len(res) == 0 {
			return statusInternalFailure
		}
		addr = res[0]
		if !mem.Write(uint32(addr), data) {
			return statusInternalFailure
		}
	}
	if !mem.WriteUint32Le(uint32(retPtr), uint32(addr)) || !mem.WriteUint32Le(uint32(retSize), uint32(len(data))) {
		return statusBadArgument
	}
	return statusOK
}

func hostLog(vm *VM, mod api.Module, stack []uint64) uint32 {
	msg, ok := read(mod, stack[1], stack[2])
	if !ok {
		return statusBadArgument
	}
	vm.log(LogLevel(stack[0]), string(msg))
	return statusOK
}

func hostSendLocalResponse(vm *VM, mod api.Module, stack []uint64) uint32 {
	s := vm.active
	if s == nil {
		return statusBadArgument
	}
	details, ok1 := read(mod, stack[1], stack[2])
	body, ok2 := read(mod, stack[3], stack[4])
	headers, ok3 := read(mod, stack[5], stack[6])
	if !ok1 || !ok2 || !ok3 {
		return statusBadArgument
	}
	pairs, ok := decodeMap(headers)
	if !ok {
		return statusBadArgument
	}
	s.local = &LocalResponse{
		Status:  int(uint32(stack[0])),
		Details: string(details),
		Headers: pairs,
		Body:    append([]byte(nil), body...),
	}
	return statusOK
}

func (vm *VM) headerMap(mapType uint64) ([][2]string, bool) {
	s := vm.active
	if s == nil {
		return nil, false
	}
	switch mapType {
	case mapHTTPRequestHeaders:
		return s.headers, true
	case mapHTTPRequestTrailers:
		return s.trailers, true
	default:
		return nil, false
	}
}

func hostGetHeaderMapPairs(vm *VM, mod api.Module, stack []uint64) uint32 {
	if vm.Faults.HeaderMapStatus != 0 {
		return vm.Faults.HeaderMapStatus
	}
	pairs, ok := vm.headerMap(stack[0])
	if !ok {
		return statusNotFound
	}
	data := encodeMap(pairs)
	if vm.Faults.CorruptHeaderMap && len(pairs) > 0 {
		// Claim a first key far longer than the map.
		binary.LittleEndian.PutUint32(data[4:], uint32(len(data))*16)
	}
	return vm.give(mod, data, stack[1], stack[2])
}

func hostGetHeaderMapValue(vm *VM, mod api.Module, stack []uint64) uint32 {
	pairs, ok := vm.headerMap(stack[0])
	if !ok {
		return statusNotFound
	}
	key, ok := read(mod, stack[1], stack[2])
	if !ok {
		return statusBadArgument
	}
	for _, kv := range pairs {
		if strings.EqualFold(kv[0], string(key)) {
			return vm.give(mod, []byte(kv[1]), stack[3], stack[4])
		}
	}
	return statusNotFound
}

func hostGetBufferBytes(vm *VM, mod api.Module, stack []uint64) uint32 {
	var buf []byte
	switch stack[0] {
	case bufferHTTPRequestBody:
		if vm.active == nil {
			return statusNotFound
		}
		buf = vm.active.body
	case bufferPluginConfiguration:
		buf = vm.pluginConfig
	case bufferVMConfiguration:
		buf = vm.vmConfig
	default:
		return statusNotFound
	}
	start, max := int(uint32(stack[1])), int(uint32(stack[2]))
	if len(buf) == 0 {
		return statusNotFound
	}
	if start > len(buf) {
		return statusBadArgument
	}
	end := len(buf)
	if max < end-start {
		end = start + max
	}
	return vm.give(mod, buf[start:end], stack[3], stack[4])
}

func propertyKey(path []string) string { return strings.Join(path, "\x00") }

func hostGetProperty(vm *VM, mod api.Module, stack []uint64) uint32 {
	path, ok := read(mod, stack[0], stack[1])
	if !ok {
		return statusBadArgument
	}
	v, found := vm.properties[strings.TrimSuffix(string(path), "\x00")]
	if !found {
		return statusNotFound
	}
	return vm.give(mod, v, stack[2], stack[3])
}

func hostSetEffectiveContext(vm *VM, _ api.Module, stack []uint64) uint32 {
	id := uint32(stack[0])
	if id == vm.rootID {
		vm.active = nil
		return statusOK
	}
	s, ok := vm.streams[id]
	if !ok {
		return statusBadArgument
	}
	vm.active = s
	return statusOK
}

func hostDefineMetric(vm *VM, mod api.Module, stack []uint64) uint32 {
	name, ok := read(mod, stack[1], stack[2])
	if !ok {
		return statusBadArgument
	}
	id, found := vm.metricIDs[string(name)]
	if !found {
		id = uint32(len(vm.metricValues))
		vm.metricIDs[string(name)] = id
		vm.metricValues = append(vm.metricValues, 0)
	}
	if !mod.Memory().WriteUint32Le(uint32(stack[3]), id) {
		return statusBadArgument
	}
	return statusOK
}

func hostIncrementMetric(vm *VM, _ api.Module, stack []uint64) uint32 {
	id := uint32(stack[0])
	if int(id) >= len(vm.metricValues) {
		return statusNotFound
	}
	vm.metricValues[id] += int64(stack[1])
	return statusOK
}

func hostRecordMetric(vm *VM, _ api.Module, stack []uint64) uint32 {
	id := uint32(stack[0])
	if int(id) >= len(vm.metricValues) {
		return statusNotFound
	}
	vm.metricValues[id] = int64(stack[1])
	return statusOK
}

func hostGetMetric(vm *VM, mod api.Module, stack []uint64) uint32 {
	id := uint32(stack[0])
	if int(id) >= len(vm.metricValues) {
		return statusNotFound
	}
	if !mod.Memory().WriteUint64Le(uint32(stack[1]), uint64(vm.metricValues[id])) {
		return statusBadArgument
	}
	return statusOK
}

// encodeMap serializes a header map the proxy-wasm way: a count, the key
// and value sizes, then each key and value NUL-terminated.
func encodeMap(pairs [][2]string) []byte {
	size := 4 + 8*len(pairs)
	for _, kv := range pairs {
		size += len(kv[0]) + len(kv[1]) + 2
	}
	buf := make([]byte, size)
	binary.LittleEndian.PutUint32(buf, uint32(len(pairs)))
	off := 4
	for _, kv := range pairs {
		binary.LittleEndian.PutUint32(buf[off:], uint32(len(kv[0])))
		binary.LittleEndian.PutUint32(buf[off+4:], uint32(len(kv[1])))
		off += 8
	}
	for _, kv := range pairs {
		off += copy(buf[off:], kv[0]) + 1
		off += copy(buf[off:], kv[1]) + 1
	}
	return buf
}

func decodeMap(data []byte) ([][2]string, bool) {
	if len(data) == 0 {
		return nil, true
	}
	if len(data) < 4 {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint32(data))
	if n > len(data)/8 {
		return nil, false
	}
	sizes := data[4:]
	off := 4 + 8*n
	pairs := make([][2]string, 0, n)
	for i := 0; i < n; i++ {
		k := int(binary.LittleEndian.Uint32(sizes[8*i:]))
		v := int(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if off+k+v+2 > len(data) || k < 0 || v < 0 {
			return nil, false
		}
		key := string(data[off : off+k])
		off += k + 1
		val := string(data[off : off+v])
		off += v + 1
		pairs = append(pairs, [2]string{key, val})
	}
	return pairs, true
}

// cryptoRand feeds WASI random_get.
type cryptoRand struct{}

func (cryptoRand) Read(p []byte) (int, error) { return rand.Read(p) }
