package engine

import (
	"strconv"
	"strings"
	"unsafe"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
	"github.com/meshaccel/meshaccel/wasm-waf/transform"
)

// evalPhase runs the chain-head rules of one phase in order. Flow control (skip, skipAfter,
// allow) moves the program counter; nothing recurses.
func (tx *Transaction) evalPhase(phase int) {
	rs := tx.e.rs
	list := rs.Phases[phase]
	tx.skip = 0
	if tx.added != tx.dataAdded {
		tx.dataChanged() // the phase's request data has just been parsed
	}
	if tx.allow == ruleset.DisruptAllow || (tx.allow == ruleset.DisruptAllowRequest && phase <= 2) {
		return
	}
	tx.notePhaseSources(phase)
	// In step, the loop visits only the chain starters that may not settle as they did then
	// (replay.go); from the first rule that decides otherwise, or skips rules by count, every rule.
	sparse := tx.inStep
	if sparse {
		tx.findVisits(phase)
	} else {
		tx.markFloor[phase] = tx.gen
	}
	tx.acted[phase] = tx.acted[phase][:0]
	replay := &tx.e.replay
	var log *effectLog // of the chain starter being decided
	for pc := 0; pc < len(list); pc++ {
		if sparse {
			if !tx.inStep || tx.skip > 0 {
				sparse = false
			} else if pc = nextVisit(tx.visit, pc); pc >= len(list) {
				break
			}
		}
		if tx.intr != nil || tx.mode == ruleset.EngineOff {
			break
		}
		ri := list[pc]
		r := &rs.Rules[ri]
		log = nil
		if ruleVisitHook != nil {
			ruleVisitHook(r.ID)
		}
		if tx.removed(r) {
			continue
		}
		if tx.skip > 0 {
			tx.skip--
			continue
		}
		if f := &tx.e.folds[ri]; f.kind != foldNone && tx.foldsApply() {
			if tx.e.foldRuns.runs[phase][pc].exit > int32(pc) {
				pc = tx.applyFoldRuns(phase, pc, sparse) - 1
				continue
			}
			if f.kind == foldNoMatch {
				continue
			}
			tx.applyFold(f)
		} else if m := &tx.marks[ri]; tx.inStep && m.gen >= tx.markFloor[phase] && !replay.always[ri] &&
			(!m.effects && (replay.deps[ri]&tx.changed == 0 || tx.missesNewValues(ri)) ||
				m.effects && m.logged && replay.deps[ri]&tx.changed == 0) {
			// In step, and reading what it read then (but for values it misses): it decides and acts as
			// it did then (replay.go).
			m.gen = tx.gen
			if !m.effects {
				tx.matchedVars = tx.matchedVars[:0]
				continue
			}
			tx.acted[phase] = append(tx.acted[phase], int32(pc))
			if log = &tx.effects[ri]; !tx.replayEffects(ri, log) {
				continue
			}
		} else if tx.knownMiss(ri) {
			tx.decided(phase, ri, false, nil)
			tx.matchedVars = tx.matchedVars[:0]
			continue
		} else {
			actions := tx.actions
			tx.matchedVars = tx.matchedVars[:0]
			log = tx.record(ri)
			matched := tx.evalChain(ri)
			tx.recording, log.matched = nil, matched
			if tx.decided(phase, ri, matched || tx.actions != actions, log); tx.marks[ri].effects {
				tx.acted[phase] = append(tx.acted[phase], int32(pc))
			}
			if !matched {
				continue
			}
		}
		// The whole chain matched: flow and disruptive actions of the chain starter.
		if r.Log {
			tx.logMatch(r, log)
		}
		if r.Skip > 0 {
			tx.skip = r.Skip
		}
		switch r.Disruptive {
		case ruleset.DisruptDeny, ruleset.DisruptDrop, ruleset.DisruptRedirect:
			if tx.mode == ruleset.EngineOn {
				tx.interrupt(r)
			}
		case ruleset.DisruptAllow, ruleset.DisruptAllowRequest, ruleset.DisruptAllowPhase:
			if tx.mode == ruleset.EngineOn {
				tx.allow = r.Disruptive
				return
			}
		}
		if r.SkipAfter >= 0 {
			target := int(rs.Markers[r.SkipAfter].Pos[phase])
			if target <= pc {
				// Markers behind the current rule: ModSecurity skips the rest of the phase.
				return
			}
			pc = target - 1
		}
	}
}

