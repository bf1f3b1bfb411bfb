package ruleset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unsafe"

	"github.com/meshaccel/meshaccel/wasm-waf/regexprog"
	"github.com/meshaccel/meshaccel/wasm-waf/transform"
)

// The artifact is: magic, format version (uvarint), zero bytes up to a multiple of 8, checksum
// of the body (8 bytes little endian, see checksum), body. The body is a flat sequence of varints and length-prefixed strings in the field
// order of the types in model.go. Decoding is one forward pass with no recursion; every string
// in the decoded ruleset shares one copy of the artifact.
const magic = "MAWAFRS\x00"

// ErrFormat is wrapped by every Load error.
var ErrFormat = errors.New("ruleset: invalid artifact")

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}
func (e *encoder) str(s string) { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) strs(ss []string) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}
func (e *encoder) i32s(v []int32) {
	e.uint(uint64(len(v)))
	for _, x := range v {
		e.int(int64(x))
	}
}

// blob32 writes a 32-bit array as its count and little-endian bytes, so that Load copies it in
// one move instead of decoding a varint per element (automata and regex programs hold most of
// the artifact).
func blob32[T ~int32 | ~uint32](e *encoder, v []T) {
	e.uint(uint64(len(v)))
	// Zero bytes up to a 4-byte boundary of the body: Load then uses the array in place.
	for len(e.b)%4 != 0 {
		e.b = append(e.b, 0)
	}
	for _, x := range v {
		e.b = binary.LittleEndian.AppendUint32(e.b, uint32(x))
	}
}

func (e *encoder) i32blob(v []int32) { blob32(e, v) }

func (e *encoder) prog(p *regexprog.Prog) {
	ops := make([]byte, len(p.Op))
	for i, op := range p.Op {
		ops[i] = byte(op)
	}
	e.str(string(ops))
	blob32(e, p.Out)
	blob32(e, p.Arg)
	blob32(e, p.RangeStart)
	blob32(e, p.Ranges)
	e.uint(uint64(p.Start))
	e.uint(uint64(p.NumCap))
}

// alignedCopy copies an artifact body into 8-byte words (zero-padded): the decoded ruleset's
// strings and arrays are views into this one allocation, which holds no pointers, so the garbage
// collector never scans it.
func alignedCopy(body []byte) []byte {
	if len(body) == 0 {
		return nil
	}
	words := make([]uint64, (len(body)+7)/8)
	out := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(body))
	copy(out, body)
	return out
}

// aligned8 reports whether b starts on an 8-byte boundary.
func aligned8(b []byte) bool {
	return len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%8 == 0
}

// checksum guards the artifact against accidental corruption (the image digest covers
// authenticity): FNV-1a over the body's little-endian 64-bit words (the last one zero-padded)
// and its length, eight times fewer steps than a byte-wise CRC, which matters in a Wasm
// interpreter. body must start on an 8-byte boundary.
func checksum(body []byte) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	full := len(body) / 8
	if full > 0 {
		words := unsafe.Slice((*uint64)(unsafe.Pointer(&body[0])), full)
		for _, w := range words {
			if !littleEndian {
				w = bits.ReverseBytes64(w)
			}
			h = (h ^ w) * prime
		}
	}
	if tail := body[8*full:]; len(tail) > 0 {
		var last [8]byte
		copy(last[:], tail)
		h = (h ^ binary.LittleEndian.Uint64(last[:])) * prime
	}
	return (h ^ uint64(len(body))) * prime
}

func (e *encoder) macro(m Macro) {
	e.uint(uint64(len(m.Parts)))
	for _, p := range m.Parts {
		e.str(p.Lit)
		e.uint(uint64(p.Var))
		e.str(p.Key)
		e.int(int64(p.TXSlot))
	}
}

func (e *encoder) exclusion(x Exclusion) {
	e.uint(uint64(x.Var))
	e.str(x.Key)
	e.int(int64(x.KeyRegex))
}

