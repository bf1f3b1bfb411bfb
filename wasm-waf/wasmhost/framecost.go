package wasmhost

import (
	"errors"
	"fmt"
	"math"
)

// An interpreter such as WAMR's fast interpreter (Envoy's
// envoy.wasm.runtime.wamr) keeps every active Wasm frame on one fixed-size
// operand stack per VM (32 KiB in Envoy). A frame holds a header, the
// parameters and locals, the function's constants and its operand stack
// slots, in 4-byte cells. FrameCost estimates that size per function from
// the module's code, erring high:
//
//	bytes = FrameHeaderBytes + 4 × (param cells + local cells + constant cells) + 8 × max operand slots
//
// Parameters, locals and distinct constants count 1 cell for i32/f32 and 2
// for i64/f64 (as WAMR counts them); every operand stack slot counts 2 cells
// whatever its type.
const FrameHeaderBytes = 64

// FrameCosts holds the estimated frame bytes of every function in a
// module's function index space (imports first; host functions cost 0).
type FrameCosts struct {
	costs []int
}

func (c FrameCosts) bytes(index uint32) int {
	if int(index) < len(c.costs) {
		return c.costs[index]
	}
	return 0
}

// Of returns the estimated frame bytes of the function at index.
func (c FrameCosts) Of(index uint32) int { return c.bytes(index) }

// Len is the number of functions (imports included).
func (c FrameCosts) Len() int { return len(c.costs) }

// ComputeFrameCosts analyzes the code section of a module.
func ComputeFrameCosts(wasm []byte) (FrameCosts, error) {
	m, err := parseModule(wasm)
	if err != nil {
		return FrameCosts{}, err
	}
	costs := make([]int, m.numImportedFuncs+len(m.bodies))
	for i, body := range m.bodies {
		ti := m.funcTypes[i]
		if int(ti) >= len(m.types) {
			return FrameCosts{}, fmt.Errorf("function %d: type index %d out of range", i, ti)
		}
		params := cells(m.types[ti].params)
		a, err := analyzeBody(m, body)
		if err != nil {
			return FrameCosts{}, fmt.Errorf("function %d: %w", m.numImportedFuncs+i, err)
		}
		costs[m.numImportedFuncs+i] = FrameHeaderBytes + 4*(params+a.localCells+a.constCells) + 8*a.maxSlots
	}
	return FrameCosts{costs: costs}, nil
}

type funcType struct{ params, results []byte }

type module struct {
	types            []funcType
	numImportedFuncs int
	importTypes      []uint32 // type index per imported function
	funcTypes        []uint32 // type index per defined function
	bodies           [][]byte
}

func (m *module) funcType(index uint32) (funcType, bool) {
	var ti uint32
	switch {
	case int(index) < m.numImportedFuncs:
		ti = m.importTypes[index]
	case int(index)-m.numImportedFuncs < len(m.funcTypes):
		ti = m.funcTypes[int(index)-m.numImportedFuncs]
	default:
		return funcType{}, false
	}
	if int(ti) >= len(m.types) {
		return funcType{}, false
	}
	return m.types[ti], true
}

func cells(types []byte) int {
	n := 0
	for _, t := range types {
		n += valCells(t)
	}
	return n
}

func valCells(t byte) int {
	switch t {
	case 0x7F, 0x7D: // i32, f32
		return 1
	case 0x7B: // v128
		return 4
	default: // i64, f64, references
		return 2
	}
}

type reader struct {
	b   []byte
	off int
	err error
}

var errTruncated = errors.New("truncated module")

