package regexprog

import (
	"regexp/syntax"
	"unicode/utf8"
)

// Machine runs one Prog as a Pike VM: a simulation of the program's NFA that steps every live
// thread over the input in lockstep, each thread carrying its own capture slots. Threads are kept
// in priority order, which yields the leftmost-first (Perl) submatches of package regexp in time
// linear in the input.
//
// When the program times the input is small, the Machine searches depth first instead (see
// backtrack.go), with the same results. The epsilon closure and the search walk explicit stacks and
// every buffer is kept between calls, so a warmed-up Machine neither recurses nor allocates. Not
// safe for concurrent use.
type Machine struct {
	prog *Prog
	ncap int
	// anchored is set when every path from Start asserts \A: no thread starts after offset 0.
	anchored bool
	// startBytes[b] is false when no match can start at a byte b (a character b for byte
	// programs; for UTF-8 only ASCII bytes are ever false). Nil when it would not help.
	startBytes *[256]bool

	runq, nextq threadQueue
	// caps holds capture blocks of ncap slots each. Block 0 is the scratch block from which new
	// start threads are copied; the others belong to threads or are listed in free.
	caps  []int
	free  []int32
	stack []closureEntry

	matched  bool
	matchcap []int

	// backtrackLimit is the largest instructions × (input length + 1) searched depth first
	// (see backtrack.go); 0 always runs the Pike VM.
	backtrackLimit int
	bt             backtrackState
}

// threadQueue is a sparse set of instructions in insertion (priority) order. Instructions that
// only pass control on are members too, which marks them visited for the closure at one position.
type threadQueue struct {
	sparse []uint32
	dense  []queueEntry
}

type queueEntry struct {
	pc uint32
	// capOff is the offset in Machine.caps of the thread's capture block, or -1 when the
	// instruction holds no thread (everything but OpRune and OpMatch).
	capOff int32
}

// closureEntry is a pending step of the epsilon closure: explore pc (slot < 0), or undo a capture
// by writing old back to slot once everything reached through that capture has been explored.
type closureEntry struct {
	pc   uint32
	slot int32
	old  int
}

func (q *threadQueue) contains(pc uint32) bool {
	i := q.sparse[pc]
	return int(i) < len(q.dense) && q.dense[i].pc == pc
}

// NewMachine returns a Machine for p, which must come from Compile or have passed CheckBounds
// (ruleset.Load checks the programs of every artifact not loaded as trusted).
func NewMachine(p *Prog) *Machine {
	n := len(p.Op)
	ncap := max(p.NumCap, 2) // slots 0 and 1 are written by the machine itself
	return &Machine{
		prog:       p,
		ncap:       ncap,
		anchored:   startsWithBeginText(p),
		startBytes: possibleStartBytes(p),
		runq:       threadQueue{sparse: make([]uint32, n), dense: make([]queueEntry, 0, n)},
		nextq:      threadQueue{sparse: make([]uint32, n), dense: make([]queueEntry, 0, n)},
		caps:       make([]int, ncap),
		matchcap:   make([]int, ncap),

		backtrackLimit: maxBacktrackBits,
	}
}

// startsWithBeginText reports whether the instructions every match must pass before its first
// branch or rune include an \A assertion.
func startsWithBeginText(p *Prog) bool {
	pc := p.Start
	for range len(p.Op) { // bounded: a corrupt program could chain Nops in a cycle
		switch p.Op[pc] {
		case OpEmptyWidth:
			if syntax.EmptyOp(p.Arg[pc])&syntax.EmptyBeginText != 0 {
				return true
			}
		case OpNop, OpCapture:
		default:
			return false
		}
		pc = p.Out[pc]
	}
	return false
}

// possibleStartBytes computes Machine.startBytes from the rune instructions reachable from Start
// without consuming input. Assertions are taken to hold, which can only add bytes.
func possibleStartBytes(p *Prog) *[256]bool {
	visited := make([]bool, len(p.Op))
	stack := []uint32{p.Start}
	var runes []uint32
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if visited[pc] {
			continue
		}
		visited[pc] = true
		switch p.Op[pc] {
		case OpMatch:
			return nil // the empty string matches anywhere
		case OpRune:
			runes = append(runes, pc)
		case OpAlt:
			stack = append(stack, p.Arg[pc], p.Out[pc])
		case OpNop, OpCapture, OpEmptyWidth:
			stack = append(stack, p.Out[pc])
		}
	}
	var bytes [256]bool
	all := true
	for b := range bytes {
		bytes[b] = b >= utf8.RuneSelf && !p.Binary // the lead byte of some rune: not worth decoding
		for _, pc := range runes {
			if bytes[b] {
				break
			}
			bytes[b] = p.MatchRune(pc, rune(b))
		}
		all = all && bytes[b]
	}
	if all {
		return nil
	}
	return &bytes
}

