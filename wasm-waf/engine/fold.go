package engine

import (
	"strings"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// Much of a CRS request is configuration read back: the 901 rules set defaults for every TX
// setting the setup left unset, and every rule file opens with paranoia-level gates that compare
// a TX setting with a constant and skip the file's upper levels. On each request those rules give
// the same answers. The engine finds them once: it runs the request phases over an abstract TX in
// which each slot is known (unset, or set to a value) or unknown, starting with every slot unset
// as a transaction does. A rule that reads only known TX slots and constants and whose match has
// no effect but TX writes and flow control is decided right there, by evaluating it for real on
// those values; a rule that reads anything else makes the slots it may write unknown. Where paths
// meet (a skip's target, the next phase) a slot stays known only if every path agrees.
//
// At run time a decided rule costs a table look-up: one that does not match is passed over, one
// that matches stores its precomputed TX values and takes its skip. Decisions hold only while no
// ctl action has removed rules or TX targets: a removed rule would not have made its writes. After
// such a ctl the transaction evaluates every rule again, from a TX state that is exact because
// decided rules wrote in place, in order.

type foldKind uint8

const (
	foldNone    foldKind = iota // evaluated on each request
	foldNoMatch                 // never matches
	foldMatch                   // always matches, with these writes
)

// txWrite is a write to TX: to an interned slot, or (slot -1) to a key built at run time.
type txWrite struct {
	slot  int32
	unset bool
	key   string
	value string
}

type foldedRule struct {
	kind   foldKind
	writes []txWrite
	// last is MATCHED_VAR after the rule, when it matched a variable.
	last    matchedVar
	setLast bool
}

// slotState is what the analysis knows about a TX slot.
type slotState uint8

const (
	slotUnset slotState = iota
	slotSet
	slotUnknown
)

type abstractTX struct {
	state []slotState
	vals  []string
}

func newAbstractTX(slots int) *abstractTX {
	return &abstractTX{state: make([]slotState, slots), vals: make([]string, slots)}
}

func (a *abstractTX) clone() *abstractTX {
	return &abstractTX{state: append([]slotState(nil), a.state...), vals: append([]string(nil), a.vals...)}
}

// join returns what is known on both paths (nil: a path that is never taken).
func join(a, b *abstractTX) *abstractTX {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	out := a.clone()
	for s := range out.state {
		if a.state[s] != b.state[s] || a.state[s] == slotSet && a.vals[s] != b.vals[s] {
			out.state[s], out.vals[s] = slotUnknown, ""
		}
	}
	return out
}

func (a *abstractTX) known(slot int32) bool { return a.state[slot] != slotUnknown }

func (a *abstractTX) knownMacro(m *ruleset.Macro, matchedVarOK bool) bool {
	for _, p := range m.Parts {
		switch p.Var {
		case ruleset.VarNone, ruleset.VarRule:
		case ruleset.VarTX:
			if p.TXSlot < 0 || !a.known(p.TXSlot) {
				return false
			}
		case ruleset.VarMatchedVar, ruleset.VarMatchedVarName:
			if !matchedVarOK {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// captureSlots are TX.0 to TX.9, written by rules with the capture action.
const captureSlots = 10

// foldRules computes the decided rules of phases 1 and 2.
func (e *Engine) foldRules() []foldedRule {
	rs := e.rs
	folds := make([]foldedRule, len(rs.Rules))
	state := newAbstractTX(len(rs.TXKeys))
	scratch := newTransaction(e)
	for phase := 1; phase <= 2; phase++ {
		state = e.foldPhase(phase, state, folds, scratch, nil)
	}
	return folds
}

// A foldRun is the decided rules that follow one another in a phase from some position on, as
// the 901 rules' defaults and the paranoia gates do: applied at once, their writes in order,
// without visiting each rule. A run's last rule may skip (a gate): the run at the skip's target,
// if one starts there, follows it. Rules in runs have no effect but TX writes, MATCHED_VAR and
// skipAfter: no log, count skip or disruptive action.
type foldRun struct {
	exit     int32 // the position after the run: past its last rule, or its skip's target; 0: no run starts here
	from, to int32 // its writes, in foldPlan.writes
	last     int32 // the last rule of the run that sets MATCHED_VAR, or -1
}

type foldPlan struct {
	runs   [3][]foldRun // by phase and position
	writes [3][]txWrite
}

// planFoldRuns finds the fold runs of every position of the request phases.
func planFoldRuns(rs *ruleset.Ruleset, folds []foldedRule) foldPlan {
	var p foldPlan
	for phase, list := range rs.Phases {
		n := len(list)
		runs := make([]foldRun, n)
		// Each position's writes start where those of the positions before it end.
		starts := make([]int32, n+1)
		for pc, ri := range list {
			if f := &folds[ri]; f.kind == foldMatch && runnable(&rs.Rules[ri]) {
				p.writes[phase] = append(p.writes[phase], f.writes...)
			}
			starts[pc+1] = int32(len(p.writes[phase]))
		}
		for pc := n - 1; pc >= 0; pc-- {
			ri := list[pc]
			r, f := &rs.Rules[ri], &folds[ri]
			last := int32(-1)
			switch {
			case f.kind == foldMatch && runnable(r):
				if f.setLast {
					last = ri
				}
				if r.SkipAfter >= 0 {
					exit := int32(rs.Markers[r.SkipAfter].Pos[phase])
					if exit <= int32(pc) {
						exit = int32(n) // a marker behind: the rest of the phase is skipped
					}
					runs[pc] = foldRun{exit: exit, from: starts[pc], to: starts[pc+1], last: last}
					continue
				}
			case f.kind == foldNoMatch:
			default:
				continue // evaluated: no run
			}
			runs[pc] = foldRun{exit: int32(pc + 1), from: starts[pc], to: starts[pc+1], last: last}
			if next := pc + 1; next < n && runs[next].exit > int32(next) {
				// The next position's run goes on from here, its writes after these.
				runs[pc].exit, runs[pc].to = runs[next].exit, runs[next].to
				if runs[next].last >= 0 {
					runs[pc].last = runs[next].last
				}
			}
		}
		p.runs[phase] = runs
	}
	return p
}

// runnable reports whether a decided rule's match does nothing after its writes but skipAfter.
func runnable(r *ruleset.Rule) bool {
	return !r.Log && r.Skip == 0 && (r.Disruptive == ruleset.DisruptNone || r.Disruptive == ruleset.DisruptPass)
}

// applyFoldRuns makes the matches of the run at position pc and of the runs that follow it, and
// returns the position after them. sparse says the phase's loop visits only tx.visit: a run that
// starts at the next position it would visit follows too (the positions before it settle as they
// did then, and fold runs neither skip by count nor remove rules).
func (tx *Transaction) applyFoldRuns(phase, pc int, sparse bool) int {
	runs, all := tx.e.foldRuns.runs[phase], tx.e.foldRuns.writes[phase]
	last := int32(-1) // the last MATCHED_VAR of the runs: set once, it is a copy of two strings
	for pc < len(runs) && runs[pc].exit > int32(pc) {
		run := &runs[pc]
		writes := all[run.from:run.to]
		for i := range writes {
			switch w := &writes[i]; {
			case w.unset:
				tx.txDelete(w.slot)
			default: // txSetSlot without a call: no rule is being recorded between chain starters
				if !tx.txSet[w.slot] {
					tx.txSet[w.slot] = true
					tx.txOrder = append(tx.txOrder, w.slot)
				}
				tx.txVals[w.slot] = w.value
			}
		}
		if run.last >= 0 {
			last = run.last
		}
		if pc = int(run.exit); sparse {
			pc = nextVisit(tx.visit, pc)
		}
	}
	if last >= 0 {
		tx.lastMatched = tx.e.folds[last].last
	}
	tx.matchedVars = tx.matchedVars[:0]
	return pc
}

// foldPhase analyses one phase from the abstract TX at its start and returns the one at its end.
func (e *Engine) foldPhase(phase int, in *abstractTX, folds []foldedRule, scratch *Transaction, reach *reachAnalysis) *abstractTX {
	rs := e.rs
	list := rs.Phases[phase]
	arriving := make([]*abstractTX, len(list)+1) // states that reach pc by a skip
	var out *abstractTX
	cur := in.clone()
	jump := func(target int, s *abstractTX) {
		if target > len(list) {
			target = len(list)
		}
		arriving[target] = join(arriving[target], s.clone())
	}
	for pc, ri := range list {
		cur = join(cur, arriving[pc])
		if cur == nil {
			continue // unreachable without ctl removals: left to evaluation
		}
		r := &rs.Rules[ri]
		if reach != nil {
			reach.reached[ri] = true
		}
		if f, ok := e.decideUnless(reach, ri, cur, scratch); ok {
			folds[ri] = f
			if f.kind == foldNoMatch {
				continue
			}
			for _, w := range f.writes {
				cur.state[w.slot], cur.vals[w.slot] = slotSet, w.value
				if w.unset {
					cur.state[w.slot], cur.vals[w.slot] = slotUnset, ""
				}
			}
			switch {
			case r.SkipAfter >= 0:
				if target := int(rs.Markers[r.SkipAfter].Pos[phase]); target <= pc {
					out = join(out, cur)
				} else {
					jump(target, cur)
				}
				cur = nil
			case r.Skip > 0:
				jump(pc+1+int(r.Skip), cur)
				cur = nil
			}
			continue
		}
		// Evaluated on each request: it may or may not match, and then write and skip.
		e.forgetWrites(ri, cur)
		if r.SkipAfter >= 0 {
			if target := int(rs.Markers[r.SkipAfter].Pos[phase]); target <= pc {
				out = join(out, cur.clone())
			} else {
				jump(target, cur)
			}
		}
		if r.Skip > 0 {
			jump(pc+1+int(r.Skip), cur)
		}
		switch r.Disruptive {
		case ruleset.DisruptAllow, ruleset.DisruptAllowRequest, ruleset.DisruptAllowPhase:
			out = join(out, cur.clone()) // the phase (or request) may end here
		}
	}
	out = join(out, cur)
	out = join(out, arriving[len(list)])
	if out == nil {
		out = in.clone()
	}
	return out
}

// decide evaluates rule ri on the known TX values when it reads nothing else and a match of it
// has no effect but TX writes and flow control; ok is false when the rule must be evaluated on
// each request.
func (e *Engine) decide(ri int32, a *abstractTX, tx *Transaction) (f foldedRule, ok bool) {
	r := &e.rs.Rules[ri]
	if r.ChainNext >= 0 || r.Log || r.Capture || r.Severity >= 0 || len(r.Ctls) > 0 || len(r.Exclusions) > 0 {
		return f, false
	}
	switch r.Disruptive {
	case ruleset.DisruptNone, ruleset.DisruptPass:
	default:
		return f, false
	}
	for _, t := range r.Targets {
		if t.Var != ruleset.VarTX || t.TXSlot < 0 || t.KeyRegex >= 0 || !a.known(t.TXSlot) {
			return f, false
		}
	}
	if !a.knownMacro(&r.Op.Arg, false) {
		return f, false
	}
	tx.begin()
	for s, st := range a.state {
		if st == slotSet {
			tx.txSetSlot(int32(s), a.vals[s])
		}
	}
	if !tx.evalChain(ri) {
		return foldedRule{kind: foldNoMatch}, true
	}
	// It matches on every request; its writes are known if what they read is.
	for i := range r.SetVars {
		sv := &r.SetVars[i]
		if sv.Slot < 0 || !a.knownMacro(&sv.Value, len(r.Targets) > 0) {
			return f, false
		}
		if (sv.Op == ruleset.SetVarAdd || sv.Op == ruleset.SetVarSub) && !a.known(sv.Slot) {
			return f, false
		}
	}
	f = foldedRule{kind: foldMatch}
	for i := range r.SetVars {
		slot := r.SetVars[i].Slot
		dup := false
		for _, w := range f.writes {
			dup = dup || w.slot == slot
		}
		if dup {
			continue
		}
		v, set := tx.txGetSlot(slot)
		f.writes = append(f.writes, txWrite{slot: slot, unset: !set, value: strings.Clone(v)})
	}
	if len(r.Targets) > 0 {
		m := tx.lastMatched
		f.last, f.setLast = matchedVar{v: m.v, key: strings.Clone(m.key), value: strings.Clone(m.value)}, true
	}
	return f, true
}

// forgetWrites marks unknown every slot that rule ri's chain may write.
func (e *Engine) forgetWrites(ri int32, a *abstractTX) {
	rs := e.rs
	for i := ri; i >= 0; i = rs.Rules[i].ChainNext {
		r := &rs.Rules[i]
		if r.Capture {
			for s := int32(0); s < captureSlots && int(s) < len(a.state); s++ {
				a.state[s], a.vals[s] = slotUnknown, ""
			}
		}
		for k := range r.SetVars {
			sv := &r.SetVars[k]
			if sv.Slot >= 0 {
				a.state[sv.Slot], a.vals[sv.Slot] = slotUnknown, ""
				continue
			}
			// A key built at run time can name any slot that starts with its literal prefix.
			prefix := ""
			if len(sv.Key.Parts) > 0 && sv.Key.Parts[0].Var == ruleset.VarNone {
				prefix = strings.ToLower(sv.Key.Parts[0].Lit)
			}
			for s, key := range rs.TXKeys {
				if strings.HasPrefix(key, prefix) {
					a.state[s], a.vals[s] = slotUnknown, ""
				}
			}
		}
	}
}

// foldsApply reports whether decided rules may be used: no ctl has removed rules or TX targets.
func (tx *Transaction) foldsApply() bool {
	return !tx.txExcluded && len(tx.removedRanges) == 0 && len(tx.removedTags) == 0
}

// applyFold makes a decided rule's match: its TX writes and MATCHED_VAR.
func (tx *Transaction) applyFold(f *foldedRule) {
	for i := range f.writes {
		w := &f.writes[i]
		if w.unset {
			tx.txDelete(w.slot)
		} else {
			tx.txSetSlot(w.slot, w.value)
		}
	}
	tx.matchedVars = tx.matchedVars[:0]
	if f.setLast {
		tx.lastMatched = f.last
		tx.matchedVars = append(tx.matchedVars, f.last)
	}
}