func (r *reader) byte() byte {
	if r.err != nil || r.off >= len(r.b) {
		r.err = errTruncated
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || r.off+n > len(r.b) {
		r.err = errTruncated
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) u32() uint32 {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint64(c&0x7F) << shift
		if c&0x80 == 0 {
			if v > math.MaxUint32 {
				r.err = errors.New("LEB128 u32 overflow")
			}
			return uint32(v)
		}
	}
	r.err = errors.New("LEB128 u32 too long")
	return 0
}

// sleb reads a signed LEB128 of up to maxBits and returns its raw value.
func (r *reader) sleb(maxBits int) int64 {
	var v int64
	shift := 0
	for {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= int64(c&0x7F) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
		if shift >= maxBits+7 {
			r.err = errors.New("LEB128 too long")
			return 0
		}
	}
}

func (r *reader) name() string { return string(r.bytes(int(r.u32()))) }

func (r *reader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

func parseModule(wasm []byte) (*module, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, errors.New("not a Wasm module")
	}
	r := &reader{b: wasm, off: 8}
	m := &module{}
	for r.off < len(r.b) && r.err == nil {
		id := r.byte()
		size := int(r.u32())
		sec := &reader{b: r.bytes(size)}
		if r.err != nil {
			break
		}
		switch id {
		case 1: // type
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				if sec.byte() != 0x60 {
					return nil, errors.New("type section: not a function type")
				}
				params := sec.bytes(int(sec.u32()))
				results := sec.bytes(int(sec.u32()))
				m.types = append(m.types, funcType{params: params, results: results})
			}
		case 2: // import
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				sec.name()
				sec.name()
				switch kind := sec.byte(); kind {
				case 0:
					m.importTypes = append(m.importTypes, sec.u32())
					m.numImportedFuncs++
				case 1:
					sec.byte()
					sec.limits()
				case 2:
					sec.limits()
				case 3:
					sec.byte()
					sec.byte()
				default:
					return nil, fmt.Errorf("import section: kind %d", kind)
				}
			}
		case 3: // function
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				m.funcTypes = append(m.funcTypes, sec.u32())
			}
		case 10: // code
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				m.bodies = append(m.bodies, sec.bytes(int(sec.u32())))
			}
		}
		if sec.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, sec.err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(m.bodies) != len(m.funcTypes) {
		return nil, fmt.Errorf("%d function bodies for %d functions", len(m.bodies), len(m.funcTypes))
	}
	return m, nil
}

type bodyAnalysis struct {
	localCells int
	constCells int
	maxSlots   int
}

type control struct {
	start            int
	params, results  int
	unreachableAfter bool
}

