package wasmhost

import (
	"context"
	"sort"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// FunctionProfile is what the guest profiler recorded for one function.
type FunctionProfile struct {
	Name  string
	Calls int64
	// Self is the time spent in the function itself, without its callees
	// (host functions it calls count as its own time). The listener adds a
	// constant overhead to every call, so compare functions, not totals.
	Self time.Duration
	// Total adds the callees' time (a recursive function counts its nested calls again).
	Total time.Duration
}

type profileState struct {
	stack []profileFrame
	funcs map[string]*FunctionProfile
}

type profileFrame struct {
	fn       *FunctionProfile
	start    time.Time
	children time.Duration
}

// Profile returns the functions seen since the last ResetProfile, most self
// time first. It is empty unless the runtime was built with Profile.
func (vm *VM) Profile() []FunctionProfile {
	out := make([]FunctionProfile, 0, len(vm.profile.funcs))
	for _, f := range vm.profile.funcs {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Self != out[j].Self {
			return out[i].Self > out[j].Self
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// ResetProfile forgets what the profiler recorded.
func (vm *VM) ResetProfile() { vm.profile.funcs = nil }

type profileListenerFactory struct{}

func (profileListenerFactory) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	return &profileListener{name: def.DebugName(), onReturn: popProfileFrame}
}

type profileListener struct {
	name string
	onReturn
}

func (l *profileListener) Before(ctx context.Context, _ api.Module, _ api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
	vm := vmFrom(ctx)
	if vm == nil {
		return
	}
	p := &vm.profile
	if p.funcs == nil {
		p.funcs = map[string]*FunctionProfile{}
	}
	fn := p.funcs[l.name]
	if fn == nil {
		fn = &FunctionProfile{Name: l.name}
		p.funcs[l.name] = fn
	}
	fn.Calls++
	p.stack = append(p.stack, profileFrame{fn: fn, start: time.Now()})
}

func popProfileFrame(vm *VM) {
	p := &vm.profile
	n := len(p.stack)
	if n == 0 {
		return
	}
	f := p.stack[n-1]
	p.stack = p.stack[:n-1]
	total := time.Since(f.start)
	f.fn.Self += total - f.children
	f.fn.Total += total
	if n > 1 {
		p.stack[n-2].children += total
	}
}