// ruleVisitHook observes every chain starter that a phase's loop visits (tests count them).
var ruleVisitHook func(ruleID int32)

func (tx *Transaction) interrupt(r *ruleset.Rule) {
	status := int(r.Status)
	action := "deny"
	switch r.Disruptive {
	case ruleset.DisruptDrop:
		action = "drop"
	case ruleset.DisruptRedirect:
		action = "redirect"
		if status == 0 {
			status = 302
		}
	}
	if status == 0 {
		status = 403
	}
	tx.intrValue = Interruption{RuleID: int(r.ID), Status: status, Action: action, Location: r.RedirectTo}
	tx.intr = &tx.intrValue
}

func (tx *Transaction) removed(r *ruleset.Rule) bool {
	for i := 0; i+1 < len(tx.removedRanges); i += 2 {
		if r.ID >= tx.removedRanges[i] && r.ID <= tx.removedRanges[i+1] {
			return true
		}
	}
	for _, t := range tx.removedTags {
		for _, rt := range r.Tags {
			if rt == t {
				return true
			}
		}
	}
	return false
}

// logMatch logs the match of chain starter r: as log recorded it when it was replayed, and into log
// when it is being recorded.
func (tx *Transaction) logMatch(r *ruleset.Rule, log *effectLog) {
	tx.matched = append(tx.matched, int(r.ID))
	if log != nil && log.replayed {
		tx.matches = append(tx.matches, log.match)
		return
	}
	m := Match{
		RuleID:   int(r.ID),
		Msg:      tx.expand(&r.Msg),
		Data:     tx.expand(&r.LogData),
		Severity: int(r.Severity),
		Tags:     r.Tags,
	}
	tx.matches = append(tx.matches, m)
	if log != nil {
		m.Msg, m.Data = strings.Clone(m.Msg), strings.Clone(m.Data)
		log.match = m
	}
}

// evalChain evaluates a chain starter and its chained rules in a loop.
func (tx *Transaction) evalChain(ri int32) bool {
	rules := tx.e.rs.Rules
	for i := ri; i >= 0; i = rules[i].ChainNext {
		tx.ruleIndex = i
		if !tx.evalRule(i) {
			return false
		}
	}
	tx.ruleIndex = ri
	return true
}

