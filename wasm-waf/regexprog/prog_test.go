package regexprog

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
	"unicode"
)

func mustCompile(t *testing.T, pattern string, binary bool) *Prog {
	t.Helper()
	p, err := Compile(pattern, binary)
	if err != nil {
		t.Fatalf("Compile(%q, %v): %v", pattern, binary, err)
	}
	return p
}

func cloneProg(p *Prog) *Prog {
	q := *p
	q.Op = slices.Clone(p.Op)
	q.Out = slices.Clone(p.Out)
	q.Arg = slices.Clone(p.Arg)
	q.RangeStart = slices.Clone(p.RangeStart)
	q.Ranges = slices.Clone(p.Ranges)
	return &q
}

// firstPC returns the first instruction of p that satisfies ok.
func firstPC(t *testing.T, p *Prog, ok func(pc int) bool) int {
	t.Helper()
	for pc := range p.Op {
		if ok(pc) {
			return pc
		}
	}
	t.Fatal("no such instruction")
	return -1
}

func TestCompiledProgramsValidate(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		binary  bool
	}{
		{`a`, false}, {``, false}, {`(a|b)*?c+\b$`, false}, {`(?i)straße|\p{Greek}+`, false},
		{`(?sm)^.*$`, false}, {`[^\x00-\x{10FFFF}]`, false}, {`(a){0}b`, false},
		{`\xff+[\x80-\xff]`, true}, {`(?i)[a-c]\xe9`, true}, {`(?s).\x00`, true},
		{`\x{100}`, true}, {`(?i)k\x{212a}`, true}, {`[\x{100}-\x{200}]`, true}, {`ā|b`, true},
	} {
		if err := mustCompile(t, tc.pattern, tc.binary).Validate(); err != nil {
			t.Errorf("Compile(%q, %v).Validate() = %v", tc.pattern, tc.binary, err)
		}
	}
}

