// Package lazydfa answers "does this regexp match anywhere in the input?" with a lazily built
// DFA over a compiled program (package regexprog). The Go regexp package runs large programs (the OWASP
// CRS has regexes with thousands of instructions) as an NFA simulation that touches every
// instruction for every input character; a DFA state stands for a whole set of NFA states, so
// after warm-up each input character costs one table lookup. States are built on demand and the
// cache is bounded: when it fills, it is dropped and rebuilt, so memory stays flat whatever the
// input. Matching is a loop: no recursion, no goroutines.
package lazydfa

import (
	"regexp/syntax"
	"sort"
	"unicode/utf8"

	"github.com/meshaccel/meshaccel/wasm-waf/regexprog"
)

// MaxStates bounds the cached DFA states of one matcher.
const MaxStates = 512

// MaxCacheBytes bounds the transition tables of one matcher (states x byte classes x pointer):
// the whole CRS then stays within a few MiB of DFA cache however adversarial the input.
const MaxCacheBytes = 32 << 10

// prevClass is what empty-width assertions need to know about the preceding character.
type prevClass uint8

const (
	prevStart prevClass = iota // beginning of text
	prevNewline
	prevWord
	prevOther
)

// representative runes for syntax.EmptyOpContext.
var prevRune = [...]rune{prevStart: -1, prevNewline: '\n', prevWord: 'a', prevOther: ' '}

type state struct {
	// pcs are NFA instructions waiting for the next character, before empty-width assertions are
	// followed (they depend on that character).
	pcs  []uint32
	prev prevClass
	// next is indexed by byte class for ASCII input; wide holds runes >= 0x80 (and invalid bytes).
	next []*state
	wide map[rune]*state
	// matchBefore reports a match found while expanding the assertions before a character of the
	// given byte class (or at the end: index len(next)).
	matched []int8 // 0 unknown, 1 no, 2 yes
	epoch   uint32
}

// Matcher is a lazy DFA for one program. It is not safe for concurrent use.
type Matcher struct {
	prog    *regexprog.Prog
	classOf [128]uint8
	classes int
	states  map[string]*state
	start   *state
	// epoch changes when the cache is dropped; states of older epochs are never linked again.
	epoch     uint32
	maxStates int
	// scratch
	stack  []uint32
	seen   []uint32 // generation marks per instruction
	gen    uint32
	set    []uint32
	keyBuf []byte
}

// Compile parses and compiles a Go regexp pattern for matching (binary: byte by byte, as
// rsc.io/binaryregexp matches).
func Compile(pattern string, binary bool) (*Matcher, error) {
	prog, err := regexprog.Compile(pattern, binary)
	if err != nil {
		return nil, err
	}
	return New(prog), nil
}

// New returns a matcher for a compiled program.
func New(prog *regexprog.Prog) *Matcher {
	return NewWithClasses(prog, ByteClasses(prog))
}

// NewWithClasses returns a matcher with byte classes computed earlier by ByteClasses for the same
// program (computing them visits every instruction 128 times, which a host can do ahead of time).
func NewWithClasses(prog *regexprog.Prog, classes [128]uint8) *Matcher {
	m := &Matcher{prog: prog, seen: make([]uint32, prog.Len()), classOf: classes}
	for _, c := range classes {
		if int(c) >= m.classes {
			m.classes = int(c) + 1
		}
	}
	m.maxStates = MaxCacheBytes / (8*m.classes + 64)
	if m.maxStates > MaxStates {
		m.maxStates = MaxStates
	}
	if m.maxStates < 16 {
		m.maxStates = 16
	}
	m.reset()
	return m
}

// ByteClasses partitions ASCII into classes of characters that every instruction treats alike
// (and that empty-width assertions see alike), so states need one transition per class.
func ByteClasses(prog *regexprog.Prog) [128]uint8 {
	var classOf [128]uint8
	sigs := map[string]uint8{}
	sig := make([]byte, 0, 64)
	for c := 0; c < 128; c++ {
		sig = sig[:0]
		r := rune(c)
		switch {
		case c == '\n':
			sig = append(sig, 'n')
		case syntax.IsWordChar(r):
			sig = append(sig, 'w')
		default:
			sig = append(sig, 'o')
		}
		var bits byte
		nb := 0
		for pc := range prog.Op {
			if prog.Op[pc] != regexprog.OpRune {
				continue
			}
			if prog.MatchRune(uint32(pc), r) {
				bits |= 1 << nb
			}
			nb++
			if nb == 8 {
				sig = append(sig, bits)
				bits, nb = 0, 0
			}
		}
		sig = append(sig, bits)
		id, ok := sigs[string(sig)]
		if !ok {
			id = uint8(len(sigs))
			sigs[string(sig)] = id
		}
		classOf[c] = id
	}
	return classOf
}