// MarshalBinary encodes the ruleset as a versioned artifact.
func (rs *Ruleset) MarshalBinary() ([]byte, error) {
	e := &encoder{}
	e.uint(uint64(rs.Engine))
	e.bool(rs.RequestBodyAccess)
	e.int(int64(rs.RequestBodyLimit))
	e.int(int64(rs.RequestBodyNoFilesLimit))
	e.bool(rs.RequestBodyLimitReject)
	e.int(int64(rs.ArgumentsLimit))
	e.int(int64(rs.JSONDepthLimit))
	e.int(int64(rs.Skipped))
	e.int(int64(rs.Unreachable))
	e.strs(rs.TXKeys)
	e.uint(uint64(len(rs.TransformNodes)))
	for _, n := range rs.TransformNodes {
		e.int(int64(n.Parent))
		e.uint(uint64(n.T))
	}
	e.uint(uint64(len(rs.Regexes)))
	for _, r := range rs.Regexes {
		e.str(r.Pattern)
		e.bool(r.Binary)
		e.prog(r.Prog)
		e.strs(r.Prefilter)
		e.int(int64(r.PrefilterMatcher))
		e.uint(uint64(len(r.Bytes)))
		for _, b := range r.Bytes {
			for _, w := range b {
				e.uint(w)
			}
		}
		e.str(string(r.Classes))
		e.int(int64(r.MinLen))
	}
	e.uint(uint64(len(rs.Matchers)))
	for _, m := range rs.Matchers {
		e.strs(m.Patterns)
		e.i32blob(m.Root[:])
		e.i32blob(m.EdgeStart)
		e.str(string(m.EdgeBytes))
		e.i32blob(m.EdgeNext)
		e.i32blob(m.Fail)
		e.i32blob(m.Hit)
	}
	e.uint(uint64(len(rs.Markers)))
	for _, m := range rs.Markers {
		e.str(m.Name)
		for _, p := range m.Pos {
			e.int(int64(p))
		}
	}
	for _, p := range rs.Phases {
		e.i32s(p)
	}
	e.uint(uint64(len(rs.Rules)))
	for i := range rs.Rules {
		r := &rs.Rules[i]
		e.int(int64(r.ID))
		e.uint(uint64(r.Phase))
		e.int(int64(r.ChainNext))
		e.uint(uint64(len(r.Targets)))
		for _, t := range r.Targets {
			e.uint(uint64(t.Var))
			e.str(t.Key)
			e.int(int64(t.KeyRegex))
			e.bool(t.Count)
			e.int(int64(t.TXSlot))
		}
		e.uint(uint64(len(r.Exclusions)))
		for _, x := range r.Exclusions {
			e.exclusion(x)
		}
		o := &r.Op
		e.uint(uint64(o.Kind))
		e.bool(o.Negate)
		e.macro(o.Arg)
		e.int(int64(o.Regex))
		e.int(int64(o.Matcher))
		for _, w := range o.Bytes {
			e.uint(w)
		}
		e.strs(o.Prefixes)
		e.int(int64(r.Transform))
		e.uint(uint64(r.Disruptive))
		e.int(int64(r.Status))
		e.str(r.RedirectTo)
		e.bool(r.Log)
		e.bool(r.Capture)
		e.bool(r.MultiMatch)
		e.uint(uint64(len(r.SetVars)))
		for _, s := range r.SetVars {
			e.macro(s.Key)
			e.int(int64(s.Slot))
			e.uint(uint64(s.Op))
			e.macro(s.Value)
		}
		e.uint(uint64(len(r.Ctls)))
		for _, c := range r.Ctls {
			e.uint(uint64(c.Kind))
			e.i32s(c.IDRanges)
			e.str(c.Str)
			e.exclusion(c.Target)
			e.int(c.Num)
		}
		e.int(int64(r.SkipAfter))
		e.int(int64(r.Skip))
		e.macro(r.Msg)
		e.macro(r.LogData)
		e.int(int64(r.Severity))
		e.strs(r.Tags)
		e.str(r.File)
		e.int(int64(r.Line))
	}
	body := e.b
	out := make([]byte, 0, len(body)+len(magic)+16)
	out = append(out, magic...)
	out = binary.AppendUvarint(out, FormatVersion)
	// Zero bytes up to an 8-byte boundary, so that an aligned artifact has an aligned body.
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	out = binary.LittleEndian.AppendUint64(out, checksum(alignedCopy(body)))
	return append(out, body...), nil
}

type decoder struct {
	s   string // the body, shared by every decoded string
	off int
	err error
	// Slabs of the short slices a ruleset has thousands of.
	strSlab       slab[string]
	i32Slab       slab[int32]
	partSlab      slab[MacroPart]
	targetSlab    slab[Target]
	exclusionSlab slab[Exclusion]
	setVarSlab    slab[SetVar]
	ctlSlab       slab[Ctl]
}