// FindSubmatchIndex returns the capture slots of the leftmost-first match in s (pairs of byte
// offsets, -1 for groups that did not participate), appended to dst[:0], or nil when there is no
// match. It gives the results of regexp.(*Regexp).FindStringSubmatchIndex, or of
// binaryregexp's for binary programs, which read s one byte per character.
func (m *Machine) FindSubmatchIndex(dst []int, s string) []int {
	if m.backtrackFits(len(s)) {
		return m.backtrack(dst, s)
	}
	m.reset()
	p := m.prog
	pos := 0
	r, width := m.decode(s, 0)
	cond := syntax.EmptyOpContext(-1, r)
	for {
		if len(m.runq.dense) == 0 && (m.matched || m.anchored && pos > 0) {
			// Nothing left that could match, or beat the match already found.
			break
		}
		if len(m.runq.dense) == 0 && !m.matched && m.startBytes != nil {
			// No thread is running: go straight to the next byte where a match can start. UTF-8
			// programs skip only bytes below utf8.RuneSelf, so every byte skipped is a character.
			skip := pos
			for skip < len(s) && !m.startBytes[s[skip]] {
				skip++
			}
			if skip == len(s) {
				break // and no match can be empty
			}
			if skip > pos {
				pos = skip
				r, width = m.decode(s, pos)
				cond = syntax.EmptyOpContext(rune(s[pos-1]), r)
			}
		}
		if !m.matched && (pos == 0 || !m.anchored) {
			// A match starting here ranks below every thread that started earlier.
			start := m.caps[:m.ncap]
			for i := range start {
				start[i] = -1
			}
			start[0] = pos
			m.addClosure(&m.runq, p.Start, pos, 0, cond)
		}
		nextPos := pos + width
		r1, width1 := m.decode(s, nextPos)
		nextCond := syntax.EmptyOpContext(r, r1)
		m.step(pos, nextPos, r, nextCond)
		if width == 0 {
			break
		}
		pos, r, width, cond = nextPos, r1, width1, nextCond
		m.runq, m.nextq = m.nextq, m.runq
	}
	if !m.matched {
		return nil
	}
	return append(dst[:0], m.matchcap...)
}

// decode returns the character at byte offset pos and its width, or -1 and 0 at the end of s.
func (m *Machine) decode(s string, pos int) (rune, int) {
	if pos >= len(s) {
		return -1, 0
	}
	if c := s[pos]; c < utf8.RuneSelf || m.prog.Binary {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[pos:])
}

// reset empties the queues and returns every capture block to the free list.
func (m *Machine) reset() {
	m.runq.dense = m.runq.dense[:0]
	m.nextq.dense = m.nextq.dense[:0]
	m.matched = false
	m.free = m.free[:0]
	for off := m.ncap; off < len(m.caps); off += m.ncap {
		m.free = append(m.free, int32(off))
	}
}

func (m *Machine) allocBlock() int {
	if n := len(m.free); n > 0 {
		off := int(m.free[n-1])
		m.free = m.free[:n-1]
		return off
	}
	off := len(m.caps)
	for range m.ncap {
		m.caps = append(m.caps, -1)
	}
	return off
}

// step advances every thread in runq over r, the character at pos, into nextq at nextPos.
func (m *Machine) step(pos, nextPos int, r rune, nextCond syntax.EmptyOp) {
	p := m.prog
	runq := &m.runq
	for j := 0; j < len(runq.dense); j++ {
		e := runq.dense[j]
		if e.capOff < 0 {
			continue
		}
		off := int(e.capOff)
		switch p.Op[e.pc] {
		case OpMatch:
			m.caps[off+1] = pos
			copy(m.matchcap, m.caps[off:off+m.ncap])
			m.matched = true
			// Leftmost-first: the threads after this one have lower priority and can only lose
			// to it; those before it have already moved on to nextq and may still win.
			for _, rest := range runq.dense[j:] {
				if rest.capOff >= 0 {
					m.free = append(m.free, rest.capOff)
				}
			}
			runq.dense = runq.dense[:0]
			return
		case OpRune:
			if r >= 0 && p.MatchRune(e.pc, r) {
				// The thread's block serves as the closure's working slots: the closure restores
				// every slot it changes, and the block is freed only afterwards.
				m.addClosure(&m.nextq, p.Out[e.pc], nextPos, off, nextCond)
			}
		}
		m.free = append(m.free, e.capOff)
	}
	runq.dense = runq.dense[:0]
}

// addClosure adds to q, in priority order, a thread for every OpRune and OpMatch instruction
// reachable from pc0 without consuming input, with the capture slots of the block at offset work
// updated along the way. An instruction already in q is not explored again: whoever reached it
// first had the higher priority.
func (m *Machine) addClosure(q *threadQueue, pc0 uint32, pos, work int, cond syntax.EmptyOp) {
	p := m.prog
	stk := append(m.stack[:0], closureEntry{pc: pc0, slot: -1})
	for len(stk) > 0 {
		e := stk[len(stk)-1]
		stk = stk[:len(stk)-1]
		if e.slot >= 0 {
			m.caps[work+int(e.slot)] = e.old
			continue
		}
		// Follow the preferred branch, leaving the other branches on the stack.
		pc := e.pc
		for !q.contains(pc) {
			q.sparse[pc] = uint32(len(q.dense))
			q.dense = append(q.dense, queueEntry{pc: pc, capOff: -1})
			switch p.Op[pc] {
			case OpAlt:
				stk = append(stk, closureEntry{pc: p.Arg[pc], slot: -1})
				pc = p.Out[pc]
				continue
			case OpNop:
				pc = p.Out[pc]
				continue
			case OpEmptyWidth:
				if syntax.EmptyOp(p.Arg[pc])&^cond == 0 {
					pc = p.Out[pc]
					continue
				}
			case OpCapture:
				if slot := int(p.Arg[pc]); slot < m.ncap {
					stk = append(stk, closureEntry{slot: int32(slot), old: m.caps[work+slot]})
					m.caps[work+slot] = pos
				}
				pc = p.Out[pc]
				continue
			case OpRune, OpMatch:
				off := m.allocBlock() // may move m.caps: index it afresh
				copy(m.caps[off:off+m.ncap], m.caps[work:work+m.ncap])
				q.dense[len(q.dense)-1].capOff = int32(off)
			}
			break
		}
	}
	m.stack = stk[:0]
}
