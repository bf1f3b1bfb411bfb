package wasmhost

import (
	"context"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// CallStack describes the deepest Wasm call stacks seen since the last
// ResetCallStack: by number of frames, and by estimated bytes of an
// interpreter's operand stack (see FrameCost).
type CallStack struct {
	// MaxDepth is the largest number of nested guest function frames.
	MaxDepth int
	// MaxBytes is the largest sum of FrameCost over the nested frames.
	MaxBytes int
	// DeepestFrames names the functions on the stack at MaxBytes,
	// outermost first.
	DeepestFrames []string
}

type depthState struct {
	enabled      bool
	frames       []frame
	curBytes     int
	maxDepth     int
	maxBytes     int
	deepestNames []string
}

type frame struct {
	name  string
	bytes int
}

func (d *depthState) beginCall() {
	d.frames = d.frames[:0]
	d.curBytes = 0
}

func (d *depthState) endCall() {}

// ResetCallStack forgets the recorded maxima.
func (vm *VM) ResetCallStack() {
	vm.depth.maxDepth, vm.depth.maxBytes, vm.depth.deepestNames = 0, 0, nil
}

// CallStack reports the maxima since the last reset. It is empty unless the
// runtime was built with MeasureCallDepth.
func (vm *VM) CallStack() CallStack {
	return CallStack{
		MaxDepth:      vm.depth.maxDepth,
		MaxBytes:      vm.depth.maxBytes,
		DeepestFrames: append([]string(nil), vm.depth.deepestNames...),
	}
}

// depthListenerFactory gives every guest function a listener that knows the
// function's estimated frame cost.
type depthListenerFactory struct {
	costs FrameCosts
}

func (f *depthListenerFactory) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	name := def.DebugName()
	cost := f.costs.bytes(def.Index())
	return &depthListener{name: name, cost: cost, onReturn: popDepthFrame}
}

type depthListener struct {
	name string
	cost int
	onReturn
}

// onReturn gives a function listener After and Abort: both run the function with the VM of the
// call, since a frame leaves the stack either way.
type onReturn func(vm *VM)

func (f onReturn) After(ctx context.Context, _ api.Module, _ api.FunctionDefinition, _ []uint64) {
	f.run(ctx)
}

func (f onReturn) Abort(ctx context.Context, _ api.Module, _ api.FunctionDefinition, _ error) {
	f.run(ctx)
}

func (f onReturn) run(ctx context.Context) {
	if vm := vmFrom(ctx); vm != nil {
		f(vm)
	}
}

func (l *depthListener) Before(ctx context.Context, _ api.Module, _ api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
	vm := vmFrom(ctx)
	if vm == nil {
		return
	}
	d := &vm.depth
	d.frames = append(d.frames, frame{name: l.name, bytes: l.cost})
	d.curBytes += l.cost
	if len(d.frames) > d.maxDepth {
		d.maxDepth = len(d.frames)
	}
	if d.curBytes > d.maxBytes {
		d.maxBytes = d.curBytes
		d.deepestNames = d.deepestNames[:0]
		for _, f := range d.frames {
			d.deepestNames = append(d.deepestNames, f.name)
		}
	}
}

func popDepthFrame(vm *VM) {
	d := &vm.depth
	if n := len(d.frames); n > 0 {
		d.curBytes -= d.frames[n-1].bytes
		d.frames = d.frames[:n-1]
	}
}
