package engine

import (
	"slices"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// A ruleset compiled for one paranoia level still holds every level's rules: each CRS file's
// gates skip the upper levels on every request. The fold analysis (fold.go) already knows those
// skips; Prune leaves the rules behind them out of the artifact, so that a Wasm VM neither
// decodes nor plans what it would never run (at paranoia level 1, 40 % of the CRS's rules and
// 44 % of its regexes).
//
// The analysis' decisions hold only while no ctl action has removed rules or targets (fold.go):
// a ctl that removes a gate, or a TX target of it, opens the path behind it. So reachability is
// decided once per set of removal ctls that rules share, and in each analysis every decided rule
// that some other removal ctl may touch is taken as evaluated (it may or may not match). A rule
// is unreachable only when no path reaches it unless a ctl that also removes it has run: the
// CRS's 905110 removes every OWASP_CRS rule, gates and gated rules alike, and so keeps nothing
// reachable that was not.

// reachAnalysis is a fold analysis that records which chain starters some path reaches.
type reachAnalysis struct {
	evaluated []bool // rules taken as evaluated on each request, whatever their inputs
	reached   []bool
}

// decideUnless is decide, but for the rules the analysis takes as evaluated.
func (e *Engine) decideUnless(reach *reachAnalysis, ri int32, a *abstractTX, tx *Transaction) (foldedRule, bool) {
	if reach != nil && reach.evaluated[ri] {
		return foldedRule{}, false
	}
	return e.decide(ri, a, tx)
}

// removalCtl is a ctl that removes rules, or targets of rules, at run time.
type removalCtl struct {
	touches []bool // the rules it removes or removes a target of
	rules   bool   // it removes the rules themselves (not only targets)
}

// removalCtls lists the ruleset's ctl actions that remove rules or targets, with the rules each
// touches, by the engine's own tests (Transaction.removed, rulesTagged).
func removalCtls(rs *ruleset.Ruleset) []removalCtl {
	var out []removalCtl
	for i := range rs.Rules {
		for _, c := range rs.Rules[i].Ctls {
			var in func(r *ruleset.Rule) bool
			switch c.Kind {
			case ruleset.CtlRuleRemoveByID, ruleset.CtlRuleRemoveTargetByID:
				in = func(r *ruleset.Rule) bool {
					for k := 0; k+1 < len(c.IDRanges); k += 2 {
						if r.ID >= c.IDRanges[k] && r.ID <= c.IDRanges[k+1] {
							return true
						}
					}
					return false
				}
			case ruleset.CtlRuleRemoveByTag, ruleset.CtlRuleRemoveTargetByTag:
				in = func(r *ruleset.Rule) bool { return slices.Contains(r.Tags, c.Str) }
			default:
				continue
			}
			rc := removalCtl{touches: make([]bool, len(rs.Rules)),
				rules: c.Kind == ruleset.CtlRuleRemoveByID || c.Kind == ruleset.CtlRuleRemoveByTag}
			for ri := range rs.Rules {
				rc.touches[ri] = in(&rs.Rules[ri])
			}
			out = append(out, rc)
		}
	}
	return out
}

// Unreachable marks the chain starters of the request phases that no request can reach: every
// path to them takes a skip that is decided by the configuration, and no ctl action that could
// open the path leaves them in place.
func Unreachable(rs *ruleset.Ruleset) []bool {
	e := New(rs)
	ctls := removalCtls(rs)
	// removedBy is a rule's signature: which of the ctls remove it.
	removedBy := func(ri int) string {
		sig := make([]byte, len(ctls))
		for k, c := range ctls {
			if c.rules && c.touches[ri] {
				sig[k] = 1
			}
		}
		return string(sig)
	}
	reachedBySig := map[string][]bool{}
	unreachable := make([]bool, len(rs.Rules))
	for p := 1; p < len(rs.Phases); p++ {
		for _, ri := range rs.Phases[p] {
			sig := removedBy(int(ri))
			reached, ok := reachedBySig[sig]
			if !ok {
				reach := &reachAnalysis{evaluated: make([]bool, len(rs.Rules)), reached: make([]bool, len(rs.Rules))}
				for k, c := range ctls {
					if c.rules && sig[k] == 1 {
						continue // it removes the rule too
					}
					for r, touched := range c.touches {
						reach.evaluated[r] = reach.evaluated[r] || touched
					}
				}
				e.analyseReach(reach)
				reached, reachedBySig[sig] = reach.reached, reach.reached
			}
			unreachable[ri] = !reached[ri]
		}
	}
	return unreachable
}

// analyseReach runs the fold analysis over the request phases, recording what it reaches.
func (e *Engine) analyseReach(reach *reachAnalysis) {
	folds := make([]foldedRule, len(e.rs.Rules))
	state := newAbstractTX(len(e.rs.TXKeys))
	scratch := newTransaction(e)
	for phase := 1; phase <= 2; phase++ {
		state = e.foldPhase(phase, state, folds, scratch, reach)
	}
}

// Prune returns rs without its unreachable rules (see Unreachable), counted in Unreachable. A
// transaction decides every request as it would with the whole ruleset.
func Prune(rs *ruleset.Ruleset) (*ruleset.Ruleset, error) {
	drop := Unreachable(rs)
	out, err := rs.Without(drop)
	if err != nil {
		return nil, err
	}
	out.Unreachable = rs.Unreachable + len(rs.Rules) - len(out.Rules)
	return out, nil
}