// evalRule evaluates one rule: every value of every target, transformed, against the operator.
// Non-disruptive actions run on each match, as in ModSecurity.
func (tx *Transaction) evalRule(ri int32) bool {
	r := &tx.e.rs.Rules[ri]
	if r.Op.Kind == ruleset.OpUnconditional && len(r.Targets) == 0 {
		tx.onMatch(r, &val{id: -1}, "")
		return true
	}
	if tx.e.singleTX[ri] && !tx.txExcluded {
		return tx.evalSingleTX(ri, r)
	}
	head := &tx.e.rs.Rules[tx.e.headOf[ri]]
	group, summary := tx.groupOf(ri, head)
	// A rule that reads only its values misses the contents it missed, and its group's summary
	// says what it said of the same contents.
	var epoch uint32
	if group >= 0 {
		epoch = tx.contentEpoch(group, r, head)
	}
	pure := tx.e.pureMiss[ri]
	if pure && epoch != 0 {
		if tx.ruleMissed[ri] == epoch {
			return false
		}
		if fresh, ok := tx.newSinceMiss(ri, group); ok {
			return tx.evalNew(ri, r, fresh, epoch)
		}
	}
	if summary >= 0 && !(pure && tx.fewUnknown(epoch, ri, group, r, head)) && !tx.mayMatchIn(epoch, ri, group, summary, r, head) {
		return false
	}
	matched := false
	for ti := range r.Targets {
		t := &r.Targets[ti]
		var vals []val
		if group >= 0 {
			vals = tx.groupValues(group, r, head, ti) // shared: read only (Count targets never share a group)
		} else {
			vals = tx.collect(tx.vals[:0], t, r, head)
			if t.Count {
				vals = append(vals[:0], val{v: t.Var, key: t.Key, value: strconv.Itoa(len(vals)), id: -1})
			}
		}
		for vi := range vals {
			if v := &vals[vi]; !(pure && tx.missed(ri, v)) && tx.evalValue(ri, r, v, pure) {
				matched = true
			}
		}
		if group < 0 {
			tx.vals = vals[:0]
		}
	}
	if pure && epoch != 0 && !matched {
		tx.ruleMissed[ri] = epoch
	}
	return matched
}

// evalValue runs rule r's operator on v (after its transformations) and its actions on a match.
// A pure rule remembers a miss.
func (tx *Transaction) evalValue(ri int32, r *ruleset.Rule, v *val, pure bool) bool {
	var matched bool
	if r.MultiMatch {
		matched = tx.multiMatch(r, v)
	} else if tv := tx.transformed(v, r.Transform); tx.operator(ri, r, v, tv, r.Transform) {
		matched = true
		tx.onMatch(r, v, tv)
	}
	if !matched && pure {
		tx.rememberMiss(ri, v)
	}
	return matched
}

// evalNew is evalRule for a pure rule that missed every value of its group's previous contents:
// only the values new since then can match, and they come in the order evalRule would visit them.
func (tx *Transaction) evalNew(ri int32, r *ruleset.Rule, fresh []val, epoch uint32) bool {
	matched := false
	for i := range fresh {
		if v := &fresh[i]; !tx.missed(ri, v) && tx.evalValue(ri, r, v, true) {
			matched = true
		}
	}
	if !matched {
		tx.ruleMissed[ri] = epoch
	}
	return matched
}

// evalSingleTX is evalRule for a rule over one constant TX key (or its count) without
// transformations, while no ctl exclusion names a TX key.
func (tx *Transaction) evalSingleTX(ri int32, r *ruleset.Rule) bool {
	t := &r.Targets[0]
	value, set := tx.txGetSlot(t.TXSlot)
	if t.Count {
		value = "0"
		if set {
			value = "1"
		}
	} else if !set {
		return false
	}
	v := val{v: ruleset.VarTX, key: t.Key, value: value, id: -1}
	if !tx.operator(ri, r, &v, value, 0) {
		return false
	}
	tx.onMatch(r, &v, value)
	return true
}

// multiMatch runs the operator on the value before and after each transformation step.
func (tx *Transaction) multiMatch(r *ruleset.Rule, v *val) bool {
	ri := tx.ruleIndex
	matched := false
	prev := v.value
	if tx.operator(ri, r, v, prev, 0) {
		matched = true
		tx.onMatch(r, v, prev)
	}
	for _, n := range tx.e.nodePath[r.Transform] {
		tv := tx.transformed(v, n)
		if tv == prev {
			continue
		}
		prev = tv
		if tx.operator(ri, r, v, tv, n) {
			matched = true
			tx.onMatch(r, v, tv)
		}
	}
	return matched
}

// transformed returns v.value after the pipeline ending at node, using the cache for values
// with an id. The cached case is small enough to be inlined: it is most calls, and a call costs
// more than the look-up in a Wasm interpreter.
func (tx *Transaction) transformed(v *val, node int32) string {
	if node == 0 {
		return v.value
	}
	// Values without an id (-1) index below zero: no unsigned index is in range.
	if i := uint(v.id*tx.nodes + node); i < uint(len(tx.cache)) {
		if s := &tx.cache[i]; s.gen == v.stamp {
			return s.val
		}
	}
	return tx.transform(v, node)
}

