package regexprog

import (
	"regexp/syntax"
	"unicode/utf8"
)

// For short inputs the Machine searches depth first instead of in lockstep: it follows the
// preferred branch of every alternation and falls back to the others in priority order, so the
// first match it reaches from the leftmost start is the leftmost-first match, with its captures.
// A bit per (instruction, position) marks what has already been explored, which keeps the search
// linear in program size times input length: an instruction reached again at the same position
// fails again, whatever the captures. The Pike VM's per-character bookkeeping (thread queues,
// capture blocks) costs more than this search on the few dozen bytes of a header name or a
// parameter, which is what capturing CRS rules mostly see.

// maxBacktrackBits bounds the visited set (32 KiB); longer inputs and larger programs go to the
// Pike VM.
const maxBacktrackBits = 256 * 1024

type backtrackState struct {
	visited []uint32
	jobs    []backtrackJob
}

// backtrackJob is a branch still to explore (slot < 0), or a capture slot to restore once
// everything explored after it has failed.
type backtrackJob struct {
	pc   uint32
	slot int32
	pos  int
}

func (m *Machine) backtrackFits(n int) bool {
	return m.backtrackLimit > 0 && len(m.prog.Op)*(n+1) <= m.backtrackLimit
}

// backtrack is FindSubmatchIndex by depth-first search.
func (m *Machine) backtrack(dst []int, s string) []int {
	p := m.prog
	width := len(s) + 1
	words := (len(p.Op)*width + 31) / 32
	bt := &m.bt
	if cap(bt.visited) < words {
		bt.visited = make([]uint32, words)
	} else {
		bt.visited = bt.visited[:words]
		clear(bt.visited)
	}
	caps := m.matchcap
	for start := 0; start <= len(s); {
		if m.startBytes != nil {
			// As in the Pike VM: skip to a byte where a match can start (only ASCII bytes are
			// ever skipped in UTF-8 programs, so every skip is one character).
			for start < len(s) && !m.startBytes[s[start]] {
				start++
			}
			if start == len(s) {
				return nil // and no match can be empty
			}
		}
		for i := range caps {
			caps[i] = -1
		}
		if m.search(p.Start, start, s, width, caps) {
			caps[0] = start
			return append(dst[:0], caps...)
		}
		if m.anchored || start == len(s) {
			return nil
		}
		_, w := m.decode(s, start)
		start += w
	}
	return nil
}

// search explores from (pc0, pos0) in priority order and reports whether it reached OpMatch,
// with the captures in caps (slot 1 is set here, slot 0 by the caller).
func (m *Machine) search(pc0 uint32, pos0 int, s string, width int, caps []int) bool {
	p := m.prog
	visited := m.bt.visited
	jobs := append(m.bt.jobs[:0], backtrackJob{pc: pc0, pos: pos0, slot: -1})
	for len(jobs) > 0 {
		j := jobs[len(jobs)-1]
		jobs = jobs[:len(jobs)-1]
		if j.slot >= 0 {
			caps[j.slot] = j.pos
			continue
		}
		pc, pos := j.pc, j.pos
	follow:
		for {
			bit := uint(pc)*uint(width) + uint(pos)
			if visited[bit/32]&(1<<(bit%32)) != 0 {
				break
			}
			visited[bit/32] |= 1 << (bit % 32)
			switch p.Op[pc] {
			case OpAlt:
				jobs = append(jobs, backtrackJob{pc: p.Arg[pc], pos: pos, slot: -1})
				pc = p.Out[pc]
			case OpNop:
				pc = p.Out[pc]
			case OpEmptyWidth:
				if syntax.EmptyOp(p.Arg[pc])&^m.context(s, pos) != 0 {
					break follow
				}
				pc = p.Out[pc]
			case OpCapture:
				if slot := int(p.Arg[pc]); slot < len(caps) {
					jobs = append(jobs, backtrackJob{slot: int32(slot), pos: caps[slot]})
					caps[slot] = pos
				}
				pc = p.Out[pc]
			case OpRune:
				r, w := m.decode(s, pos)
				if w == 0 || !p.MatchRune(pc, r) {
					break follow
				}
				pc, pos = p.Out[pc], pos+w
			case OpMatch:
				caps[1] = pos
				m.bt.jobs = jobs[:0]
				return true
			default: // OpFail
				break follow
			}
		}
	}
	m.bt.jobs = jobs[:0]
	return false
}

// context returns the empty-width assertions that hold at byte offset pos of s.
func (m *Machine) context(s string, pos int) syntax.EmptyOp {
	before, after := rune(-1), rune(-1)
	if pos > 0 {
		if c := s[pos-1]; c < utf8.RuneSelf || m.prog.Binary {
			before = rune(c)
		} else {
			before, _ = utf8.DecodeLastRuneInString(s[:pos])
		}
	}
	if pos < len(s) {
		after, _ = m.decode(s, pos)
	}
	return syntax.EmptyOpContext(before, after)
}
