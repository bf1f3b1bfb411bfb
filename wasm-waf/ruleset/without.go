package ruleset

import (
	"fmt"
	"slices"
)

// Without returns a copy of rs without the chains whose starters drop marks, as if they had never
// been written: the phase lists, chain links, marker positions and skip counts follow, and the
// regexes and automata only they used go too. drop is indexed by rule; marking a rule that is
// not a chain starter is an error. rs is not modified.
func (rs *Ruleset) Without(drop []bool) (*Ruleset, error) {
	if len(drop) != len(rs.Rules) {
		return nil, fmt.Errorf("ruleset: %d drop marks for %d rules", len(drop), len(rs.Rules))
	}
	starter := make([]bool, len(rs.Rules))
	for _, list := range rs.Phases {
		for _, ri := range list {
			starter[ri] = true
		}
	}
	gone := make([]bool, len(rs.Rules))
	for ri, d := range drop {
		if !d {
			continue
		}
		if !starter[ri] {
			return nil, fmt.Errorf("ruleset: rule %d (index %d) is not a chain starter of a request phase", rs.Rules[ri].ID, ri)
		}
		for i := int32(ri); i >= 0; i = rs.Rules[i].ChainNext {
			gone[i] = true
		}
	}

	out := *rs
	out.Rules = nil
	newIndex := make([]int32, len(rs.Rules))
	for i := range rs.Rules {
		newIndex[i] = -1
		if gone[i] {
			continue
		}
		newIndex[i] = int32(len(out.Rules))
		r := rs.Rules[i]
		// compactTables renumbers regex references in place: the copy must not share them.
		r.Targets, r.Exclusions, r.Ctls = slices.Clone(r.Targets), slices.Clone(r.Exclusions), slices.Clone(r.Ctls)
		out.Rules = append(out.Rules, r)
	}
	for i := range out.Rules {
		if n := out.Rules[i].ChainNext; n >= 0 {
			out.Rules[i].ChainNext = newIndex[n]
		}
	}

	// kept[p][pos] is how many of phase p's starters before pos remain: a position's new index.
	var kept [3][]int32
	for p, list := range rs.Phases {
		kept[p] = make([]int32, len(list)+1)
		var phase []int32
		for pos, ri := range list {
			kept[p][pos+1] = kept[p][pos]
			if !gone[ri] {
				kept[p][pos+1]++
				phase = append(phase, newIndex[ri])
			}
		}
		out.Phases[p] = phase
	}
	for p, list := range rs.Phases {
		for pos, ri := range list {
			if gone[ri] || rs.Rules[ri].Skip <= 0 {
				continue
			}
			// skip:n counts the starters after this one; those that went no longer count.
			end := min(pos+1+int(rs.Rules[ri].Skip), len(list))
			out.Rules[newIndex[ri]].Skip = kept[p][end] - kept[p][pos+1]
		}
	}
	out.Markers = slices.Clone(rs.Markers)
	for m := range out.Markers {
		for p := range out.Markers[m].Pos {
			out.Markers[m].Pos[p] = kept[p][rs.Markers[m].Pos[p]]
		}
	}
	out.Regexes, out.Matchers = slices.Clone(rs.Regexes), slices.Clone(rs.Matchers)
	out.compactTables()
	if err := out.validate(false); err != nil {
		return nil, err
	}
	return &out, nil
}
