// Package regexprog is a compiled regular expression as flat arrays: the host parses and compiles a
// pattern once (with Go's regexp/syntax, or rsc.io/binaryregexp/syntax for byte patterns) and the
// Wasm plugin only loads the arrays. Parsing and compiling a pattern recurses as deep as the
// pattern nests and allocates a pointer-rich tree; loading a Prog is a few copies, and its arrays
// hold no pointers, so the garbage collector never scans them.
//
// Every instruction that consumes a character is reduced to one kind, a list of inclusive rune
// ranges: case folding and the "any character" instructions are expanded when the program is
// built, so matching a rune never calls into package unicode.
package regexprog

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"sort"
	"unicode"
	"unicode/utf8"

	binsyntax "rsc.io/binaryregexp/syntax"
)

// Op is an instruction kind. The values are those of regexp/syntax.InstOp where both exist.
type Op uint8

const (
	OpAlt        = Op(syntax.InstAlt)        // continue at Out and at Arg (Out preferred)
	OpCapture    = Op(syntax.InstCapture)    // record the position in capture slot Arg
	OpEmptyWidth = Op(syntax.InstEmptyWidth) // assert the syntax.EmptyOp flags in Arg
	OpMatch      = Op(syntax.InstMatch)      // the pattern matched
	OpFail       = Op(syntax.InstFail)       // this thread dies
	OpNop        = Op(syntax.InstNop)        // continue at Out
	OpRune       = Op(syntax.InstRune)       // consume a rune within one of the instruction's ranges
)

// Prog is a compiled pattern.
type Prog struct {
	Op  []Op
	Out []uint32
	// Arg is the second branch of OpAlt, the slot of OpCapture, the syntax.EmptyOp of OpEmptyWidth.
	Arg []uint32
	// The ranges of instruction i are Ranges[RangeStart[i]:RangeStart[i+1]], as sorted,
	// non-overlapping inclusive pairs lo, hi.
	RangeStart []uint32
	Ranges     []int32
	Start      uint32
	// NumCap is the number of capture slots (two per group, group 0 being the whole match).
	NumCap int
	// Binary programs match bytes (runes 0-255), not UTF-8.
	Binary bool
}

// Compile parses and compiles pattern with Perl syntax, as regexp.Compile does, or as
// binaryregexp.Compile does when binary is set.
func Compile(pattern string, binary bool) (*Prog, error) {
	if binary {
		re, err := binsyntax.Parse(pattern, binsyntax.Perl)
		if err != nil {
			return nil, err
		}
		p, err := binsyntax.Compile(re.Simplify())
		if err != nil {
			return nil, err
		}
		return withGroups(fromBinarySyntax(p), re.MaxCap()), nil
	}
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	p, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, err
	}
	return withGroups(FromSyntax(p), re.MaxCap()), nil
}

// withGroups gives p a slot pair for each of the pattern's maxCap groups. Simplify drops groups
// that can never participate (as in (a){0}), leaving the compiled program fewer slots than
// package regexp reports (it pads with -1 up to the pattern's group count).
func withGroups(p *Prog, maxCap int) *Prog {
	p.NumCap = max(p.NumCap, 2*(maxCap+1))
	return p
}

// FromSyntax converts a program compiled by regexp/syntax.
func FromSyntax(p *syntax.Prog) *Prog {
	b := newBuilder(len(p.Inst), false)
	for i := range p.Inst {
		in := &p.Inst[i]
		b.add(in.Op, in.Out, in.Arg, in.Rune)
	}
	return b.finish(uint32(p.Start), p.NumCap)
}

func fromBinarySyntax(p *binsyntax.Prog) *Prog {
	b := newBuilder(len(p.Inst), true)
	for i := range p.Inst {
		in := &p.Inst[i]
		// The two packages number their instructions alike.
		b.add(syntax.InstOp(in.Op), in.Out, in.Arg, in.Rune)
	}
	return b.finish(uint32(p.Start), p.NumCap)
}

type builder struct {
	p *Prog
}

func newBuilder(n int, binary bool) *builder {
	return &builder{p: &Prog{
		Op: make([]Op, 0, n), Out: make([]uint32, 0, n), Arg: make([]uint32, 0, n),
		RangeStart: make([]uint32, 0, n+1), Binary: binary,
	}}
}

