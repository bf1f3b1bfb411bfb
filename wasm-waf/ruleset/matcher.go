package ruleset

import (
	"errors"
	"fmt"
	"sort"
)

// Matcher is an Aho-Corasick automaton over ASCII-case-folded phrases (@pm, @pmFromFile). It is
// built at compile time and stored as flat arrays, so loading it costs nothing and matching is
// one loop without recursion.
type Matcher struct {
	Patterns []string // lower case
	// Root is the dense transition table of state 0 (every byte has a next state).
	Root [256]int32
	// Edges of state s (s > 0) are EdgeBytes/EdgeNext[EdgeStart[s]:EdgeStart[s+1]], sorted by byte.
	EdgeStart []int32
	EdgeBytes []byte
	EdgeNext  []int32
	Fail      []int32
	// Hit is the pattern recognized at a state (via its failure chain), or -1.
	Hit []int32
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// NewMatcher builds the automaton. Empty patterns are ignored.
func NewMatcher(patterns []string) *Matcher {
	m := &Matcher{}
	type node struct {
		next map[byte]int32
		term int32
	}
	nodes := []node{{next: map[byte]int32{}, term: -1}}
	for _, p := range patterns {
		if p == "" {
			continue
		}
		lp := make([]byte, len(p))
		for i := 0; i < len(p); i++ {
			lp[i] = lowerByte(p[i])
		}
		id := int32(len(m.Patterns))
		m.Patterns = append(m.Patterns, string(lp))
		s := int32(0)
		for _, c := range lp {
			n, ok := nodes[s].next[c]
			if !ok {
				n = int32(len(nodes))
				nodes = append(nodes, node{next: map[byte]int32{}, term: -1})
				nodes[s].next[c] = n
			}
			s = n
		}
		if nodes[s].term < 0 {
			nodes[s].term = id
		}
	}
	n := len(nodes)
	m.Fail = make([]int32, n)
	m.Hit = make([]int32, n)
	m.EdgeStart = make([]int32, n+1)
	// Breadth-first order so that failure links point to already finished states.
	order := make([]int32, 0, n)
	order = append(order, 0)
	m.Hit[0] = nodes[0].term
	for qi := 0; qi < len(order); qi++ {
		s := order[qi]
		keys := make([]int, 0, len(nodes[s].next))
		for c := range nodes[s].next {
			keys = append(keys, int(c))
		}
		sort.Ints(keys)
		for _, k := range keys {
			c := byte(k)
			child := nodes[s].next[c]
			if s == 0 {
				m.Fail[child] = 0
			} else {
				f := m.Fail[s]
				for {
					if nx, ok := nodes[f].next[c]; ok {
						m.Fail[child] = nx
						break
					}
					if f == 0 {
						m.Fail[child] = 0
						break
					}
					f = m.Fail[f]
				}
			}
			m.Hit[child] = nodes[child].term
			if m.Hit[child] < 0 {
				m.Hit[child] = m.Hit[m.Fail[child]]
			}
			order = append(order, child)
		}
	}
	// Renumber states in breadth-first order: failure links then always point to lower numbers,
	// which Load checks to guarantee that matching terminates on any artifact.
	renum := make([]int32, n)
	for newID, oldID := range order {
		renum[oldID] = int32(newID)
	}
	fail := make([]int32, n)
	hit := make([]int32, n)
	for oldID := 0; oldID < n; oldID++ {
		fail[renum[oldID]] = renum[m.Fail[oldID]]
		hit[renum[oldID]] = m.Hit[oldID]
	}
	m.Fail, m.Hit = fail, hit
	for c := 0; c < 256; c++ {
		if nx, ok := nodes[0].next[byte(c)]; ok {
			m.Root[c] = renum[nx]
		}
	}
	for newID := 0; newID < n; newID++ {
		s := order[newID]
		m.EdgeStart[newID] = int32(len(m.EdgeBytes))
		if newID == 0 {
			continue
		}
		keys := make([]int, 0, len(nodes[s].next))
		for c := range nodes[s].next {
			keys = append(keys, int(c))
		}
		sort.Ints(keys)
		for _, k := range keys {
			m.EdgeBytes = append(m.EdgeBytes, byte(k))
			m.EdgeNext = append(m.EdgeNext, renum[nodes[s].next[byte(k)]])
		}
	}
	m.EdgeStart[n] = int32(len(m.EdgeBytes))
	return m
}

// Find returns the first pattern (by end position) that occurs in s, ignoring ASCII case. The
// transition is written out in the loop rather than called: Find runs on most request values, and
// a call per input byte is what a Wasm interpreter pays most for.
func (m *Matcher) Find(s string) (string, bool) {
	st := int32(0)
	edgeStart, edgeBytes, edgeNext, fail := m.EdgeStart, m.EdgeBytes, m.EdgeNext, m.Fail
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
	transition:
		for {
			if st == 0 {
				st = m.Root[c]
				break
			}
			lo, hi := edgeStart[st], edgeStart[st+1]
			for hi-lo > 8 {
				mid := (lo + hi) / 2
				switch b := edgeBytes[mid]; {
				case b < c:
					lo = mid + 1
				case b > c:
					hi = mid
				default:
					st = edgeNext[mid]
					break transition
				}
			}
			for k := lo; k < hi; k++ {
				if edgeBytes[k] == c {
					st = edgeNext[k]
					break transition
				}
			}
			st = fail[st]
		}
		if h := m.Hit[st]; h >= 0 {
			return m.Patterns[h], true
		}
	}
	return "", false
}

// validate checks every index of a decoded automaton, so that matching stays in bounds and
// terminates. Locals and unsigned comparisons keep it cheap: it visits every state when a Wasm
// interpreter loads a ruleset.
func (m *Matcher) validate() error {
	states := len(m.Fail)
	if len(m.Hit) != states || len(m.EdgeStart) != states+1 || len(m.EdgeBytes) != len(m.EdgeNext) {
		return errors.New("matcher tables")
	}
	n, edges, patterns := uint32(states), uint32(len(m.EdgeBytes)), uint32(len(m.Patterns))
	for _, x := range m.Root {
		if uint32(x) >= n {
			return errors.New("matcher root")
		}
	}
	fail, hit, starts := m.Fail[:states], m.Hit[:states], m.EdgeStart[:states+1]
	for s := 0; s < states; s++ {
		if uint32(starts[s]) > uint32(starts[s+1]) || uint32(starts[s+1]) > edges ||
			uint32(fail[s]) >= n || (hit[s] != -1 && uint32(hit[s]) >= patterns) {
			return fmt.Errorf("matcher state %d", s)
		}
		// Failure links point to shallower states, so following them terminates.
		if s > 0 && int(fail[s]) >= s && fail[s] != 0 {
			return fmt.Errorf("matcher failure link %d", s)
		}
	}
	for _, x := range m.EdgeNext {
		if uint32(x) >= n {
			return errors.New("matcher edge")
		}
	}
	return nil
}