func (tx *Transaction) transform(v *val, node int32) string {
	path := tx.e.nodePath[node]
	nodes := int32(len(tx.e.rs.TransformNodes))
	cur := v.value
	start := 0
	if v.id >= 0 {
		base := v.id * nodes
		if need := int(base + nodes); need > len(tx.cache) {
			tx.cache = tx.growCache(tx.cache, v.id)
		}
		// Resume from the deepest cached step.
		for k := len(path) - 1; k >= 0; k-- {
			if s := &tx.cache[base+path[k]]; s.gen == v.stamp {
				if k == len(path)-1 {
					return s.val
				}
				cur, start = s.val, k+1
				break
			}
		}
		// While the value is still the original, its byte set tells which steps leave it as it is,
		// and the first step that changes it gives what the one-step pipeline of that
		// transformation gives: pipelines that differ only in steps without effect share it.
		var raw *ruleset.ByteSet
		for k := start; k < len(path); k++ {
			t := tx.e.rs.TransformNodes[path[k]].T
			if sameString(cur, v.value) {
				if raw == nil {
					raw = tx.present(v, 0, v.value)
				}
				if transform.Unchanged(t, (*[4]uint64)(raw)) {
					tx.cache[base+path[k]] = cacheSlot{gen: v.stamp, val: cur}
					continue
				}
				if one := tx.e.oneStep[t]; one > 0 && one != path[k] {
					if s := &tx.cache[base+one]; s.gen == v.stamp {
						cur = s.val
					} else {
						cur = transform.Apply(t, cur, &tx.scratch)
						*s = cacheSlot{gen: v.stamp, val: cur}
					}
					tx.cache[base+path[k]] = cacheSlot{gen: v.stamp, val: cur}
					continue
				}
			}
			cur = transform.Apply(t, cur, &tx.scratch)
			tx.cache[base+path[k]] = cacheSlot{gen: v.stamp, val: cur}
		}
		return cur
	}
	for _, n := range path {
		cur = transform.Apply(tx.e.rs.TransformNodes[n].T, cur, &tx.scratch)
	}
	return cur
}

func (tx *Transaction) growCache(c []cacheSlot, id int32) []cacheSlot {
	out := make([]cacheSlot, growCacheSize(len(c), int(id+1)*int(tx.nodes), int(tx.nodes)))
	copy(out, c)
	return out
}

// growCacheSize is the length a per-(value, pipeline) cache of length n grows to so that it
// holds need entries: whole rows of rowLen, with room for more values.
func growCacheSize(n, need, rowLen int) int {
	n = max(2*n, need+need/2)
	return (n + rowLen - 1) / rowLen * rowLen
}

// folded returns the case-folded form of a transformed value for prefilter checks, cached like
// transformations.
func (tx *Transaction) folded(v *val, node int32, tv string) string {
	if i := uint(v.id*tx.nodes + node); i < uint(len(tx.fcache)) {
		if s := &tx.fcache[i]; s.gen == v.stamp {
			return s.val
		}
	}
	return tx.fold(v, node, tv)
}

func (tx *Transaction) fold(v *val, node int32, tv string) string {
	if v.id < 0 {
		tx.scratch2 = ruleset.FoldString(tx.scratch2[:0], tv)
		return string(tx.scratch2)
	}
	nodes := int32(len(tx.e.rs.TransformNodes))
	idx := v.id*nodes + node
	if int(idx) >= len(tx.fcache) {
		tx.fcache = tx.growCache(tx.fcache, v.id)
	}
	if s := &tx.fcache[idx]; s.gen == v.stamp {
		return s.val
	}
	if !tx.present(v, node, tv).Intersects(&foldable) {
		tx.fcache[idx] = cacheSlot{gen: v.stamp, val: tv}
		return tv
	}
	b := ruleset.FoldString(tx.scratch2[:0], tv)
	tx.scratch2 = b
	f := tv
	if string(b) != tv {
		f = string(b)
	}
	tx.fcache[idx] = cacheSlot{gen: v.stamp, val: f}
	return f
}