func (b *builder) add(op syntax.InstOp, out, arg uint32, runes []rune) {
	p := b.p
	p.RangeStart = append(p.RangeStart, uint32(len(p.Ranges)))
	maxRune := int32(unicode.MaxRune)
	if p.Binary {
		maxRune = 0xff
	}
	switch op {
	case syntax.InstAltMatch:
		op = syntax.InstAlt // an optimization hint only
	case syntax.InstRune1:
		op = syntax.InstRune
		// Rune1 carries no fold flag: it is always case-sensitive.
		if runes[0] <= maxRune {
			p.Ranges = append(p.Ranges, runes[0], runes[0])
		}
		arg = 0
	case syntax.InstRune:
		if len(runes) == 1 {
			p.Ranges = appendRanges(p.Ranges, foldOrbit(runes[0], syntax.Flags(arg)&syntax.FoldCase != 0, p.Binary))
		} else {
			p.Ranges = appendPairs(p.Ranges, runes, maxRune)
		}
		arg = 0
	case syntax.InstRuneAny:
		op = syntax.InstRune
		p.Ranges = append(p.Ranges, 0, maxRune)
	case syntax.InstRuneAnyNotNL:
		op = syntax.InstRune
		p.Ranges = append(p.Ranges, 0, '\n'-1, '\n'+1, maxRune)
	}
	if op == syntax.InstRune && int(p.RangeStart[len(p.RangeStart)-1]) == len(p.Ranges) {
		op = syntax.InstFail // a class with nothing left that the program can see
	}
	p.Op = append(p.Op, Op(op))
	p.Out = append(p.Out, out)
	p.Arg = append(p.Arg, arg)
}

func (b *builder) finish(start uint32, numCap int) *Prog {
	p := b.p
	p.RangeStart = append(p.RangeStart, uint32(len(p.Ranges)))
	p.Start, p.NumCap = start, numCap
	return p
}

// foldOrbit lists r and, when folding, every rune that simple case folding makes equal to it
// (regexp/syntax leaves these to match time for single-rune instructions).
func foldOrbit(r rune, fold, binary bool) []rune {
	// A byte program never sees runes above 0xff (a binary pattern may still name one, as in
	// \x{100}: it then never matches).
	var out []rune
	if !binary || r <= 0xff {
		out = append(out, r)
	}
	if !fold {
		return out
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if !binary || f <= 0xff {
			out = append(out, f)
		}
	}
	return out
}

// appendRanges appends single runes as sorted, merged ranges.
func appendRanges(dst []int32, runes []rune) []int32 {
	sort.Slice(runes, func(i, j int) bool { return runes[i] < runes[j] })
	for i := 0; i < len(runes); {
		lo, hi := runes[i], runes[i]
		for i++; i < len(runes) && runes[i] <= hi+1; i++ {
			hi = runes[i]
		}
		dst = append(dst, lo, hi)
	}
	return dst
}

// appendPairs appends the range pairs of a character class, without the parts above maxRune (a
// byte program's class may list Unicode case variants it can never see).
func appendPairs(dst []int32, pairs []rune, maxRune int32) []int32 {
	for i := 0; i+1 < len(pairs); i += 2 {
		lo, hi := pairs[i], pairs[i+1]
		if lo > maxRune {
			break
		}
		dst = append(dst, lo, min(hi, maxRune))
	}
	return dst
}

// Len is the number of instructions.
func (p *Prog) Len() int { return len(p.Op) }