func TestValidateRejectsCorruptPrograms(t *testing.T) {
	base := mustCompile(t, `(a|b)+[c-ex-z]\b`, false)
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	isOp := func(op Op) func(int) bool { return func(pc int) bool { return base.Op[pc] == op } }
	alt := firstPC(t, base, isOp(OpAlt))
	capture := firstPC(t, base, isOp(OpCapture))
	empty := firstPC(t, base, isOp(OpEmptyWidth))
	class := firstPC(t, base, func(pc int) bool { return base.RangeStart[pc+1]-base.RangeStart[pc] == 4 })
	rune1 := firstPC(t, base, isOp(OpRune))
	n := uint32(base.Len())

	for _, tc := range []struct {
		name    string
		corrupt func(p *Prog)
		want    string // part of the error message; "" when any error will do
	}{
		{"out of range Out", func(p *Prog) { p.Out[rune1] = n }, fmt.Sprintf("instruction %d: next %d", rune1, n)},
		{"out of range Alt branch", func(p *Prog) { p.Arg[alt] = n + 7 }, fmt.Sprintf("instruction %d: branch %d", alt, n+7)},
		{"out of range Start", func(p *Prog) { p.Start = n }, fmt.Sprintf("start %d", n)},
		{"capture slot past NumCap", func(p *Prog) { p.Arg[capture] = uint32(p.NumCap) }, fmt.Sprintf("instruction %d: capture slot", capture)},
		{"unknown empty-width flag", func(p *Prog) { p.Arg[empty] = 1 << 8 }, fmt.Sprintf("instruction %d: empty-width", empty)},
		{"unsorted ranges", func(p *Prog) {
			rs := p.Ranges[p.RangeStart[class]:]
			rs[0], rs[1], rs[2], rs[3] = rs[2], rs[3], rs[0], rs[1]
		}, fmt.Sprintf("instruction %d: ranges not sorted", class)},
		{"overlapping ranges", func(p *Prog) { p.Ranges[p.RangeStart[class]+1] = 'y' }, fmt.Sprintf("instruction %d: ranges not sorted", class)},
		{"inverted range", func(p *Prog) { p.Ranges[p.RangeStart[class]] = 'f' }, fmt.Sprintf("instruction %d: ranges not sorted", class)},
		{"rune beyond Unicode", func(p *Prog) { p.Ranges[p.RangeStart[class]+3] = unicode.MaxRune + 1 }, fmt.Sprintf("instruction %d: ranges not sorted", class)},
		{"byte program with a rune above 0xff", func(p *Prog) { p.Binary = true; p.Ranges[p.RangeStart[class]+3] = 0x100 }, fmt.Sprintf("instruction %d: ranges not sorted", class)},
		{"rune instruction without ranges", func(p *Prog) { p.Op[alt] = OpRune }, fmt.Sprintf("instruction %d: 0 range bounds", alt)},
		{"ranges on a non-rune instruction", func(p *Prog) { p.Op[class] = OpNop }, fmt.Sprintf("instruction %d: ranges on a non-rune", class)},
		{"unknown op", func(p *Prog) { p.Op[alt] = 42 }, fmt.Sprintf("instruction %d: unknown op 42", alt)},
		{"range table descending", func(p *Prog) { p.RangeStart[class+1] = p.RangeStart[class] - 1 }, "not ascending"},
		{"range table not covering Ranges", func(p *Prog) { p.Ranges = append(p.Ranges, 1, 2) }, "range table bounds"},
		{"Out shorter than Op", func(p *Prog) { p.Out = p.Out[:len(p.Out)-1] }, "array lengths differ"},
		{"Arg longer than Op", func(p *Prog) { p.Arg = append(p.Arg, 0) }, "array lengths differ"},
		{"RangeStart too short", func(p *Prog) { p.RangeStart = p.RangeStart[:len(p.Op)] }, "array lengths differ"},
		{"no instructions", func(p *Prog) { *p = Prog{RangeStart: []uint32{0}, NumCap: 2} }, "no instructions"},
		{"odd NumCap", func(p *Prog) { p.NumCap = 3 }, "3 capture slots"},
	} {
		p := cloneProg(base)
		tc.corrupt(p)
		err := p.Validate()
		switch {
		case err == nil:
			t.Errorf("%s: Validate accepted the program", tc.name)
		case !errors.Is(err, ErrInvalid):
			t.Errorf("%s: error %v does not wrap ErrInvalid", tc.name, err)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: error %q, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

// runeInstructions lists the OpRune instructions of p.
func runeInstructions(p *Prog) []uint32 {
	var pcs []uint32
	for pc, op := range p.Op {
		if op == OpRune {
			pcs = append(pcs, uint32(pc))
		}
	}
	return pcs
}

func TestCompileFoldsCaseIntoRanges(t *testing.T) {
	for _, tc := range []struct {
		pattern       string
		binary        bool
		accept, refus []rune
	}{
		{`(?i)k`, false, []rune{'k', 'K', '\u212a'}, []rune{'j', 'l', 'κ'}},
		{`(?i)\x{212a}`, false, []rune{'k', 'K', '\u212a'}, []rune{'j'}},
		{`(?i)ß`, false, []rune{'ß', 'ẞ'}, []rune{'s', 'S'}},
		{`(?i)σ`, false, []rune{'σ', 'ς', 'Σ'}, []rune{'s'}},
		{`k`, false, []rune{'k'}, []rune{'K', '\u212a'}},
		{`(?i)k`, true, []rune{'k', 'K'}, []rune{'j'}},
		{`(?i)\xe9`, true, []rune{0xe9, 0xc9}, []rune{'e'}},
		{`(?i)[a-c]`, true, []rune{'a', 'C'}, []rune{'d', 0xe1}},
	} {
		p := mustCompile(t, tc.pattern, tc.binary)
		pcs := runeInstructions(p)
		if len(pcs) != 1 {
			t.Fatalf("%q: %d rune instructions, want 1", tc.pattern, len(pcs))
		}
		for _, r := range tc.accept {
			if !p.MatchRune(pcs[0], r) {
				t.Errorf("%q (binary %v) rejects %q", tc.pattern, tc.binary, r)
			}
		}
		for _, r := range tc.refus {
			if p.MatchRune(pcs[0], r) {
				t.Errorf("%q (binary %v) accepts %q", tc.pattern, tc.binary, r)
			}
		}
	}
}

func TestCompileDropsRunesAByteProgramCannotSee(t *testing.T) {
	for _, pattern := range []string{`\x{100}`, `ā`, `[\x{100}-\x{200}]`} {
		p := mustCompile(t, pattern, true)
		if pcs := runeInstructions(p); len(pcs) != 0 {
			t.Errorf("%q: rune instructions %v with ranges %v survive in a byte program", pattern, pcs, p.Ranges)
		}
	}
}

func TestCompileKeepsSlotsForDroppedGroups(t *testing.T) {
	// Simplify removes (a){0}; package regexp still reports the group, as -1 -1.
	for _, tc := range []struct {
		pattern string
		numCap  int
	}{{`(a){0}b`, 4}, {`(a)(b){0}((c){0})`, 10}, {`(a)`, 4}} {
		if got := mustCompile(t, tc.pattern, false).NumCap; got != tc.numCap {
			t.Errorf("%q: NumCap %d, want %d", tc.pattern, got, tc.numCap)
		}
	}
}

func TestMatchRuneOnLargeClass(t *testing.T) {
	// \p{Greek} has enough ranges to take the binary search.
	for _, tc := range []struct {
		pattern string
		in      func(r rune) bool
	}{
		{`\p{Greek}`, func(r rune) bool { return unicode.Is(unicode.Greek, r) }},
		{`\P{Greek}`, func(r rune) bool { return !unicode.Is(unicode.Greek, r) }},
		{`[\p{Lu}\d]`, func(r rune) bool { return unicode.IsUpper(r) || r >= '0' && r <= '9' }},
	} {
		p := mustCompile(t, tc.pattern, false)
		pcs := runeInstructions(p)
		if len(pcs) != 1 || p.RangeStart[pcs[0]+1]-p.RangeStart[pcs[0]] <= 8 {
			t.Fatalf("%q: want one rune instruction with many ranges, have %v", tc.pattern, pcs)
		}
		for r := rune(0); r <= unicode.MaxRune; r++ {
			if got, want := p.MatchRune(pcs[0], r), tc.in(r); got != want {
				t.Fatalf("%q: MatchRune(%U) = %v, want %v", tc.pattern, r, got, want)
			}
		}
	}
}

func TestCompileMapsOpcodes(t *testing.T) {
	// The Op values are syntax.InstOp's, which matchers and encoded rulesets rely on.
	for _, tc := range []struct {
		op   Op
		inst syntax.InstOp
	}{{OpAlt, syntax.InstAlt}, {OpCapture, syntax.InstCapture}, {OpEmptyWidth, syntax.InstEmptyWidth},
		{OpMatch, syntax.InstMatch}, {OpFail, syntax.InstFail}, {OpNop, syntax.InstNop}, {OpRune, syntax.InstRune}} {
		if uint8(tc.op) != uint8(tc.inst) {
			t.Errorf("Op %d != %v", tc.op, tc.inst)
		}
	}
	// Every consuming instruction becomes OpRune: '.', '(?s).', single runes, classes.
	p := mustCompile(t, `.(?s:.)x[a-c]`, false)
	for pc, op := range p.Op {
		switch op {
		case OpAlt, OpCapture, OpEmptyWidth, OpMatch, OpFail, OpNop, OpRune:
		default:
			t.Errorf("instruction %d has op %d", pc, op)
		}
	}
	if got := len(runeInstructions(p)); got != 4 {
		t.Errorf("%d rune instructions, want 4", got)
	}
}

// CheckBounds accepts what only makes answers wrong (ranges out of order) and rejects what
// would take a matcher out of bounds.
func TestCheckBoundsIgnoresRangeOrderOnly(t *testing.T) {
	base := mustCompile(t, `[c-ex-z]+`, false)
	class := firstPC(t, base, func(pc int) bool { return base.RangeStart[pc+1]-base.RangeStart[pc] == 4 })
	unsorted := cloneProg(base)
	rs := unsorted.Ranges[unsorted.RangeStart[class]:]
	rs[0], rs[1], rs[2], rs[3] = rs[2], rs[3], rs[0], rs[1]
	if err := unsorted.CheckBounds(); err != nil {
		t.Errorf("CheckBounds rejected a program whose only fault is range order: %v", err)
	}
	if err := unsorted.Validate(); err == nil {
		t.Error("Validate accepted unsorted ranges")
	}
	outOfRange := cloneProg(base)
	outOfRange.Out[class] = uint32(outOfRange.Len())
	if err := outOfRange.CheckBounds(); !errors.Is(err, ErrInvalid) {
		t.Errorf("CheckBounds accepted an out-of-range next instruction: %v", err)
	}
}