// foldable are the bytes that case folding can change: upper-case ASCII and UTF-8 sequences.
var foldable = ruleset.ByteSet{0, 0x07fffffe, ^uint64(0), ^uint64(0)}

// sameString reports whether a and b are the same bytes in memory: transformations return their
// input itself when they change nothing.
func sameString(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

type presenceSlot struct {
	gen  uint32
	bits ruleset.ByteSet
}

// present returns the set of bytes that occur in a transformed value, cached like
// transformations: byte-set prefilters then cost four AND operations per rule.
func (tx *Transaction) present(v *val, node int32, tv string) *ruleset.ByteSet {
	if i := uint(v.id*tx.nodes + node); i < uint(len(tx.pcache)) {
		if s := &tx.pcache[i]; s.gen == v.stamp {
			return &s.bits
		}
	}
	return tx.presence(v, node, tv)
}

// presenceSlot returns v's byte-set cache entry for node (v.id >= 0), growing the cache to
// whole rows: ids are not handed out in order, so another id's row says nothing about v's.
func (tx *Transaction) presenceSlot(v *val, node int32) *presenceSlot {
	idx := int(v.id*tx.nodes + node)
	if idx >= len(tx.pcache) {
		grown := make([]presenceSlot, growCacheSize(len(tx.pcache), int(v.id+1)*int(tx.nodes), int(tx.nodes)))
		copy(grown, tx.pcache)
		tx.pcache = grown
	}
	return &tx.pcache[idx]
}

func (tx *Transaction) presence(v *val, node int32, tv string) *ruleset.ByteSet {
	var slot *presenceSlot
	if node != 0 && v.id >= 0 && sameString(tv, v.value) {
		// The pipeline left the value as it was: share the untransformed set, and remember it
		// under this pipeline too.
		bits := *tx.present(v, 0, tv)
		s := tx.presenceSlot(v, node)
		*s = presenceSlot{gen: v.stamp, bits: bits}
		return &s.bits
	}
	if node != 0 && v.id >= 0 {
		// A last step that maps or drops bytes one by one: the set follows from its input's, with
		// no pass over the value (transform.Present).
		if tn := &tx.e.rs.TransformNodes[node]; tx.e.derivesPresence[tn.T] {
			in := tx.present(v, tn.Parent, tx.transformed(v, tn.Parent))
			if bits, ok := transform.Present(tn.T, (*[4]uint64)(in)); ok {
				s := tx.presenceSlot(v, node)
				*s = presenceSlot{gen: v.stamp, bits: ruleset.ByteSet(bits)}
				return &s.bits
			}
		}
	}
	if v.id >= 0 {
		slot = tx.presenceSlot(v, node)
		if slot.gen == v.stamp {
			return &slot.bits
		}
	} else {
		slot = &tx.ptemp
	}
	slot.gen = v.stamp
	// Four registers instead of read-modify-write through memory for every byte.
	var b0, b1, b2, b3 uint64
	for i := 0; i < len(tv); i++ {
		c := tv[i]
		switch c >> 6 {
		case 0:
			b0 |= 1 << (c & 63)
		case 1:
			b1 |= 1 << (c & 63)
		case 2:
			b2 |= 1 << (c & 63)
		default:
			b3 |= 1 << (c & 63)
		}
	}
	slot.bits = ruleset.ByteSet{b0, b1, b2, b3}
	return &slot.bits
}

// onMatch records the matched variable and runs the rule's non-disruptive actions.
func (tx *Transaction) onMatch(r *ruleset.Rule, v *val, tv string) {
	tx.actions++
	if v.v != ruleset.VarNone {
		tx.lastMatched = matchedVar{v: v.v, key: v.key, value: tv}
		tx.matchedVars = append(tx.matchedVars, tx.lastMatched)
	}
	for i := range r.SetVars {
		tx.setvar(&r.SetVars[i])
	}
	for i := range r.Ctls {
		if tx.recording != nil {
			tx.recording.ctls = append(tx.recording.ctls, ruleCtl{rule: int32(tx.e.ruleIndex(r)), ctl: int32(i)})
		}
		tx.ctl(r, &r.Ctls[i])
	}
	if r.Severity >= 0 && int(r.Severity) < tx.highestSeverity {
		tx.highestSeverity = int(r.Severity)
	}
}

func (tx *Transaction) ctl(r *ruleset.Rule, c *ruleset.Ctl) {
	switch c.Kind {
	case ruleset.CtlRuleEngine:
		tx.mode = ruleset.EngineMode(c.Num)
	case ruleset.CtlRuleRemoveByID:
		tx.removedRanges = append(tx.removedRanges, c.IDRanges...)
	case ruleset.CtlRuleRemoveByTag:
		tx.removedTags = append(tx.removedTags, c.Str)
	case ruleset.CtlRuleRemoveTargetByID, ruleset.CtlRuleRemoveTargetByTag:
		if c.Target.Var == ruleset.VarTX {
			tx.txExcluded = true
		}
		if c.Kind == ruleset.CtlRuleRemoveTargetByTag {
			tx.exclusions = append(tx.exclusions, targetExclusion{lo: 1, hi: 0, tag: c.Str, tagged: tx.e.rulesTagged(c.Str), ex: c.Target})
			break
		}
		tx.exclusions = append(tx.exclusions, targetExclusion{lo: c.IDRanges[0], hi: c.IDRanges[1], ex: c.Target})
	case ruleset.CtlRequestBodyProcessor:
		tx.bodyProcessor = c.Str
		tx.setSingle(ruleset.VarReqbodyProcessor, c.Str)
	case ruleset.CtlRequestBodyAccess:
		tx.bodyAccess = c.Num != 0
	case ruleset.CtlForceRequestBodyVariable:
		tx.forceBodyVar = c.Num != 0
	case ruleset.CtlRequestBodyLimit:
		tx.bodyLimit = int(c.Num)
	}
}

// TX variables.

// txGetSlot returns slot s's value, "" when unset: txVals keeps what earlier transactions set
// (begin only clears txSet).
func (tx *Transaction) txGetSlot(s int32) (string, bool) {
	if !tx.txSet[s] {
		return "", false
	}
	return tx.txVals[s], true
}

func (tx *Transaction) txSetSlot(s int32, v string) {
	if tx.recording != nil {
		tx.recording.note(txWrite{slot: s, value: v})
	}
	if !tx.txSet[s] {
		tx.txSet[s] = true
		tx.txOrder = append(tx.txOrder, s)
	}
	tx.txVals[s] = v
}

func (tx *Transaction) txDelete(s int32) {
	if !tx.txSet[s] {
		return
	}
	if tx.recording != nil {
		tx.recording.note(txWrite{slot: s, unset: true})
	}
	tx.txSet[s] = false
	tx.txVals[s] = ""
	for i, o := range tx.txOrder {
		if o == s {
			tx.txOrder = append(tx.txOrder[:i], tx.txOrder[i+1:]...)
			break
		}
	}
}

func (tx *Transaction) txGet(key string) (string, bool) {
	if s, ok := tx.e.txIndex[key]; ok {
		return tx.txGetSlot(s)
	}
	return tx.txDyn.get(key)
}

func (tx *Transaction) setvar(sv *ruleset.SetVar) {
	slot := sv.Slot
	var key string
	if slot < 0 {
		key = lower(tx.expand(&sv.Key))
		if s, ok := tx.e.txIndex[key]; ok {
			slot = s
		}
	}
	if sv.Op == ruleset.SetVarDelete {
		if slot >= 0 {
			tx.txDelete(slot)
		} else {
			tx.txDynDelete(key)
		}
		return
	}
	value := tx.expand(&sv.Value)
	if sv.Op == ruleset.SetVarAdd || sv.Op == ruleset.SetVarSub {
		var cur string
		if slot >= 0 {
			cur, _ = tx.txGetSlot(slot)
		} else {
			cur, _ = tx.txDyn.get(key)
		}
		a, _ := strconv.Atoi(strings.TrimSpace(cur))
		b, _ := strconv.Atoi(strings.TrimSpace(value))
		if sv.Op == ruleset.SetVarAdd {
			a += b
		} else {
			a -= b
		}
		value = itoa(a)
	}
	if slot >= 0 {
		tx.txSetSlot(slot, value)
		return
	}
	tx.txDynSet(key, value)
}

// txDynSet and txDynDelete write TX keys built at run time, in the order they were first set.
func (tx *Transaction) txDynSet(key, value string) {
	if tx.recording != nil {
		tx.recording.note(txWrite{slot: -1, key: key, value: value})
	}
	tx.txDyn.set(key, value)
}

func (tx *Transaction) txDynDelete(key string) {
	if tx.txDyn.delete(key) && tx.recording != nil {
		tx.recording.note(txWrite{slot: -1, key: key, unset: true})
	}
}

var smallInts = func() [1024]string {
	var out [1024]string
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}()

func itoa(n int) string {
	if n >= 0 && n < len(smallInts) {
		return smallInts[n]
	}
	return strconv.Itoa(n)
}

// expand evaluates a macro. Constant macros return their text without allocating.
func (tx *Transaction) expand(m *ruleset.Macro) string {
	switch len(m.Parts) {
	case 0:
		return ""
	case 1:
		if m.Parts[0].Var == ruleset.VarNone {
			return m.Parts[0].Lit
		}
		return tx.macroValue(&m.Parts[0])
	}
	var b []byte
	if !tx.expanding {
		b = tx.macroBuf[:0]
	}
	tx.expanding = true
	defer func() { tx.expanding = false }()
	for i := range m.Parts {
		p := &m.Parts[i]
		if p.Var == ruleset.VarNone {
			b = append(b, p.Lit...)
		} else {
			b = append(b, tx.macroValue(p)...)
		}
	}
	if cap(b) > cap(tx.macroBuf) {
		tx.macroBuf = b
	}
	return string(b)
}

func (tx *Transaction) macroValue(p *ruleset.MacroPart) string {
	switch p.Var {
	case ruleset.VarTX:
		if p.TXSlot >= 0 {
			v, _ := tx.txGetSlot(p.TXSlot)
			return v
		}
		v, _ := tx.txGet(p.Key)
		return v
	case ruleset.VarMatchedVar:
		return tx.lastMatched.value
	case ruleset.VarMatchedVarName:
		return tx.lastMatched.name()
	case ruleset.VarRule:
		r := &tx.e.rs.Rules[tx.ruleIndex]
		switch p.Key {
		case "id":
			return itoa(int(r.ID))
		case "msg":
			return tx.expand(&r.Msg)
		case "severity":
			return itoa(int(r.Severity))
		case "logdata":
			return tx.expand(&r.LogData)
		}
		return ""
	}
	t := ruleset.Target{Var: p.Var, Key: p.Key, KeyRegex: -1, TXSlot: -1}
	vals := tx.collect(tx.mvals[:0], &t, nil, nil)
	out := ""
	if len(vals) > 0 {
		out = vals[0].value
	}
	tx.mvals = vals[:0]
	return out
}