// slab hands out slices of shared backing arrays: a rule's targets, a macro's parts, a rule's
// tags are a few elements each, and an allocation apiece costs an interpreting VM more than
// decoding them (the CRS has about four thousand). Each slice's capacity is its length, so an
// append never writes into its neighbour.
type slab[T any] struct{ free []T }

const slabLen = 256

func (s *slab[T]) take(n int) []T {
	if n > len(s.free) {
		if n > slabLen/4 {
			return make([]T, n)
		}
		s.free = make([]T, slabLen)
	}
	out := s.free[:n:n]
	s.free = s.free[n:]
	return out
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or corrupt %s at byte %d", ErrFormat, what, d.off)
	}
	d.s = "" // every later read fails: the fast paths need not look at err
}

// The plugin decodes the CRS interpreted, where every call costs: most varints are one byte
// (counts, enums, small indexes, short strings' lengths), and uint, int, count and str read
// those without a further call. After a failure d.s is empty, so they need not look at err.

// byteAt returns the byte at off, or 0x80 (not a one-byte varint) past the end.
func (d *decoder) byteAt(off int) byte {
	if off < len(d.s) {
		return d.s[off]
	}
	return 0x80
}

// oneByte reads a one-byte varint; ok is false, and nothing is read, when the next byte does not
// hold one.
func (d *decoder) oneByte() (v uint64, ok bool) {
	if c := d.byteAt(d.off); c < 0x80 {
		d.off++
		return uint64(c), true
	}
	return 0, false
}

func (d *decoder) uint() uint64 {
	if v, ok := d.oneByte(); ok {
		return v
	}
	return d.varint()
}

// varint reads a varint of any length.
func (d *decoder) varint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if d.off >= len(d.s) {
			d.fail("varint")
			return 0
		}
		c := d.s[d.off]
		d.off++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
		shift += 7
	}
	d.fail("varint")
	return 0
}

func (d *decoder) int() int64 {
	u, ok := d.oneByte()
	if !ok {
		u = d.varint()
	}
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) i32() int32 { return int32(d.int()) }

func (d *decoder) bool() bool { return d.uint() != 0 }

func (d *decoder) count(limit int) int {
	n, ok := d.oneByte()
	if !ok {
		n = d.varint()
	}
	if n > uint64(limit) || n > uint64(len(d.s)) {
		d.fail("count")
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	if n := int(d.byteAt(d.off)); n < 0x80 && d.off+1+n <= len(d.s) {
		s := d.s[d.off+1 : d.off+1+n]
		d.off += 1 + n
		return s
	}
	n := d.count(len(d.s))
	if d.err != nil || d.off+n > len(d.s) {
		d.fail("string")
		return ""
	}
	s := d.s[d.off : d.off+n]
	d.off += n
	return s
}

// decodeList reads a count and that many elements; an empty list decodes as nil.
func decodeList[T any](d *decoder, from *slab[T], element func() T) []T {
	n := d.count(len(d.s))
	if n == 0 {
		return nil
	}
	out := from.take(n)
	for i := range out {
		out[i] = element()
	}
	return out
}

// strs is decodeList's loop without its element function: a ruleset has tens of thousands of
// strings (the CRS's tags), and a call through a method value costs an interpreter two.
func (d *decoder) strs() []string {
	n := d.count(len(d.s))
	if n == 0 {
		return nil
	}
	out := d.strSlab.take(n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *decoder) i32s() []int32 { return decodeList(d, &d.i32Slab, d.i32) }

// littleEndian reports whether int32 memory has the artifact's byte order (wasm, amd64, arm64).
var littleEndian = func() bool {
	x := int32(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// decodeBlob32 returns a 32-bit array written by blob32: on little-endian machines a view into
// the aligned body (the engine never writes to these arrays), elsewhere a converted copy.
func decodeBlob32[T ~int32 | ~uint32](d *decoder) []T {
	n := d.count(len(d.s) / 4)
	for d.err == nil && d.off%4 != 0 {
		if d.off >= len(d.s) || d.s[d.off] != 0 {
			d.fail("32-bit array padding")
		}
		d.off++
	}
	if d.err != nil || d.off+4*n > len(d.s) {
		d.fail("32-bit array")
		return nil
	}
	if n == 0 {
		return nil
	}
	src := d.s[d.off : d.off+4*n]
	var out []T
	if littleEndian {
		out = unsafe.Slice((*T)(unsafe.Pointer(unsafe.StringData(src))), n)
	} else {
		out = make([]T, n)
		for i := range out {
			out[i] = T(binary.LittleEndian.Uint32([]byte(src[4*i : 4*i+4])))
		}
	}
	d.off += 4 * n
	return out
}

func (d *decoder) i32blob() []int32 { return decodeBlob32[int32](d) }

func (d *decoder) prog(binary bool) *regexprog.Prog {
	ops := d.str()
	p := &regexprog.Prog{Op: make([]regexprog.Op, len(ops)), Binary: binary}
	if len(ops) > 0 {
		// One copy, not a loop over bytes: Op is a byte.
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&p.Op[0])), len(ops)), ops)
	}
	p.Out = decodeBlob32[uint32](d)
	p.Arg = decodeBlob32[uint32](d)
	p.RangeStart = decodeBlob32[uint32](d)
	p.Ranges = decodeBlob32[int32](d)
	p.Start = uint32(d.uint())
	p.NumCap = int(d.count(1 << 16))
	return p
}

