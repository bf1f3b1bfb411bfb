package engine

import (
	"math/bits"
	"strings"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// Replay. Request after request, most rules of a phase decide as they did for the previous
// request on the same Transaction. While every rule before has decided as it did then (the
// transaction is "in step"), TX and MATCHED_VAR hold what they held at the same point then, since
// only rules write them. A chain starter that reads only sources holding what they held at the
// start of the same phase then decides as it did: if it missed, it misses, and the phase's loop
// does not even visit it; if it ran actions, they are done again from its effect log. One that
// missed then, over lists changed by a few entries' values, runs its operator on those values
// only (missesNewValues).
//
// Any other rule is evaluated. The transaction stays in step if the rule reads nothing that
// changed (it decides and acts as it did then) or if it runs no action now and ran none then.
// Otherwise every later rule of the transaction is evaluated.

// replaySource is what a phase's rules read of a source: a single variable, or of a list its
// whole contents, its entries' names (the _NAMES variables and & counts), or the values under one
// name (REQUEST_HEADERS:Content-Length).
type replaySource struct {
	src  source
	kind replayKind
	key  string // lower case, for replayKeyed
}

type replayKind uint8

const (
	replayWhole replayKind = iota
	replayNames
	replayKeyed
)

// replayPlan says what each chain starter reads, as bits into its phase's sources.
type replayPlan struct {
	sources [3][]replaySource
	lists   [3]uint32 // the list sources each phase's rules read, by bit
	deps    []uint64  // by chain starter, chain links included
	always  []bool    // reads a variable the plan does not follow (or a 65th source): never settled
	// Of a chain starter alone: what each of its targets reads (targetDeps[targetBase[ri]+k]),
	// what its operator's argument reads, and whether its values can be tried one by one
	// without actions (not a negated operator that captures).
	targetBase []int32
	targetDeps []uint64
	opDeps     []uint64
	tryValues  []bool
	// Of each phase, as bit sets over the positions in its list: the chain starters visited
	// whatever their marks say (always, and folded rules), and by source bit those that read it.
	visitAlways [3][]uint64
	readers     [3][][]uint64
}

// ruleMark is how a chain starter was last decided. A loop in step does not visit the rules that
// settle as misses (planVisits), so their marks keep the transaction they were made in; they
// still tell how the rule decided in the previous one. A rule reached in step was reached then
// too (every rule before it decided as then), where it was either visited and marked, or passed
// by in step as well. Marks older than the phase's last run out of step (markFloor) are of rules
// not reached since, and are never trusted.
type ruleMark struct {
	gen     uint32 // the transaction (Transaction.gen); 0: never
	effects bool   // it ran actions: the chain matched, or some link's actions ran
	logged  bool   // and they are in Transaction.effects
}

// effectLog is what evaluating a chain starter did, in the transaction of its mark: replaying it
// in a later transaction that is in step, with the rule's sources unchanged, does the same.
type effectLog struct {
	writes   []txWrite  // TX writes, in order
	ctls     []ruleCtl  // ctl actions run, in order
	last     matchedVar // MATCHED_VARS is cleared before the next chain starter: not kept
	severity int
	matched  bool
	match    Match // logged when the chain matched
	replayed bool  // the log is being replayed, not recorded
	// replay is writes as replayEffects makes them (compact), once compacted.
	replay    []txWrite
	compacted bool
	dynSets   bool // its TX keys built at run time are set once each, never unset
}

// compact makes the writes that replayEffects makes: one per TX slot, where the slot was first
// written, with its last value (the same slot order and values; nothing reads TX in between).
// A log that unsets anything is kept as it is. CRS rule 920450 writes TX:0 once per header.
func (l *effectLog) compact() {
	l.compacted, l.dynSets = true, true
	l.replay = l.replay[:0]
	for i := range l.writes {
		if l.writes[i].unset {
			l.replay, l.dynSets = append(l.replay, l.writes...), false
			return
		}
	}
next:
	for _, w := range l.writes {
		for j := range l.replay {
			switch r := &l.replay[j]; {
			case w.slot >= 0 && r.slot == w.slot:
				r.value = w.value
				continue next
			case w.slot < 0 && r.slot < 0 && r.key == w.key:
				l.dynSets = false
			}
		}
		l.replay = append(l.replay, w)
	}
}

type ruleCtl struct{ rule, ctl int32 }

// note records a TX write. Strings are copied: the log outlives the request.
func (l *effectLog) note(w txWrite) {
	w.key, w.value = strings.Clone(w.key), strings.Clone(w.value)
	l.writes = append(l.writes, w)
}

// record starts the effect log of chain starter ri.
func (tx *Transaction) record(ri int32) *effectLog {
	l := &tx.effects[ri]
	l.writes, l.ctls, l.replayed, l.compacted = l.writes[:0], l.ctls[:0], false, false
	l.match = Match{}
	tx.recording = l
	return l
}

// replayEffects does again what chain starter ri did when l was recorded, and reports whether
// the chain matched.
func (tx *Transaction) replayEffects(ri int32, l *effectLog) bool {
	l.replayed = true
	if !l.compacted {
		l.compact()
	}
	// Distinct keys into an empty dynTX: appended without looking for them first.
	d := &tx.txDyn
	direct := l.dynSets && len(d.keys) == 0 && !d.indexed
	for i := range l.replay {
		if w := &l.replay[i]; direct && w.slot < 0 && !w.unset {
			d.keys, d.vals = append(d.keys, w.key), append(d.vals, w.value)
		} else {
			tx.applyWrite(w)
		}
	}
	if direct && len(d.keys) > dynLinear {
		d.reindex()
	}
	for _, c := range l.ctls {
		r := &tx.e.rs.Rules[c.rule]
		tx.ctl(r, &r.Ctls[c.ctl])
	}
	tx.lastMatched = l.last
	tx.matchedVars = tx.matchedVars[:0]
	tx.highestSeverity = l.severity
	tx.ruleIndex = ri
	return l.matched
}

// applyWrite makes one TX write of an effect log.
func (tx *Transaction) applyWrite(w *txWrite) {
	switch {
	case w.slot >= 0 && w.unset:
		tx.txDelete(w.slot)
	case w.slot >= 0:
		tx.txSetSlot(w.slot, w.value)
	case w.unset:
		tx.txDynDelete(w.key)
	default:
		tx.txDynSet(w.key, w.value)
	}
}

// phaseSeen is what a phase's sources held at the start of the phase in transaction gen.
type phaseSeen struct {
	gen    uint32
	idents []uint32 // by source bit, for single variables: contentIdent, or unsetStamp
	longs  []string // by source bit, for single variables: the value, when longIdent
	// Per list source, its entries' keys and values (contentIdent), and values named longIdent.
	keys, values [sourceSingle][]uint32
	valueLongs   [sourceSingle][]string
	// stale[src]: the list was not recorded at the last note (phase 1's comparison stood for it).
	stale [sourceSingle]bool
}

// headList reports whether list source src is made from the request head alone: it holds the same
// in every phase of a transaction.
func headList(src source) bool {
	return src == sourceHeaders || src == sourceArgsGet || src == sourceCookies
}

// listChange is how a list source differs from what it held at the same point then.
type listChange struct {
	names bool    // entries came, went or were renamed: everything changed
	all   bool    // more values changed than entries lists
	entry []int32 // the entries whose values changed
}

// contentIdent names a value's content from one transaction to the next: the stamp of its slot,
// emptyIdent for the empty value (which takes no slot), or 0, unlike any other, for a value
// without a slot.
func contentIdent(value string, id int32, stamp uint32) uint32 {
	switch {
	case uint32(id) < valueSlots:
		return stamp
	case value == "":
		return emptyIdent
	}
	return 0
}

// emptyIdent and longIdent are neither stamps (below stampLimit) nor unset variables' (unsetStamp).
const (
	emptyIdent = ^uint32(0)
	longIdent  = ^uint32(0) - 1
)

// maxChangedEntries bounds the entries with new values that keyed reads look through.
const maxChangedEntries = 8

func planReplay(rs *ruleset.Ruleset) replayPlan {
	n := len(rs.Rules)
	p := replayPlan{deps: make([]uint64, n), always: make([]bool, n), targetBase: make([]int32, n),
		opDeps: make([]uint64, n), tryValues: make([]bool, n)}
	for phase, list := range rs.Phases {
		b := replayBuilder{plan: &p, phase: phase}
		for _, ri := range list {
			start := &rs.Rules[ri]
			p.targetBase[ri] = int32(len(p.targetDeps))
			for ti := range start.Targets {
				p.targetDeps = append(p.targetDeps, b.target(&start.Targets[ti]))
			}
			p.opDeps[ri] = b.macro(&start.Op.Arg)
			// A negated operator that captures changes TX when it fails.
			p.tryValues[ri] = !(start.Capture && start.Op.Negate) && start.Op.Kind != ruleset.OpUnconditional
			// The chain starter's targets and operator were read just above (configure is
			// interpreted: each read is a search among the phase's sources).
			for _, d := range p.targetDeps[p.targetBase[ri]:] {
				p.deps[ri] |= d
			}
			p.deps[ri] |= p.opDeps[ri]
			for i := ri; i >= 0; i = rs.Rules[i].ChainNext {
				r := &rs.Rules[i]
				if i != ri {
					for ti := range r.Targets {
						p.deps[ri] |= b.target(&r.Targets[ti])
					}
					p.deps[ri] |= b.macro(&r.Op.Arg)
				}
				for si := range r.SetVars {
					p.deps[ri] |= b.macro(&r.SetVars[si].Key) | b.macro(&r.SetVars[si].Value)
				}
				p.deps[ri] |= b.macro(&r.Msg) | b.macro(&r.LogData) // RULE.msg and RULE.logdata expand them
			}
			if b.unfollowed {
				p.always[ri], b.unfollowed = true, false
			}
		}
	}
	return p
}

// planVisits finds, per phase, the chain starters that a loop in step has to visit (the rest
// settle by their marks): it runs after the folds are decided.
func (p *replayPlan) planVisits(rs *ruleset.Ruleset, folds []foldedRule) {
	for phase, list := range rs.Phases {
		words := (len(list) + 63) / 64
		always := make([]uint64, words)
		readers := make([][]uint64, len(p.sources[phase]))
		all := make([]uint64, words*len(readers))
		for b := range readers {
			readers[b] = all[b*words : (b+1)*words : (b+1)*words]
		}
		for pc, ri := range list {
			word, bit := pc>>6, uint64(1)<<(pc&63)
			if f := folds[ri].kind; p.always[ri] || f != foldNone && f != foldNoMatch {
				always[word] |= bit
			}
			for d := p.deps[ri]; d != 0; d &= d - 1 {
				readers[bits.TrailingZeros64(d)][word] |= bit
			}
		}
		p.visitAlways[phase], p.readers[phase] = always, readers
	}
}

// findVisits sets tx.visit to the positions in the phase's list that a loop in step visits: the
// chain starters that are always visited, those that read a source that changed, and those whose
// marks say they acted (the rest miss as they did then, without effects).
func (tx *Transaction) findVisits(phase int) {
	plan := &tx.e.replay
	v := append(tx.visit[:0], plan.visitAlways[phase]...)
	for c := tx.changed; c != 0; c &= c - 1 {
		for w, readers := range plan.readers[phase][bits.TrailingZeros64(c)] {
			v[w] |= readers
		}
	}
	for _, pc := range tx.acted[phase] {
		v[pc>>6] |= 1 << (pc & 63)
	}
	tx.visit = v
}

// nextVisit returns the first position from pc on in visit, or a position past the phase's list.
func nextVisit(visit []uint64, pc int) int {
	w := pc >> 6
	if w >= len(visit) {
		return pc
	}
	word := visit[w] &^ (1<<(pc&63) - 1)
	for word == 0 {
		if w++; w == len(visit) {
			return w << 6
		}
		word = visit[w]
	}
	return w<<6 + bits.TrailingZeros64(word)
}

// replayBuilder numbers the sources of one phase (no map: it runs in configure, interpreted).
type replayBuilder struct {
	plan  *replayPlan
	phase int
	// bits[kind][src] is 1 + the bit of the whole source or of its names, 0 before it has one;
	// keyed reads are looked up among the phase's sources.
	bits       [2][len(everySource)]int8
	unfollowed bool // the current rule reads what the plan does not follow
}

func (b *replayBuilder) target(t *ruleset.Target) uint64 {
	switch {
	case t.Count || namesVar(t.Var):
		return b.read(t.Var, replayNames, "")
	case t.Key != "" && t.KeyRegex < 0:
		return b.read(t.Var, replayKeyed, t.Key)
	}
	return b.read(t.Var, replayWhole, "")
}

func (b *replayBuilder) macro(m *ruleset.Macro) uint64 {
	var deps uint64
	for i := range m.Parts {
		if part := &m.Parts[i]; part.Var == ruleset.VarNone || part.Var == ruleset.VarTX {
			continue // text, or written by rules only (most parts: no call, in configure)
		} else if part.Key != "" {
			deps |= b.read(part.Var, replayKeyed, part.Key)
		} else {
			deps |= b.read(part.Var, replayWhole, "")
		}
	}
	return deps
}

func (b *replayBuilder) read(v ruleset.Var, kind replayKind, key string) uint64 {
	switch v {
	case ruleset.VarNone, ruleset.VarTX, ruleset.VarMatchedVar, ruleset.VarMatchedVarName, ruleset.VarMatchedVars,
		ruleset.VarMatchedVarsNames, ruleset.VarHighestSeverity, ruleset.VarRule:
		return 0 // written by rules only, or constant: the same while in step
	case ruleset.VarArgsCombinedSize:
		kind = replayWhole
	}
	srcs, ok := sourcesOf(v)
	if !ok {
		b.unfollowed = true
		return 0
	}
	var deps uint64
	for _, src := range srcs {
		s := replaySource{src: src}
		if src < sourceSingle {
			s.kind = kind
			if kind == replayKeyed {
				s.key = key
			}
		}
		bit := b.bitOf(s)
		if bit < 0 {
			if bit = len(b.plan.sources[b.phase]); bit == 64 {
				b.unfollowed = true
				continue
			}
			if s.kind != replayKeyed {
				b.bits[s.kind][s.src] = int8(bit + 1)
			}
			b.plan.sources[b.phase] = append(b.plan.sources[b.phase], s)
			if src < sourceSingle {
				b.plan.lists[b.phase] |= 1 << src
			}
		}
		deps |= 1 << bit
	}
	return deps
}

func (b *replayBuilder) bitOf(s replaySource) int {
	if s.kind != replayKeyed {
		return int(b.bits[s.kind][s.src]) - 1
	}
	for i, o := range b.plan.sources[b.phase] {
		if o == s {
			return i
		}
	}
	return -1
}

// namesVar reports whether v's values are the names of a list's entries.
func namesVar(v ruleset.Var) bool {
	switch v {
	case ruleset.VarArgsNames, ruleset.VarArgsGetNames, ruleset.VarArgsPostNames, ruleset.VarRequestHeadersNames,
		ruleset.VarRequestCookiesNames:
		return true
	}
	return false
}

// notePhaseSources compares what the phase's sources hold with what they held at the start of
// the same phase in the previous transaction, and notes them for the next.
func (tx *Transaction) notePhaseSources(phase int) {
	seen, plan := &tx.seen[phase], &tx.e.replay
	srcs := plan.sources[phase]
	if len(seen.idents) != len(srcs) {
		seen.idents, seen.longs = make([]uint32, len(srcs)), make([]string, len(srcs))
	}
	if phase == 1 {
		tx.headComparedWithPrev = tx.prevGen != 0 && seen.gen == tx.prevGen
	}
	// The request head's lists held the same at phase 1 as now, here and in the previous
	// transaction: phase 1's comparison with it stands.
	headDone := phase == 2 && tx.seen[1].gen == tx.gen && tx.headComparedWithPrev
	for src := range sourceSingle {
		if plan.lists[phase]&(1<<src) == 0 {
			continue
		}
		if headDone && headList(src) && plan.lists[1]&(1<<src) != 0 {
			seen.stale[src] = true
			continue
		}
		stale := seen.stale[src]
		seen.stale[src] = false
		if list := tx.sourceList(src); !stale && len(list) == 0 && len(seen.keys[src]) == 0 {
			// Empty then and now (files, XML and multipart parts on most requests): unchanged.
			c := &tx.listChanges[src]
			c.names, c.all, c.entry = false, false, c.entry[:0]
			continue
		}
		tx.listChanged(seen, src, stale)
	}
	var changed uint64
	for b := range srcs {
		s := &srcs[b]
		if s.src >= sourceSingle {
			v := ruleset.Var(s.src - sourceSingle)
			if v == ruleset.VarUniqueID {
				changed |= 1 << b // new on every request by design (and made only when read)
				continue
			}
			if !tx.hasSingle[v] {
				if seen.idents[b] != unsetStamp(v) {
					changed |= 1 << b
				}
				seen.idents[b], seen.longs[b] = unsetStamp(v), ""
			} else if e := &tx.singles[v]; uint32(e.id) < valueSlots && seen.idents[b] == e.stamp {
				// The same slot content: the common case, without a call.
			} else if !noteContent(&seen.idents[b], &seen.longs[b], e.value, e.id, e.stamp) {
				changed |= 1 << b
			}
			continue
		}
		var same bool
		switch c := &tx.listChanges[s.src]; {
		case s.kind == replayNames:
			same = !c.names
		case s.kind == replayWhole:
			same = !c.names && !c.all && len(c.entry) == 0
		default:
			if same = !c.names && !c.all; same && len(c.entry) > 0 {
				list := tx.sourceList(s.src)
				for _, i := range c.entry {
					same = same && list[i].lkey != s.key
				}
			}
		}
		if !same {
			changed |= 1 << b
		}
	}
	if tx.prevGen == 0 || seen.gen != tx.prevGen {
		tx.inStep = false // the previous transaction did not reach this phase
	}
	seen.gen = tx.gen
	tx.changed = changed
	tx.changedGen++
	tx.changedBuf = tx.changedBuf[:0]
}

// listChanged compares list source src with what seen recorded of it, notes how it changed in
// tx.listChanges, and records it now. A stale record is not compared: everything changed.
func (tx *Transaction) listChanged(seen *phaseSeen, src source, stale bool) {
	list := tx.sourceList(src)
	keys, values, longs := seen.keys[src], seen.values[src], seen.valueLongs[src]
	c := &tx.listChanges[src]
	c.names, c.all, c.entry = stale || len(keys) != len(list), false, c.entry[:0]
	if len(keys) != len(list) {
		keys, values, longs = make([]uint32, len(list)), make([]uint32, len(list)), make([]string, len(list))
		seen.keys[src], seen.values[src], seen.valueLongs[src] = keys, values, longs
	}
	// One pass: each entry is compared with what the same point held then, and recorded.
	for i := range list {
		e := &list[i]
		key := contentIdent(e.key, e.keyID, e.keyStamp)
		c.names = c.names || key != keys[i] || key == 0
		keys[i] = key
		switch same := uint32(e.id) < valueSlots && values[i] == e.stamp ||
			noteContent(&values[i], &longs[i], e.value, e.id, e.stamp); {
		case same || c.names:
		case len(c.entry) == maxChangedEntries:
			c.all = true
		default:
			c.entry = append(c.entry, int32(i))
		}
	}
}

// noteContent compares a value with what ident and long recorded (contentIdent, and a copy of a
// value without a slot of up to maxComparedLen bytes, named longIdent), records it, and reports
// whether it is the same. Long values repeat too (tokens, cookies, form bodies): compared byte by
// byte, copied only when they change.
func noteContent(ident *uint32, long *string, value string, id int32, stamp uint32) bool {
	now := contentIdent(value, id, stamp)
	if now == 0 && len(value) <= maxComparedLen {
		if *ident == longIdent && sameContent(*long, value) {
			return true
		}
		*ident, *long = longIdent, strings.Clone(value)
		return false
	}
	same := now != 0 && now == *ident
	*ident, *long = now, ""
	return same
}

// maxComparedLen bounds the values without a slot that replay keeps a copy of.
const maxComparedLen = 4096

// decided marks how chain starter ri was decided now, evaluated (log recorded it) or known to
// miss, and keeps the transaction in step if it decided as it did in the previous transaction.
func (tx *Transaction) decided(phase int, ri int32, effects bool, log *effectLog) {
	m := &tx.marks[ri]
	if tx.inStep && (m.gen < tx.markFloor[phase] || (effects || m.effects) && tx.readsChanged(ri)) {
		tx.inStep = false
	}
	*m = ruleMark{gen: tx.gen, effects: effects, logged: effects && log != nil}
	if m.logged {
		log.last = tx.lastMatched
		log.last.key, log.last.value = strings.Clone(log.last.key), strings.Clone(log.last.value)
		log.severity = tx.highestSeverity
	}
}

func (tx *Transaction) readsChanged(ri int32) bool {
	return tx.e.replay.always[ri] || tx.e.replay.deps[ri]&tx.changed != 0
}

// missesNewValues reports whether chain starter ri, which missed every value in the previous
// transaction and reads sources that changed since, misses again: while in step, only the values
// of list entries that changed, and of single variables that changed, can match now. Its
// operator runs on them without actions; false means the chain has to be evaluated.
func (tx *Transaction) missesNewValues(ri int32) bool {
	plan := &tx.e.replay
	if !plan.tryValues[ri] || plan.opDeps[ri]&tx.changed != 0 {
		return false
	}
	r := &tx.e.rs.Rules[ri]
	var vals []val
	// Rules over the same targets and exclusions, and covered by the same ctl exclusions, have the
	// same new values: found once per phase.
	var s *changedSpan
	if g := tx.e.groups.groupOf[ri]; g >= 0 && len(tx.exclusions) <= 64 { // more than a mask holds: per rule
		if mask := tx.ctlMask(r); mask == 0 {
			s = &tx.changedSpans[g]
		} else {
			s = tx.coveredSpan(g, mask)
		}
	}
	if s != nil {
		if s.gen != tx.changedGen || s.dataGen != tx.dataGen {
			start := len(tx.changedBuf)
			buf, ok := tx.changedOfTargets(tx.changedBuf, ri, r)
			*s = changedSpan{gen: tx.changedGen, dataGen: tx.dataGen, ok: ok, start: int32(start), end: int32(len(buf))}
			tx.changedBuf = buf
		}
		if !s.ok {
			return false
		}
		vals = tx.changedBuf[s.start:s.end]
	} else {
		buf, ok := tx.changedOfTargets(tx.vals[:0], ri, r)
		if tx.vals = buf[:0]; !ok {
			return false
		}
		vals = buf
	}
	pure := tx.e.pureMiss[ri]
	tx.ruleIndex = ri
	tx.probing = true // an operator that matches does not capture: the chain is evaluated then
	miss := true
	for vi := 0; miss && vi < len(vals); vi++ {
		v := &vals[vi]
		if pure && tx.missed(ri, v) {
			continue
		}
		if tx.operatorMatches(ri, r, v) {
			miss = false
		} else if pure {
			tx.rememberMiss(ri, v)
		}
	}
	tx.probing = false
	return miss
}

// changedSpan holds the new values of a ruleset group's changed targets in Transaction.changedBuf,
// for the phase (changedGen) and data generation they were found in.
type changedSpan struct {
	gen, dataGen uint32
	ok           bool
	start, end   int32
}

// coveredSpan is the changedSpan of group g's rules that the ctl exclusions of mask cover.
type coveredSpan struct {
	group int32
	mask  uint64
	span  changedSpan
}

// ctlMask returns the ctl exclusions that cover the chain starting with head, by index (of the
// first 64: with more, the caller does not use it).
func (tx *Transaction) ctlMask(head *ruleset.Rule) uint64 {
	var mask uint64
	for i := range tx.exclusions {
		if tx.appliesTo(&tx.exclusions[i], head) {
			mask |= 1 << i
		}
	}
	return mask
}

// coveredSpan returns the span of group g's rules under the ctl exclusions of mask, for the
// current phase.
func (tx *Transaction) coveredSpan(g int32, mask uint64) *changedSpan {
	if tx.coveredGen != tx.changedGen {
		tx.coveredGen, tx.covered = tx.changedGen, tx.covered[:0]
	}
	for i := range tx.covered {
		if c := &tx.covered[i]; c.group == g && c.mask == mask {
			return &c.span
		}
	}
	tx.covered = append(tx.covered, coveredSpan{group: g, mask: mask})
	return &tx.covered[len(tx.covered)-1].span
}

// changedOfTargets appends the new values of chain starter ri's targets that read changed sources.
func (tx *Transaction) changedOfTargets(dst []val, ri int32, r *ruleset.Rule) (_ []val, ok bool) {
	plan := &tx.e.replay
	deps := plan.targetDeps[plan.targetBase[ri]:]
	for ti := range r.Targets {
		if deps[ti]&tx.changed == 0 {
			continue // its values are those it missed
		}
		if dst, ok = tx.changedValues(dst, &r.Targets[ti], r); !ok {
			return dst, false
		}
	}
	return dst, true
}

// changedValues appends the values of target t of chain starter r that changed since the start
// of the phase in the previous transaction: those of list entries that changed, or a single
// variable's. ok is false when entries came or went (every value may be new).
func (tx *Transaction) changedValues(dst []val, t *ruleset.Target, r *ruleset.Rule) (_ []val, ok bool) {
	srcs, known := sourcesOf(t.Var)
	if !known || len(srcs) == 0 || t.Count || namesVar(t.Var) || t.Var == ruleset.VarArgsCombinedSize {
		return dst, false
	}
	if srcs[0] >= sourceSingle {
		return tx.collect(dst, t, r, r), true // one value, new
	}
	// Most targets take every entry and exclude none: no call per entry then.
	every := t.Key == "" && t.KeyRegex < 0 && len(r.Exclusions) == 0 && (len(tx.exclusions) == 0 || !tx.ctlCovers(r))
	for _, src := range srcs {
		c := &tx.listChanges[src]
		if c.names || c.all {
			return dst, false
		}
		list := tx.sourceList(src)
		for _, i := range c.entry {
			if e := &list[i]; every {
				dst = append(dst, val{v: t.Var, key: e.key, value: e.value, id: e.id, stamp: e.stamp})
			} else {
				dst = tx.fromList(dst, t, r, r, t.Var, list[i:i+1], false)
			}
		}
	}
	return dst, true
}

// operatorMatches reports whether rule ri's operator matches v after its transformations, or
// under multiMatch before or after any of them, without running actions.
func (tx *Transaction) operatorMatches(ri int32, r *ruleset.Rule, v *val) bool {
	if !r.MultiMatch {
		return tx.operator(ri, r, v, tx.transformed(v, r.Transform), r.Transform)
	}
	prev := v.value
	if tx.operator(ri, r, v, prev, 0) {
		return true
	}
	for _, n := range tx.e.nodePath[r.Transform] {
		if tv := tx.transformed(v, n); tv != prev {
			prev = tv
			if tx.operator(ri, r, v, tv, n) {
				return true
			}
		}
	}
	return false
}
