package ruleset

// DenseMatcher runs a Matcher as a DFA whose rows are filled in as input visits them: one table
// load per input byte instead of a search of the state's edges and its failure chain, which in a
// Wasm interpreter is most of the cost of a phrase or prefilter look-up. Bytes that no pattern
// contains share one column. Rows are kept across calls (request values repeat the same
// states); their memory is bounded by DenseMatcherBudget entries, past which the table starts over.
// A DenseMatcher is not safe for concurrent use.
type DenseMatcher struct {
	m       *Matcher
	class   [256]uint8
	classes int32
	// next holds one row per visited state, at offsets that are multiples of classes; the root's
	// row is at 0. next[row+class] is -1 while not computed, else the next state's row << 1 | 1
	// if a pattern ends there.
	next []int32
	// rowOf[s] is state s's row, or -1; stateOf[row/classes] is the state of a row.
	rowOf   []int32
	stateOf []int32
	// rep[class] is a byte of the class, to compute transitions with.
	rep    []byte
	budget int
}

// DenseMatcherBudget bounds a DenseMatcher's table, in entries.
const DenseMatcherBudget = 1 << 18

// NewDenseMatcher prepares m for dense matching; rows are built by Find.
func NewDenseMatcher(m *Matcher) *DenseMatcher {
	d := &DenseMatcher{m: m, rowOf: make([]int32, len(m.Fail)), budget: DenseMatcherBudget}
	var used [256]bool
	for c := 0; c < 256; c++ {
		if m.Root[c] != 0 {
			used[c] = true
		}
	}
	for _, c := range m.EdgeBytes {
		used[c] = true
	}
	// Class 0 is every byte in no pattern: from any state it leads back to the root.
	d.rep = append(d.rep, 0)
	for c := 0; c < 256; c++ {
		if used[c] && !('A' <= c && c <= 'Z') { // patterns are lower case
			d.class[c] = uint8(len(d.rep))
			d.rep = append(d.rep, byte(c))
		}
	}
	for c := 'A'; c <= 'Z'; c++ {
		d.class[c] = d.class[c+'a'-'A']
	}
	d.classes = int32(len(d.rep))
	d.reset()
	return d
}

// reset empties the table but for the root's row.
func (d *DenseMatcher) reset() {
	for i := range d.rowOf {
		d.rowOf[i] = -1
	}
	d.next, d.stateOf = d.next[:0], d.stateOf[:0]
	d.row(0)
}

// row returns state st's row, adding it.
func (d *DenseMatcher) row(st int32) int32 {
	if r := d.rowOf[st]; r >= 0 {
		return r
	}
	r := int32(len(d.next))
	d.next = append(d.next, 0) // class 0: back to the root, where no pattern ends
	for k := int32(1); k < d.classes; k++ {
		d.next = append(d.next, -1)
	}
	d.rowOf[st] = r
	d.stateOf = append(d.stateOf, st)
	return r
}

// fill computes the transition of row cur on class cls. When the table is full it starts over,
// keeping only the root and the target.
func (d *DenseMatcher) fill(cur, cls int32) int32 {
	to := d.step(d.stateOf[cur/d.classes], d.rep[cls])
	if int(d.rowOf[to]) < 0 && len(d.next)+int(d.classes) > d.budget {
		d.reset()
		return d.entry(to)
	}
	e := d.entry(to)
	d.next[cur+cls] = e
	return e
}

func (d *DenseMatcher) entry(to int32) int32 {
	e := d.row(to) << 1
	if d.m.Hit[to] >= 0 {
		e |= 1
	}
	return e
}

// step is the sparse transition of the Aho-Corasick automaton on lower-cased byte c.
func (d *DenseMatcher) step(st int32, c byte) int32 {
	m := d.m
	for {
		if st == 0 {
			return m.Root[c]
		}
		for k := m.EdgeStart[st]; k < m.EdgeStart[st+1]; k++ {
			if m.EdgeBytes[k] == c {
				return m.EdgeNext[k]
			}
		}
		st = m.Fail[st]
	}
}

// Find is Matcher.Find: the first pattern, by end position, that occurs in s ignoring ASCII case.
func (d *DenseMatcher) Find(s string) (string, bool) {
	class, next := &d.class, d.next
	cur := int32(0)
	for i := 0; i < len(s); i++ {
		cls := int32(class[s[i]])
		e := next[cur+cls]
		if e < 0 {
			e = d.fill(cur, cls)
			next = d.next
		}
		if e&1 != 0 {
			return d.m.Patterns[d.m.Hit[d.stateOf[(e>>1)/d.classes]]], true
		}
		cur = e >> 1
	}
	return "", false
}