func (d *decoder) macro() Macro {
	n := d.count(len(d.s))
	if n == 0 {
		return Macro{}
	}
	m := Macro{Parts: d.partSlab.take(n)}
	for i := range m.Parts {
		p := &m.Parts[i]
		p.Lit = d.str()
		p.Var = Var(d.uint())
		p.Key = d.str()
		p.TXSlot = d.i32()
	}
	return m
}

func (d *decoder) exclusion() Exclusion {
	return Exclusion{Var: Var(d.uint()), Key: d.str(), KeyRegex: d.i32()}
}

// Load decodes an artifact written by MarshalBinary and checks it: checksum, structure and every
// internal reference. The ruleset does not refer to data.
func Load(data []byte) (*Ruleset, error) { return LoadWith(data, LoadOptions{}) }

// LoadOptions tune LoadWith for a Wasm VM, where every pass over the artifact and every copy of
// it shows in the configure time.
type LoadOptions struct {
	// InPlace hands data over to the ruleset: when data starts on an 8-byte boundary, the
	// ruleset's strings and arrays are views into it instead of into a copy, so the caller must
	// never modify it afterwards.
	InPlace bool
	// Trusted is for an artifact that a build-time test already loaded with every check and
	// whose integrity is established: the default ruleset embedded in plugin.wasm, covered by
	// the digest of the image that Envoy verifies. Load then skips the checksum and the
	// per-element checks of automata and regex programs (together a third of an interpreted
	// load); the ruleset's cross-references are still checked.
	Trusted bool
}