// analyzeBody computes a function's locals, distinct constants and maximum
// operand stack height (in slots) with the validation algorithm's stack
// discipline.
func analyzeBody(m *module, body []byte) (bodyAnalysis, error) {
	r := &reader{b: body}
	var a bodyAnalysis
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		count := r.u32()
		a.localCells += int(count) * valCells(r.byte())
	}
	consts := map[[2]uint64]struct{}{}
	addConst := func(kind uint64, v uint64, c int) {
		k := [2]uint64{kind, v}
		if _, ok := consts[k]; !ok {
			consts[k] = struct{}{}
			a.constCells += c
		}
	}
	h := 0
	ctl := []control{{start: 0}}
	push := func(n int) {
		h += n
		if h > a.maxSlots {
			a.maxSlots = h
		}
	}
	pop := func(n int) {
		h -= n
		if top := ctl[len(ctl)-1].start; h < top {
			h = top // unreachable code: the stack is polymorphic
		}
	}
	unreachable := func() { h = ctl[len(ctl)-1].start }
	blockType := func() (params, results int) {
		b := r.b[min(r.off, len(r.b)-1)]
		switch {
		case b == 0x40:
			r.byte()
			return 0, 0
		case b >= 0x6F && b <= 0x7F:
			r.byte()
			return 0, 1
		default:
			ti := r.sleb(33)
			if ti < 0 || int(ti) >= len(m.types) {
				r.err = fmt.Errorf("block type index %d", ti)
				return 0, 0
			}
			return len(m.types[ti].params), len(m.types[ti].results)
		}
	}
	memarg := func() { r.u32(); r.u32() }

	for r.err == nil && len(ctl) > 0 {
		if r.off >= len(r.b) {
			return a, errors.New("body ends inside a block")
		}
		op := r.byte()
		switch {
		case op == 0x00: // unreachable
			unreachable()
		case op == 0x01: // nop
		case op == 0x02, op == 0x03: // block, loop
			p, res := blockType()
			pop(p)
			ctl = append(ctl, control{start: h, params: p, results: res})
			push(p)
		case op == 0x04: // if
			p, res := blockType()
			pop(1 + p)
			ctl = append(ctl, control{start: h, params: p, results: res})
			push(p)
		case op == 0x05: // else
			c := ctl[len(ctl)-1]
			h = c.start
			push(c.params)
		case op == 0x0B: // end
			c := ctl[len(ctl)-1]
			ctl = ctl[:len(ctl)-1]
			h = c.start
			push(c.results)
		case op == 0x0C: // br
			r.u32()
			unreachable()
		case op == 0x0D: // br_if
			r.u32()
			pop(1)
		case op == 0x0E: // br_table
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				r.u32()
			}
			r.u32()
			pop(1)
			unreachable()
		case op == 0x0F: // return
			unreachable()
		case op == 0x10: // call
			ft, ok := m.funcType(r.u32())
			if !ok {
				return a, errors.New("call to an unknown function")
			}
			pop(len(ft.params))
			push(len(ft.results))
		case op == 0x11: // call_indirect
			ti := r.u32()
			r.u32()
			if int(ti) >= len(m.types) {
				return a, errors.New("call_indirect with an unknown type")
			}
			pop(1 + len(m.types[ti].params))
			push(len(m.types[ti].results))
		case op == 0x1A: // drop
			pop(1)
		case op == 0x1B: // select
			pop(3)
			push(1)
		case op == 0x1C: // select t*
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				r.byte()
			}
			pop(3)
			push(1)
		case op == 0x20: // local.get
			r.u32()
			push(1)
		case op == 0x21: // local.set
			r.u32()
			pop(1)
		case op == 0x22: // local.tee
			r.u32()
		case op == 0x23: // global.get
			r.u32()
			push(1)
		case op == 0x24: // global.set
			r.u32()
			pop(1)
		case op >= 0x28 && op <= 0x35: // loads
			memarg()
			pop(1)
			push(1)
		case op >= 0x36 && op <= 0x3E: // stores
			memarg()
			pop(2)
		case op == 0x3F: // memory.size
			r.byte()
			push(1)
		case op == 0x40: // memory.grow
			r.byte()
			pop(1)
			push(1)
		case op == 0x41: // i32.const
			addConst(0x41, uint64(r.sleb(32)), 1)
			push(1)
		case op == 0x42: // i64.const
			addConst(0x42, uint64(r.sleb(64)), 2)
			push(1)
		case op == 0x43: // f32.const
			b := r.bytes(4)
			if r.err == nil {
				addConst(0x43, uint64(b[0])|uint64(b[1])<<8|uint64(b[2])<<16|uint64(b[3])<<24, 1)
			}
			push(1)
		case op == 0x44: // f64.const
			b := r.bytes(8)
			var v uint64
			for i := 7; i >= 0 && r.err == nil; i-- {
				v = v<<8 | uint64(b[i])
			}
			addConst(0x44, v, 2)
			push(1)
		case op == 0x45 || op == 0x50: // eqz
			pop(1)
			push(1)
		case op >= 0x46 && op <= 0x66 && op != 0x50: // comparisons
			pop(2)
			push(1)
		case op >= 0x67 && op <= 0x69, op >= 0x79 && op <= 0x7B,
			op >= 0x8B && op <= 0x91, op >= 0x99 && op <= 0x9F,
			op >= 0xA7 && op <= 0xC4: // unary arithmetic and conversions
			pop(1)
			push(1)
		case op >= 0x6A && op <= 0x78, op >= 0x7C && op <= 0x8A,
			op >= 0x92 && op <= 0x98, op >= 0xA0 && op <= 0xA6: // binary arithmetic
			pop(2)
			push(1)
		case op == 0xD0: // ref.null
			r.byte()
			push(1)
		case op == 0xD1: // ref.is_null
			pop(1)
			push(1)
		case op == 0xD2: // ref.func
			r.u32()
			push(1)
		case op == 0xFC:
			switch sub := r.u32(); {
			case sub <= 7: // saturating truncation
				pop(1)
				push(1)
			case sub == 8: // memory.init
				r.u32()
				r.byte()
				pop(3)
			case sub == 9: // data.drop
				r.u32()
			case sub == 10: // memory.copy
				r.byte()
				r.byte()
				pop(3)
			case sub == 11: // memory.fill
				r.byte()
				pop(3)
			default:
				return a, fmt.Errorf("unsupported opcode 0xFC %d", sub)
			}
		default:
			return a, fmt.Errorf("unsupported opcode 0x%02X at offset %d", op, r.off-1)
		}
	}
	return a, r.err
}