func (m *Matcher) reset() {
	m.epoch++
	m.states = make(map[string]*state)
	m.start = m.intern([]uint32{uint32(m.prog.Start)}, prevStart)
}

func (m *Matcher) intern(pcs []uint32, prev prevClass) *state {
	key := m.keyBuf[:0]
	key = append(key, byte(prev))
	for _, pc := range pcs {
		key = append(key, byte(pc), byte(pc>>8), byte(pc>>16), byte(pc>>24))
	}
	m.keyBuf = key
	if s, ok := m.states[string(key)]; ok {
		return s
	}
	s := &state{pcs: append([]uint32(nil), pcs...), prev: prev, next: make([]*state, m.classes),
		matched: make([]int8, m.classes+1), epoch: m.epoch}
	m.states[string(key)] = s
	return s
}

// closure follows the empty transitions of s's instructions under the assertions flags, into
// m.set (instructions that consume a character); it reports whether a match is reached.
func (m *Matcher) closure(pcs []uint32, flags syntax.EmptyOp) bool {
	m.gen++
	if m.gen == 0 {
		for i := range m.seen {
			m.seen[i] = 0
		}
		m.gen = 1
	}
	m.set = m.set[:0]
	m.stack = append(m.stack[:0], pcs...)
	// Unanchored search: a match may start at every position.
	m.stack = append(m.stack, uint32(m.prog.Start))
	matched := false
	for len(m.stack) > 0 {
		pc := m.stack[len(m.stack)-1]
		m.stack = m.stack[:len(m.stack)-1]
		if m.seen[pc] == m.gen {
			continue
		}
		m.seen[pc] = m.gen
		p := m.prog
		switch p.Op[pc] {
		case regexprog.OpMatch:
			matched = true
		case regexprog.OpAlt:
			m.stack = append(m.stack, p.Arg[pc], p.Out[pc])
		case regexprog.OpCapture, regexprog.OpNop:
			m.stack = append(m.stack, p.Out[pc])
		case regexprog.OpEmptyWidth:
			if syntax.EmptyOp(p.Arg[pc])&^flags == 0 {
				m.stack = append(m.stack, p.Out[pc])
			}
		case regexprog.OpRune:
			m.set = append(m.set, pc)
		}
	}
	return matched
}

func classOfPrev(r rune) prevClass {
	switch {
	case r == '\n':
		return prevNewline
	case syntax.IsWordChar(r):
		return prevWord
	}
	return prevOther
}

// step computes the state after consuming r from s, or reports a match found before r.
func (m *Matcher) step(s *state, r rune) (*state, bool) {
	flags := syntax.EmptyOpContext(prevRune[s.prev], r)
	if m.closure(s.pcs, flags) {
		return nil, true
	}
	var next []uint32
	for _, pc := range m.set {
		if m.prog.MatchRune(pc, r) {
			next = append(next, m.prog.Out[pc])
		}
	}
	sort.Slice(next, func(i, j int) bool { return next[i] < next[j] })
	out := next[:0]
	for i, pc := range next {
		if i == 0 || pc != next[i-1] {
			out = append(out, pc)
		}
	}
	if len(m.states) >= m.maxStates {
		m.reset()
	}
	return m.intern(out, classOfPrev(r)), false
}

// MatchString reports whether the pattern matches anywhere in s.
func (m *Matcher) MatchString(s string) bool {
	st := m.start
	for i := 0; i < len(s); {
		c := s[i]
		var r rune
		size := 1
		if c < utf8.RuneSelf {
			cls := m.classOf[c]
			if nx := st.next[cls]; nx != nil {
				st = nx
				i++
				continue
			}
			if st.matched[cls] == 2 {
				return true
			}
			r = rune(c)
			nx, matched := m.step(st, r)
			if matched {
				st.matched[cls] = 2
				return true
			}
			// A reset in step may have dropped st; only link live states.
			if st.epoch == m.epoch {
				st.next[cls] = nx
			}
			st = nx
			i++
			continue
		}
		if m.prog.Binary {
			r = rune(c) // byte programs see every byte as one character
		} else {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		if nx, ok := st.wide[r]; ok {
			st = nx
			i += size
			continue
		}
		nx, matched := m.step(st, r)
		if matched {
			return true
		}
		if st.epoch == m.epoch && len(st.wide) < 64 {
			if st.wide == nil {
				st.wide = map[rune]*state{}
			}
			st.wide[r] = nx
		}
		st = nx
		i += size
	}
	if st.matched[m.classes] != 0 {
		return st.matched[m.classes] == 2
	}
	matched := m.closure(st.pcs, syntax.EmptyOpContext(prevRune[st.prev], -1))
	if matched {
		st.matched[m.classes] = 2
	} else {
		st.matched[m.classes] = 1
	}
	return matched
}

// States returns the number of cached states (for tests and measurements).
func (m *Matcher) States() int { return len(m.states) }