// LoadWith is Load with options.
func LoadWith(data []byte, opts LoadOptions) (*Ruleset, error) {
	if len(data) < len(magic) || string(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: not a ruleset artifact", ErrFormat)
	}
	ver, n := binary.Uvarint(data[len(magic):])
	if n <= 0 {
		return nil, fmt.Errorf("%w: bad version", ErrFormat)
	}
	if ver != FormatVersion {
		return nil, fmt.Errorf("%w: format version %d, this engine reads %d", ErrFormat, ver, FormatVersion)
	}
	off := len(magic) + n
	for ; off%8 != 0; off++ {
		if off >= len(data) || data[off] != 0 {
			return nil, fmt.Errorf("%w: bad header padding", ErrFormat)
		}
	}
	if len(data) < off+8 {
		return nil, fmt.Errorf("%w: truncated header", ErrFormat)
	}
	sum := binary.LittleEndian.Uint64(data[off:])
	body := data[off+8:]
	if !opts.InPlace || !aligned8(body) {
		body = alignedCopy(body)
	}
	if !opts.Trusted && checksum(body) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrFormat)
	}
	d := &decoder{}
	if len(body) > 0 {
		d.s = unsafe.String(&body[0], len(body))
	}
	rs := &Ruleset{}
	rs.Engine = EngineMode(d.uint())
	rs.RequestBodyAccess = d.bool()
	rs.RequestBodyLimit = int(d.int())
	rs.RequestBodyNoFilesLimit = int(d.int())
	rs.RequestBodyLimitReject = d.bool()
	rs.ArgumentsLimit = int(d.int())
	rs.JSONDepthLimit = int(d.int())
	rs.Skipped = int(d.int())
	rs.Unreachable = int(d.int())
	rs.TXKeys = d.strs()
	rs.TransformNodes = make([]TransformNode, d.count(len(d.s)))
	for i := range rs.TransformNodes {
		rs.TransformNodes[i] = TransformNode{Parent: d.i32(), T: transform.ID(d.uint())}
	}
	rs.Regexes = make([]Regex, d.count(len(d.s)))
	for i := range rs.Regexes {
		r := &rs.Regexes[i]
		r.Pattern = d.str()
		r.Binary = d.bool()
		r.Prog = d.prog(r.Binary)
		r.Prefilter = d.strs()
		r.PrefilterMatcher = d.i32()
		if n := d.count(8); n > 0 {
			r.Bytes = make([]ByteSet, n)
			for k := range r.Bytes {
				for w := range r.Bytes[k] {
					r.Bytes[k][w] = d.uint()
				}
			}
		}
		if c := d.str(); c != "" {
			r.Classes = []byte(c)
		}
		r.MinLen = d.i32()
	}
	rs.Matchers = make([]*Matcher, d.count(len(d.s)))
	for i := range rs.Matchers {
		m := &Matcher{}
		m.Patterns = d.strs()
		if root := d.i32blob(); len(root) == len(m.Root) {
			copy(m.Root[:], root)
		} else {
			d.fail("matcher root")
		}
		m.EdgeStart = d.i32blob()
		if eb := d.str(); eb != "" {
			m.EdgeBytes = unsafe.Slice(unsafe.StringData(eb), len(eb)) // read only, like the arrays
		}
		m.EdgeNext = d.i32blob()
		m.Fail = d.i32blob()
		m.Hit = d.i32blob()
		rs.Matchers[i] = m
	}
	rs.Markers = make([]Marker, d.count(len(d.s)))
	for i := range rs.Markers {
		rs.Markers[i].Name = d.str()
		for p := range rs.Markers[i].Pos {
			rs.Markers[i].Pos[p] = d.i32()
		}
	}
	for p := range rs.Phases {
		rs.Phases[p] = d.i32s()
	}
	rs.Rules = make([]Rule, d.count(len(d.s)))
	for i := range rs.Rules {
		r := &rs.Rules[i]
		r.ID = d.i32()
		r.Phase = uint8(d.uint())
		r.ChainNext = d.i32()
		if n := d.count(len(d.s)); n > 0 {
			r.Targets = d.targetSlab.take(n)
			for k := range r.Targets {
				t := &r.Targets[k]
				t.Var = Var(d.uint())
				t.Key = d.str()
				t.KeyRegex = d.i32()
				t.Count = d.bool()
				t.TXSlot = d.i32()
			}
		}
		if n := d.count(len(d.s)); n > 0 {
			r.Exclusions = d.exclusionSlab.take(n)
			for k := range r.Exclusions {
				r.Exclusions[k] = d.exclusion()
			}
		}
		o := &r.Op
		o.Kind = OpKind(d.uint())
		o.Negate = d.bool()
		o.Arg = d.macro()
		o.Regex = d.i32()
		o.Matcher = d.i32()
		for w := range o.Bytes {
			o.Bytes[w] = d.uint()
		}
		o.Prefixes = d.strs()
		r.Transform = d.i32()
		r.Disruptive = Disruptive(d.uint())
		r.Status = d.i32()
		r.RedirectTo = d.str()
		r.Log = d.bool()
		r.Capture = d.bool()
		r.MultiMatch = d.bool()
		if n := d.count(len(d.s)); n > 0 {
			r.SetVars = d.setVarSlab.take(n)
			for k := range r.SetVars {
				s := &r.SetVars[k]
				s.Key = d.macro()
				s.Slot = d.i32()
				s.Op = SetVarOp(d.uint())
				s.Value = d.macro()
			}
		}
		if n := d.count(len(d.s)); n > 0 {
			r.Ctls = d.ctlSlab.take(n)
			for k := range r.Ctls {
				c := &r.Ctls[k]
				c.Kind = CtlKind(d.uint())
				c.IDRanges = d.i32s()
				c.Str = d.str()
				c.Target = d.exclusion()
				c.Num = d.int()
			}
		}
		r.SkipAfter = d.i32()
		r.Skip = d.i32()
		r.Msg = d.macro()
		r.LogData = d.macro()
		r.Severity = int8(d.int())
		r.Tags = d.strs()
		r.File = d.str()
		r.Line = d.i32()
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.off != len(d.s) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrFormat, len(d.s)-d.off)
	}
	if err := rs.validate(!opts.Trusted); err != nil {
		return nil, err
	}
	return rs, nil
}