// MatchRune reports whether instruction pc (an OpRune) accepts r.
func (p *Prog) MatchRune(pc uint32, r rune) bool {
	rs := p.Ranges[p.RangeStart[pc]:p.RangeStart[pc+1]]
	// Few ranges: a linear scan. Many (Unicode classes): binary search over the pairs.
	if len(rs) <= 8 {
		for i := 0; i+1 < len(rs); i += 2 {
			if r < rs[i] {
				return false
			}
			if r <= rs[i+1] {
				return true
			}
		}
		return false
	}
	lo, hi := 0, len(rs)/2
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch {
		case r < rs[2*m]:
			hi = m
		case r > rs[2*m+1]:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}

// ErrInvalid is wrapped by every Validate error.
var ErrInvalid = errors.New("regexprog: invalid program")

// Validate checks a program decoded from untrusted bytes: CheckBounds, and that every
// instruction's ranges are sorted, disjoint and within the program's alphabet.
func (p *Prog) Validate() error { return p.check(true) }

// CheckBounds checks what a matcher relies on to stay in bounds and terminate: every index in
// range, capture slots within NumCap, each range table a whole number of pairs (matchers mark
// visited instructions, so any graph terminates). Ranges out of order only make MatchRune answer
// wrongly; Validate checks them too, at a cost that a Wasm interpreter loading a whole ruleset
// notices (ruleset.Load relies on the artifact's checksum for that).
func (p *Prog) CheckBounds() error { return p.check(false) }

func (p *Prog) check(checkRanges bool) error {
	n := len(p.Op)
	switch {
	case n == 0:
		return fmt.Errorf("%w: no instructions", ErrInvalid)
	case len(p.Out) != n || len(p.Arg) != n || len(p.RangeStart) != n+1:
		return fmt.Errorf("%w: array lengths differ", ErrInvalid)
	case int(p.Start) >= n:
		return fmt.Errorf("%w: start %d out of range", ErrInvalid, p.Start)
	case p.NumCap < 2 || p.NumCap%2 != 0 || p.NumCap > 2*1024:
		return fmt.Errorf("%w: %d capture slots", ErrInvalid, p.NumCap)
	case p.RangeStart[0] != 0 || int(p.RangeStart[n]) != len(p.Ranges):
		return fmt.Errorf("%w: range table bounds", ErrInvalid)
	}
	maxRune := int32(utf8.MaxRune)
	if p.Binary {
		maxRune = 0xff
	}
	// Locals with the lengths proven once: this runs over every instruction of every program
	// when a Wasm interpreter loads a ruleset, so per-access bounds checks matter.
	ops, outs, args, starts, ranges := p.Op[:n], p.Out[:n], p.Arg[:n], p.RangeStart[:n+1], p.Ranges
	numCap, un := uint32(p.NumCap), uint32(n)
	const maxEmpty = uint32(syntax.EmptyNoWordBoundary)<<1 - 1
	for pc, op := range ops {
		lo, hi, arg := starts[pc], starts[pc+1], args[pc]
		if lo > hi {
			return fmt.Errorf("%w: instruction %d: range table not ascending", ErrInvalid, pc)
		}
		switch op {
		case OpRune:
			if lo == hi || (hi-lo)%2 != 0 {
				return fmt.Errorf("%w: instruction %d: %d range bounds", ErrInvalid, pc, hi-lo)
			}
			if checkRanges {
				if int(hi) > len(ranges) {
					return fmt.Errorf("%w: instruction %d: range table not ascending", ErrInvalid, pc)
				}
				prev := int32(-1)
				for rs := ranges[lo:hi]; len(rs) >= 2; rs = rs[2:] {
					if rs[0] <= prev || rs[0] > rs[1] || rs[1] > maxRune {
						return fmt.Errorf("%w: instruction %d: ranges not sorted and disjoint", ErrInvalid, pc)
					}
					prev = rs[1]
				}
			}
		case OpAlt, OpCapture, OpEmptyWidth, OpMatch, OpFail, OpNop:
			if lo != hi {
				return fmt.Errorf("%w: instruction %d: ranges on a non-rune instruction", ErrInvalid, pc)
			}
			if op == OpAlt && arg >= un {
				return fmt.Errorf("%w: instruction %d: branch %d out of range", ErrInvalid, pc, arg)
			}
			if op == OpCapture && arg >= numCap {
				return fmt.Errorf("%w: instruction %d: capture slot %d of %d", ErrInvalid, pc, arg, p.NumCap)
			}
			if op == OpEmptyWidth && arg > maxEmpty {
				return fmt.Errorf("%w: instruction %d: empty-width flags %#x", ErrInvalid, pc, arg)
			}
		default:
			return fmt.Errorf("%w: instruction %d: unknown op %d", ErrInvalid, pc, op)
		}
		if outs[pc] >= un && op != OpMatch && op != OpFail {
			return fmt.Errorf("%w: instruction %d: next %d out of range", ErrInvalid, pc, outs[pc])
		}
	}
	return nil
}