// validate checks every index in the ruleset, so that a corrupt artifact fails at Load rather
// than panicking in the engine.
func (rs *Ruleset) validate(elements bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
	inRange := func(i int32, n int, allowNeg bool) bool {
		return (allowNeg && i == -1) || (i >= 0 && int(i) < n)
	}
	for i, n := range rs.TransformNodes {
		if i == 0 {
			continue
		}
		if n.Parent < 0 || int(n.Parent) >= i || n.T >= transform.ID(255) {
			return bad("transform node %d", i)
		}
	}
	for _, m := range rs.Matchers {
		if !elements {
			break
		}
		if err := m.validate(); err != nil {
			return bad("%v", err)
		}
	}
	for i := range rs.Regexes {
		r := &rs.Regexes[i]
		if !inRange(r.PrefilterMatcher, len(rs.Matchers), true) || len(r.Classes) != 128 {
			return bad("regex %d prefilter", i)
		}
		if r.Prog == nil {
			return bad("regex %d has no program", i)
		}
		if !elements {
			continue
		}
		if err := r.Prog.CheckBounds(); err != nil {
			return bad("regex %d (%q): %v", i, r.Pattern, err)
		}
	}
	checkMacro := func(mc Macro) bool {
		for _, p := range mc.Parts {
			if p.Var >= numVars || !inRange(p.TXSlot, len(rs.TXKeys), true) {
				return false
			}
		}
		return true
	}
	for i := range rs.Rules {
		r := &rs.Rules[i]
		if r.ChainNext != -1 && (r.ChainNext <= int32(i) || int(r.ChainNext) >= len(rs.Rules)) {
			return bad("rule %d chain", r.ID)
		}
		for _, t := range r.Targets {
			if t.Var >= numVars || !inRange(t.KeyRegex, len(rs.Regexes), true) || !inRange(t.TXSlot, len(rs.TXKeys), true) {
				return bad("rule %d target", r.ID)
			}
		}
		for _, x := range r.Exclusions {
			if x.Var >= numVars || !inRange(x.KeyRegex, len(rs.Regexes), true) {
				return bad("rule %d exclusion", r.ID)
			}
		}
		if (r.Op.Kind == OpRx && !inRange(r.Op.Regex, len(rs.Regexes), false)) ||
			(r.Op.Kind == OpPm && !inRange(r.Op.Matcher, len(rs.Matchers), false)) || !checkMacro(r.Op.Arg) {
			return bad("rule %d operator", r.ID)
		}
		if !inRange(r.Transform, len(rs.TransformNodes), false) || !inRange(r.SkipAfter, len(rs.Markers), true) {
			return bad("rule %d references", r.ID)
		}
		for _, s := range r.SetVars {
			if !checkMacro(s.Key) || !checkMacro(s.Value) || !inRange(s.Slot, len(rs.TXKeys), true) {
				return bad("rule %d setvar", r.ID)
			}
		}
		for _, c := range r.Ctls {
			if c.Target.Var >= numVars || !inRange(c.Target.KeyRegex, len(rs.Regexes), true) || len(c.IDRanges)%2 != 0 {
				return bad("rule %d ctl", r.ID)
			}
		}
		if !checkMacro(r.Msg) || !checkMacro(r.LogData) {
			return bad("rule %d message", r.ID)
		}
	}
	for p, list := range rs.Phases {
		for _, ri := range list {
			if !inRange(ri, len(rs.Rules), false) || int(rs.Rules[ri].Phase) != p {
				return bad("phase %d list", p)
			}
		}
	}
	for _, m := range rs.Markers {
		for p := range m.Pos {
			if m.Pos[p] < 0 || int(m.Pos[p]) > len(rs.Phases[p]) {
				return bad("marker %q", m.Name)
			}
		}
	}
	return nil
}
