package engine

import (
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
	"github.com/meshaccel/meshaccel/wasm-waf/transform"
)

// Rules that inspect the same targets with the same exclusions see the same values: the OWASP
// CRS has hundreds of rules over a few dozen target lists. Within a phase those values do not
// change (request data is parsed before the phase runs), so a transaction collects them once
// per target group, and summarizes them once per (group, transformation pipeline): the longest
// value, the bytes present in any value, and all values joined. A rule whose operator cannot
// match any value according to the summary (its regex's length, byte and literal prefilters,
// its phrase list, the XSS and SQLi detectors' preconditions) is decided without visiting a single value.
// Either test only ever skips rules that cannot match: the summary is a superset of what each
// value would show.

// groupPlan is what the engine computes once per ruleset.
type groupPlan struct {
	// groupOf[i] is rule i's target group, or -1 when its values can change within a phase (TX,
	// MATCHED_*, counts) and are collected anew for each rule.
	groupOf []int32
	// spanBase[g] locates group g's per-target spans in Transaction.groupSpans.
	spanBase []int32
	spans    int
	// summaryOf[i] is rule i's summary slot, or -1 when a summary cannot decide it.
	summaryOf []int32
	// rawSummary[g] is the slot of group g's untransformed summary, which stands in for every
	// pipeline that leaves all of the group's values as they are.
	rawSummary []int32
	summaries  int
	// sources[g] are what group g's values are collected from, nil when some target reads
	// anything else (collect.go's sourcesOf); targetSources[g][k] are target k's, as indices
	// into sources[g].
	sources       [][]source
	targetSources [][][]int8
	// triggers[n] are the bytes without which pipeline n changes no value (see
	// transform.Unchanged); rewrites[n]: some step of it rewrites every value.
	triggers []ruleset.ByteSet
	rewrites []bool
}

// staticVar reports whether a variable's values stay the same during a phase.
func staticVar(v ruleset.Var) bool {
	switch v {
	case ruleset.VarTX, ruleset.VarMatchedVar, ruleset.VarMatchedVarName, ruleset.VarMatchedVars,
		ruleset.VarMatchedVarsNames, ruleset.VarHighestSeverity, ruleset.VarRule, ruleset.VarDuration:
		return false
	}
	return true
}

func planGroups(rs *ruleset.Ruleset) groupPlan {
	p := groupPlan{groupOf: make([]int32, len(rs.Rules)), summaryOf: make([]int32, len(rs.Rules))}
	groups := map[string]int32{}
	summaries := map[[2]int32]int32{}
	slot := func(g, node int32) int32 {
		s, ok := summaries[[2]int32{g, node}]
		if !ok {
			s = int32(p.summaries)
			summaries[[2]int32{g, node}] = s
			p.summaries++
		}
		return s
	}
	var key []byte
	for i := range rs.Rules {
		r := &rs.Rules[i]
		p.groupOf[i], p.summaryOf[i] = -1, -1
		if len(r.Targets) == 0 {
			continue
		}
		key = key[:0]
		static := true
		for _, t := range r.Targets {
			if !staticVar(t.Var) || t.Count {
				static = false
				break
			}
			key = strconv.AppendInt(append(key, 't'), int64(t.Var), 10)
			key = strconv.AppendInt(append(key, ':'), int64(t.KeyRegex), 10)
			key = append(append(append(key, ':'), t.Key...), 0)
		}
		if !static {
			continue
		}
		for _, x := range r.Exclusions {
			key = strconv.AppendInt(append(key, 'x'), int64(x.Var), 10)
			key = strconv.AppendInt(append(key, ':'), int64(x.KeyRegex), 10)
			key = append(append(append(key, ':'), x.Key...), 0)
		}
		g, ok := groups[string(key)]
		if !ok {
			g = int32(len(p.spanBase))
			groups[string(key)] = g
			p.spanBase = append(p.spanBase, int32(p.spans))
			p.spans += len(r.Targets) + 1
			p.rawSummary = append(p.rawSummary, slot(g, 0))
			srcs, targetSrcs := groupSources(r.Targets)
			p.sources = append(p.sources, srcs)
			p.targetSources = append(p.targetSources, targetSrcs)
		}
		p.groupOf[i] = g
		if summarizable(rs, r) {
			node := r.Transform
			if r.MultiMatch && node != 0 {
				node = -1 - node // every intermediate value counts: a summary of its own
			}
			p.summaryOf[i] = slot(g, node)
		}
	}
	p.triggers = make([]ruleset.ByteSet, len(rs.TransformNodes))
	p.rewrites = make([]bool, len(rs.TransformNodes))
	for n := 1; n < len(rs.TransformNodes); n++ {
		// Nodes follow their parents, so the parent's union is complete.
		parent := rs.TransformNodes[n].Parent
		bytes, always := transform.Triggers(rs.TransformNodes[n].T)
		p.triggers[n] = p.triggers[parent]
		p.triggers[n].Union((*ruleset.ByteSet)(&bytes))
		p.rewrites[n] = p.rewrites[parent] || always
	}
	return p
}

func groupSources(targets []ruleset.Target) ([]source, [][]int8) {
	out := []source{} // none: reads nothing, always the same
	perTarget := make([][]int8, len(targets))
	for k, t := range targets {
		srcs, ok := sourcesOf(t.Var)
		if !ok {
			return nil, nil
		}
		for _, src := range srcs {
			i := slices.Index(out, src)
			if i < 0 {
				i = len(out)
				out = append(out, src)
			}
			perTarget[k] = append(perTarget[k], int8(i))
		}
	}
	if len(out) > maxGroupSources {
		return nil, nil
	}
	return out, perTarget
}

// maxGroupSources bounds the sources of a group whose contents the engine follows (there are
// fewer than 20 list sources and a few dozen single variables).
const maxGroupSources = 32

// summarizable reports whether a group summary can prove that rule r does not match. A negated
// operator matches when the operand does not, so it cannot be decided that way. multiMatch rules
// also inspect every intermediate transformation result: their summary is the untransformed one
// when the pipeline changes no value, and undecided otherwise (summarizing every intermediate
// result costs more than it saves, BenchmarkRequest).
func summarizable(rs *ruleset.Ruleset, r *ruleset.Rule) bool {
	if r.Op.Negate {
		return false
	}
	switch r.Op.Kind {
	case ruleset.OpRx:
		re := &rs.Regexes[r.Op.Regex]
		return re.MinLen > 0 || len(re.Bytes) > 0 || len(re.Prefilter) > 0
	case ruleset.OpPm, ruleset.OpDetectXSS, ruleset.OpDetectSQLi:
		return true
	}
	return false
}

// groupSummary describes the transformed values of a target group.
type groupSummary struct {
	gen uint32
	// same is 1 + the slot of the group's untransformed summary when this one equals it, else 0.
	same int32
	// undecided: a multiMatch rule's pipeline changes some value; the summary decides nothing.
	undecided bool
	maxLen    int
	present   ruleset.ByteSet
	// joined and foldedJoined are the values (case-folded for the latter) joined by NUL, built
	// on first use; a phrase or literal found across a separator only makes a rule run.
	joined, foldedJoined       string
	joinedGen, foldedJoinedGen uint32
	node                       int32
	first, end                 int32 // the group's values in Transaction.groupVals
}

// Rules that a ctl:ruleRemoveTarget* exclusion covers see their group's values minus the
// excluded ones. With the CRS that is the usual case, not the exception: rule 941010 removes
// REQUEST_FILENAME from every XSS rule for any ordinary path. Such rules share a variant of their
// group per set of exclusions in force, collected and summarized like the group itself. Variants
// live for one transaction; their ids follow the ruleset's groups.

type groupVariant struct {
	group      int32
	mask       uint64 // bit i: tx.exclusions[i] covers the rules that read this variant
	spanBase   int32
	rawSummary int32
	epoch      uint32 // of its contents once collected (variantContentEpoch) or derived
	derivedGen uint32 // the data generation in which its epoch was derived (deriveVariant)
}

type variantSummary struct{ group, node int32 }

// ruleView is what rule i reads while len(tx.exclusions) is exclusions: a group (or variant) and
// a summary slot.
type ruleView struct {
	gen            uint32
	exclusions     int32
	group, summary int32
}

// groupOf returns the group and summary slot that rule ri reads, or -1s.
func (tx *Transaction) groupOf(ri int32, head *ruleset.Rule) (group, summary int32) {
	plan := &tx.e.groups
	group, summary = plan.groupOf[ri], plan.summaryOf[ri]
	if group < 0 || len(tx.exclusions) == 0 {
		return group, summary
	}
	view := &tx.views[ri]
	if view.gen == tx.gen && int(view.exclusions) == len(tx.exclusions) {
		return view.group, view.summary
	}
	var mask uint64
	for i := range tx.exclusions {
		if tx.appliesTo(&tx.exclusions[i], head) {
			if i >= 64 {
				group, summary = -1, -1 // more exclusions than a mask holds: collect per rule
				break
			}
			mask |= 1 << i
		}
	}
	if group >= 0 && mask != 0 {
		group = tx.variant(group, mask, len(tx.e.rs.Rules[ri].Targets))
		if summary >= 0 {
			summary = tx.variantSummary(group, tx.e.rs.Rules[ri].Transform)
		}
	}
	*view = ruleView{gen: tx.gen, exclusions: int32(len(tx.exclusions)), group: group, summary: summary}
	return group, summary
}

func (tx *Transaction) variant(group int32, mask uint64, targets int) int32 {
	static := int32(len(tx.e.groups.spanBase))
	for i := range tx.variants {
		if v := &tx.variants[i]; v.group == group && v.mask == mask {
			return static + int32(i)
		}
	}
	id := static + int32(len(tx.variants))
	tx.variants = append(tx.variants, groupVariant{group: group, mask: mask, spanBase: int32(len(tx.groupSpans))})
	for range targets + 1 {
		tx.groupSpans = append(tx.groupSpans, 0)
	}
	tx.groupGen = append(tx.groupGen, 0)
	tx.newVals = append(tx.newVals, newValues{})
	tx.variants[len(tx.variants)-1].rawSummary = tx.variantSummary(id, 0)
	return id
}

func (tx *Transaction) variantSummary(group, node int32) int32 {
	for i, s := range tx.variantSummaries {
		if s.group == group && s.node == node {
			return int32(tx.e.groups.summaries + i)
		}
	}
	tx.variantSummaries = append(tx.variantSummaries, variantSummary{group: group, node: node})
	tx.summaries = append(tx.summaries, groupSummary{})
	return int32(len(tx.summaries) - 1)
}

// resetVariants drops the variants of the previous transaction.
func (tx *Transaction) resetVariants() {
	tx.variants, tx.variantSummaries = tx.variants[:0], tx.variantSummaries[:0]
	tx.groupGen = tx.groupGen[:len(tx.e.groups.spanBase)]
	tx.newVals = tx.newVals[:len(tx.e.groups.spanBase)]
	tx.newBuf = tx.newBuf[:0]
	tx.groupSpans = tx.groupSpans[:tx.e.groups.spans]
	tx.summaries = tx.summaries[:tx.e.groups.summaries]
}

func (tx *Transaction) rawSummary(group int32) int32 {
	if static := int32(len(tx.e.groups.spanBase)); group >= static {
		return tx.variants[group-static].rawSummary
	}
	return tx.e.groups.rawSummary[group]
}

func (tx *Transaction) spanBase(group int32) int32 {
	if static := int32(len(tx.e.groups.spanBase)); group >= static {
		return tx.variants[group-static].spanBase
	}
	return tx.e.groups.spanBase[group]
}

// groupValues makes sure group g (read by rule r, chain starter head) is collected for the
// current data generation and returns the values of target ti.
func (tx *Transaction) groupValues(g int32, r, head *ruleset.Rule, ti int) []val {
	base := tx.spanBase(g)
	if tx.groupGen[g] != tx.dataGen {
		// A ruleset group is read only by rules that no ctl exclusion covers: collect it without
		// them, whichever rule asks first. A variant applies its exclusions.
		ctl := tx.exclusions
		if int(g) < len(tx.e.groups.spanBase) {
			tx.exclusions = nil
		}
		for k := range r.Targets {
			tx.groupSpans[int(base)+k] = int32(len(tx.groupVals))
			tx.groupVals = tx.collect(tx.groupVals, &r.Targets[k], r, head)
		}
		tx.exclusions = ctl
		tx.groupSpans[int(base)+len(r.Targets)] = int32(len(tx.groupVals))
		tx.groupGen[g] = tx.dataGen
		if static := int32(len(tx.e.groups.spanBase)); g < static {
			tx.noteContent(g, tx.groupVals[tx.groupSpans[base]:])
		} else {
			vals := tx.groupVals[tx.groupSpans[base]:]
			if v := &tx.variants[g-static]; v.derivedGen == tx.dataGen {
				tx.keepVariantEpoch(v.epoch, vals) // derived in this generation: the epoch stands
			} else {
				v.epoch = tx.variantContentEpoch(vals)
				tx.noteVariantNew(g, v, vals)
			}
		}
	}
	return tx.groupVals[tx.groupSpans[int(base)+ti]:tx.groupSpans[int(base)+ti+1]]
}

// A group's summaries, and so whether a rule may match any of its values, follow from the
// contents of its values in order. Request after request most groups hold the same contents
// (valuememo.go): a ruleset group whose values all have slots gets an epoch that lasts while
// their stamps, in order, stay the same, and rules remember their verdict for an epoch.

type mayVerdict struct {
	epoch uint32
	may   bool
}

// noteContent gives ruleset group g, just collected as vals, its epoch: the previous one if the
// contents are the same as at its last collection, a new one if not, 0 if some value has neither
// a slot nor a constant content (unsetStamp).
func (tx *Transaction) noteContent(g int32, vals []val) {
	seq := tx.groupStamps[g]
	same := len(seq) == len(vals) && !tx.groupStale[g]
	for i := range vals {
		v := &vals[i]
		if uint32(v.id) >= valueSlots && (v.id >= 0 || v.stamp < stampLimit) {
			tx.groupEpoch[g], tx.groupStamps[g] = 0, seq[:0]
			return
		}
		same = same && seq[i] == v.stamp
	}
	// Found current from its sources in this generation (unchanged, or derived): the epoch stands.
	current := tx.groupSameGen[g] == tx.dataGen && tx.groupEpoch[g] != 0
	if !same || tx.groupEpoch[g] == 0 {
		if !current {
			prev := tx.groupEpoch[g]
			if tx.groupStale[g] {
				prev = 0 // the previous contents' stamps are unknown
			}
			tx.noteNew(g, prev, seq, vals)
			tx.groupEpoch[g] = tx.nextStamp()
		}
		seq = seq[:0]
		for i := range vals {
			seq = append(seq, vals[i].stamp)
		}
		tx.groupStamps[g], tx.groupStale[g] = seq, false
	}
	tx.noteSeen(g)
}

// noteSeen records what group g's sources hold now: while they hold it, so does the group
// (groupUnchanged).
func (tx *Transaction) noteSeen(g int32) {
	seen := tx.groupSeen[g][:0]
	for _, src := range tx.e.groups.sources[g] {
		seen = append(seen, tx.sourceEpoch(src))
	}
	tx.groupSeen[g] = seen
}

// groupUnchanged reports whether ruleset group g still holds the contents of its epoch without
// collecting it: its values follow from its sources, and each holds what it held then.
func (tx *Transaction) groupUnchanged(g int32) bool {
	srcs, seen := tx.e.groups.sources[g], tx.groupSeen[g]
	if srcs == nil || tx.groupEpoch[g] == 0 || len(seen) != len(srcs) {
		return false
	}
	for i, src := range srcs {
		if epoch := tx.sourceEpoch(src); epoch == 0 || epoch != seen[i] {
			return false
		}
	}
	return true
}

type sourceState struct {
	gen, epoch uint32
	stamps     []uint32 // key and value stamps of the entries
	// fresh are the entries that the contents of epoch prev lacked (noteNew).
	prev  uint32
	fresh []int32
}

// sourceEpoch names the contents of source src in the current data generation: an epoch that
// lasts while they stay the same from transaction to transaction, or 0 when some entry has no
// slot. A single variable's is its stamp.
func (tx *Transaction) sourceEpoch(src source) uint32 {
	if src >= sourceSingle {
		v := ruleset.Var(src - sourceSingle)
		if !tx.hasSingle[v] {
			return unsetStamp(v)
		}
		if e := &tx.singles[v]; uint32(e.id) < valueSlots {
			return e.stamp
		}
		return 0
	}
	st := &tx.sources[src]
	if st.gen == tx.dataGen {
		return st.epoch
	}
	st.gen = tx.dataGen
	list := tx.sourceList(src)
	same := len(st.stamps) == 2*len(list)
	for i := range list {
		e := &list[i]
		if uint32(e.id) >= valueSlots || uint32(e.keyID) >= valueSlots {
			st.epoch, st.stamps = 0, st.stamps[:0]
			return 0
		}
		same = same && st.stamps[2*i] == e.keyStamp && st.stamps[2*i+1] == e.stamp
	}
	if !same || st.epoch == 0 {
		st.noteNew(list)
		st.stamps = st.stamps[:0]
		for i := range list {
			st.stamps = append(st.stamps, list[i].keyStamp, list[i].stamp)
		}
		st.epoch = tx.nextStamp()
	}
	return st.epoch
}

// noteNew records which entries of list, the source's new contents, its contents of epoch
// st.epoch lacked: their indices, if they are few, and that epoch as prev.
func (st *sourceState) noteNew(list []entry) {
	st.prev, st.fresh = 0, st.fresh[:0]
	if st.epoch == 0 {
		return
	}
	for i := range list {
		if i < len(st.stamps)/2 && st.stamps[2*i] == list[i].keyStamp && st.stamps[2*i+1] == list[i].stamp || st.held(&list[i]) {
			continue
		}
		if len(st.fresh) == maxNewValues {
			st.fresh = st.fresh[:0]
			return
		}
		st.fresh = append(st.fresh, int32(i))
	}
	st.prev = st.epoch
}

// held reports whether the source's recorded contents have entry e.
func (st *sourceState) held(e *entry) bool {
	for i := 0; i+1 < len(st.stamps); i += 2 {
		if st.stamps[i] == e.keyStamp && st.stamps[i+1] == e.stamp {
			return true
		}
	}
	return false
}

// contentEpoch returns the epoch of the contents that rule r (chain starter head) reads in group
// g, or 0. A ruleset group whose sources are unchanged is not collected for it; a variant is
// collected, and takes the epoch of earlier variants with the same contents.
func (tx *Transaction) contentEpoch(g int32, r, head *ruleset.Rule) uint32 {
	if static := int32(len(tx.e.groups.spanBase)); g >= static {
		if v := &tx.variants[g-static]; tx.groupGen[g] != tx.dataGen && v.derivedGen != tx.dataGen && !tx.deriveVariant(g, v, r, head) {
			tx.groupValues(g, r, head, 0)
		}
		return tx.variants[g-static].epoch
	}
	// Collected in this data generation, or found unchanged: the epoch is current. Each rule of
	// the group asks; the sources are compared once.
	if tx.groupGen[g] == tx.dataGen || tx.groupSameGen[g] == tx.dataGen {
		return tx.groupEpoch[g]
	}
	if tx.groupUnchanged(g) {
		tx.groupSameGen[g] = tx.dataGen
	} else if !tx.deriveNew(g, r, head) {
		tx.groupValues(g, r, head, 0) // collected: noteContent gives the epoch
	}
	return tx.groupEpoch[g]
}

// knownMiss reports, without evaluating it, that chain starter ri misses: its ruleset group holds
// the contents of an epoch in which the rule missed every value, or in which its summary ruled it
// out (what evalRule would find first). Most rules of an ordinary request are settled here.
func (tx *Transaction) knownMiss(ri int32) bool {
	g, summary := tx.e.groups.groupOf[ri], tx.e.groups.summaryOf[ri]
	if g < 0 {
		return false
	}
	if len(tx.exclusions) > 0 {
		g, summary = tx.groupOf(ri, &tx.e.rs.Rules[ri]) // a variant if a ctl exclusion covers the rule
		if g < 0 {
			return false
		}
	}
	var epoch uint32
	if static := int32(len(tx.e.groups.spanBase)); g >= static {
		v := &tx.variants[g-static]
		if tx.groupGen[g] != tx.dataGen && v.derivedGen != tx.dataGen {
			return false // not collected or derived yet
		}
		epoch = v.epoch
	} else {
		if tx.groupGen[g] != tx.dataGen && tx.groupSameGen[g] != tx.dataGen {
			return false // not known to be current yet
		}
		epoch = tx.groupEpoch[g]
	}
	if epoch == 0 {
		return false
	}
	if tx.e.pureMiss[ri] && tx.ruleMissed[ri] == epoch {
		return true
	}
	m := &tx.mayMemo[ri]
	return summary >= 0 && m.epoch == epoch && !m.may
}

// fewUnknown reports whether rule ri (chain starter head), reading group g with contents of epoch,
// is known to miss all but a few of its values, so that evaluating those few costs less than the group's summary: request
// after request most values repeat (valuememo.go) while one or two are new (a request id, a query
// value), which gives the group new contents and its summary nothing to remember.
func (tx *Transaction) fewUnknown(epoch uint32, ri, g int32, r, head *ruleset.Rule) bool {
	if epoch != 0 && tx.mayMemo[ri].epoch == epoch {
		return false // the summary's verdict is remembered: cheaper still
	}
	tx.groupValues(g, r, head, 0)
	base := tx.spanBase(g)
	vals := tx.groupVals[tx.groupSpans[base]:tx.groupSpans[int(base)+len(r.Targets)]]
	unknown := 0
	for i := range vals {
		if !tx.missed(ri, &vals[i]) {
			if unknown++; unknown > fewValues || 4*unknown > len(vals) {
				return false
			}
		}
	}
	return true
}

// fewValues is how many values without a remembered miss fewUnknown lets a rule evaluate one by
// one instead of summarizing its group.
const fewValues = 2

// mayMatchIn is mayMatch, remembered per rule for the contents of an epoch (0: none).
// A summary that rules the rule out rules it out for each value: a pure rule then remembers a
// miss for every value, so that next time, with one value new, only that one need be evaluated
// (fewUnknown).
func (tx *Transaction) mayMatchIn(epoch uint32, ri, g, slot int32, r, head *ruleset.Rule) bool {
	m := &tx.mayMemo[ri]
	if epoch != 0 && m.epoch == epoch {
		return m.may
	}
	may := tx.mayMatch(g, slot, r, head)
	if epoch != 0 {
		*m = mayVerdict{epoch: epoch, may: may}
	}
	if !may && tx.e.pureMiss[ri] {
		base := tx.spanBase(g)
		vals := tx.groupVals[tx.groupSpans[base]:tx.groupSpans[int(base)+len(r.Targets)]]
		for i := range vals {
			tx.rememberMiss(ri, &vals[i])
		}
	}
	return may
}

// Request after request a group mostly changes by a value or two: Envoy gives each request a new
// x-request-id, a client a new query value. A pure rule (valuememo.go) that missed every value of
// the group's previous contents then only need look at the values new since: the others are
// contents it missed. When a group takes new contents, the engine notes which of its values the
// previous contents lacked (by stamp), if they are few.

// newValues are the values of a group that its previous contents (epoch prev) lacked, noted in
// data generation gen.
type newValues struct {
	gen, prev  uint32
	first, end int32 // in Transaction.newBuf
}

// maxNewValues bounds the values evalNew evaluates one by one instead of the group's summary.
const maxNewValues = 4

// noteNew records which of vals, group g's contents, the contents of epoch prev (stamps old)
// lacked.
func (tx *Transaction) noteNew(g int32, prev uint32, old []uint32, vals []val) {
	nv := &tx.newVals[g]
	nv.prev = 0
	if prev == 0 {
		return
	}
	first := int32(len(tx.newBuf))
	for i := range vals {
		s := vals[i].stamp
		if i < len(old) && old[i] == s || slices.Contains(old, s) {
			continue
		}
		if int32(len(tx.newBuf))-first == maxNewValues {
			tx.newBuf = tx.newBuf[:first]
			return
		}
		tx.newBuf = append(tx.newBuf, vals[i])
	}
	*nv = newValues{gen: tx.dataGen, prev: prev, first: first, end: int32(len(tx.newBuf))}
}

// newSinceMiss returns group g's values that are new since contents in which rule ri missed every
// value: by itself, or by its summary.
func (tx *Transaction) newSinceMiss(ri, g int32) ([]val, bool) {
	nv := &tx.newVals[g]
	if nv.prev == 0 || nv.gen != tx.dataGen {
		return nil, false
	}
	if m := &tx.mayMemo[ri]; tx.ruleMissed[ri] != nv.prev && !(m.epoch == nv.prev && !m.may) {
		return nil, false
	}
	return tx.newBuf[nv.first:nv.end], true
}

// deriveNew gives ruleset group g (read by rule r, chain starter head) new contents without
// collecting it, when its sources changed by a few entries since it was last current: the group's
// new values are among those that its targets select from the new entries, and the rest are
// values it held. It reports whether it did.
func (tx *Transaction) deriveNew(g int32, r, head *ruleset.Rule) bool {
	srcs, seen := tx.e.groups.sources[g], tx.groupSeen[g]
	if srcs == nil || tx.groupEpoch[g] == 0 || len(seen) != len(srcs) {
		return false
	}
	var changed [maxGroupSources]bool
	for i, src := range srcs {
		epoch := tx.sourceEpoch(src)
		if epoch == 0 || seen[i] == 0 {
			return false
		}
		if changed[i] = epoch != seen[i]; changed[i] && src < sourceSingle && tx.sources[src].prev != seen[i] {
			return false // changed since, by more than sourceState.noteNew saw
		}
	}
	// In collect's order: targets, their sources, the entries. A ruleset group is collected
	// without ctl exclusions (groupValues).
	first := int32(len(tx.newBuf))
	ctl := tx.exclusions
	tx.exclusions = nil
	ok := tx.selectNew(g, r, head, srcs, &changed, first)
	tx.exclusions = ctl
	if !ok {
		tx.newBuf = tx.newBuf[:first]
		return false
	}
	tx.newVals[g] = newValues{gen: tx.dataGen, prev: tx.groupEpoch[g], first: first, end: int32(len(tx.newBuf))}
	tx.groupEpoch[g] = tx.nextStamp()
	tx.groupStale[g] = true // its stamps are not known until it is collected
	tx.noteSeen(g)
	tx.groupSameGen[g] = tx.dataGen
	return true
}

// selectNew appends to newBuf the values that group g's targets (rule r's) take from the changed
// sources' new entries, and reports whether they are few (maxNewValues).
func (tx *Transaction) selectNew(g int32, r, head *ruleset.Rule, srcs []source, changed *[maxGroupSources]bool, first int32) bool {
	for k, tsrcs := range tx.e.groups.targetSources[g] {
		t := &r.Targets[k]
		for _, i := range tsrcs {
			if !changed[i] {
				continue
			}
			if src := srcs[i]; src >= sourceSingle {
				tx.newBuf = tx.collect(tx.newBuf, t, r, head)
			} else {
				names, ok := entryValues(t.Var)
				if !ok {
					return false
				}
				list := tx.sourceList(src)
				for _, e := range tx.sources[src].fresh {
					tx.newBuf = tx.fromList(tx.newBuf, t, r, head, t.Var, list[e:e+1], names)
				}
			}
			if int32(len(tx.newBuf))-first > maxNewValues {
				return false
			}
		}
	}
	return true
}

// variantLast is the epoch that the variant of a group under a set of exclusions last had, what
// those exclusions removed, and what the group's sources held then.
type variantLast struct {
	group int32
	mask  uint64
	epoch uint32
	excl  []ruleset.Exclusion
	seen  []uint32
}

// noteVariantNew is noteNew for a variant (group g), against the contents of the variant with
// the same group and exclusions in an earlier transaction, if still kept (variantEpochs).
func (tx *Transaction) noteVariantNew(g int32, v *groupVariant, vals []val) {
	tx.newVals[g].prev = 0
	if v.epoch == 0 {
		return
	}
	l := tx.lastOfVariant(v, true)
	prev := l.epoch
	tx.noteVariantLast(l, v)
	if prev == 0 || prev == v.epoch {
		return
	}
	for i := range tx.variantEpochs {
		if ve := &tx.variantEpochs[i]; ve.epoch == prev {
			tx.noteNew(g, prev, ve.stamps, vals)
			return
		}
	}
}

// lastOfVariant returns the entry of variantLast for v's group and exclusions; with add, one
// made for them in place of the one seen least lately, if none is.
func (tx *Transaction) lastOfVariant(v *groupVariant, add bool) *variantLast {
	oldest := 0
	for i := range tx.variantLast {
		l := &tx.variantLast[i]
		if l.group == v.group && l.mask == v.mask {
			return l
		}
		if l.epoch < tx.variantLast[oldest].epoch {
			oldest = i
		}
	}
	if !add {
		return nil
	}
	if len(tx.variantLast) < variantEpochsKept {
		tx.variantLast = append(tx.variantLast, variantLast{})
		oldest = len(tx.variantLast) - 1
	}
	l := &tx.variantLast[oldest]
	l.group, l.mask, l.epoch, l.excl, l.seen = v.group, v.mask, 0, l.excl[:0], l.seen[:0]
	return l
}

// noteVariantLast records v's epoch in l, with what its exclusions remove and what its group's
// sources hold now.
func (tx *Transaction) noteVariantLast(l *variantLast, v *groupVariant) {
	l.epoch, l.excl, l.seen = v.epoch, l.excl[:0], l.seen[:0]
	for i := range tx.exclusions {
		if v.mask&(1<<i) != 0 {
			l.excl = append(l.excl, tx.exclusions[i].ex)
		}
	}
	for _, src := range tx.e.groups.sources[v.group] {
		l.seen = append(l.seen, tx.sourceEpoch(src))
	}
}

// sameExclusions reports whether the exclusions of v's mask remove what l's did.
func (tx *Transaction) sameExclusions(l *variantLast, v *groupVariant) bool {
	k := 0
	for i := range tx.exclusions {
		if v.mask&(1<<i) == 0 {
			continue
		}
		if k == len(l.excl) || l.excl[k] != tx.exclusions[i].ex {
			return false
		}
		k++
	}
	return k == len(l.excl)
}

// deriveVariant is deriveNew for variant g (v): its values are its group's minus what its
// exclusions remove, so while they remove what they removed for the variant's last epoch, the
// new values are what the targets, under the exclusions, select from the sources' new entries.
func (tx *Transaction) deriveVariant(g int32, v *groupVariant, r, head *ruleset.Rule) bool {
	l := tx.lastOfVariant(v, false)
	srcs := tx.e.groups.sources[v.group]
	if l == nil || l.epoch == 0 || srcs == nil || len(l.seen) != len(srcs) || !tx.sameExclusions(l, v) {
		return false
	}
	var changed [maxGroupSources]bool
	anyChanged := false
	for i, src := range srcs {
		epoch := tx.sourceEpoch(src)
		if epoch == 0 || l.seen[i] == 0 {
			return false
		}
		if changed[i] = epoch != l.seen[i]; changed[i] && src < sourceSingle && tx.sources[src].prev != l.seen[i] {
			return false
		}
		anyChanged = anyChanged || changed[i]
	}
	if !anyChanged { // the same contents as then
		tx.newVals[g].prev = 0
		v.epoch, v.derivedGen = l.epoch, tx.dataGen
		return true
	}
	first := int32(len(tx.newBuf))
	if !tx.selectNew(v.group, r, head, srcs, &changed, first) { // under the exclusions in force, as groupValues collects a variant
		tx.newBuf = tx.newBuf[:first]
		return false
	}
	tx.newVals[g] = newValues{gen: tx.dataGen, prev: l.epoch, first: first, end: int32(len(tx.newBuf))}
	v.epoch, v.derivedGen = tx.nextStamp(), tx.dataGen
	tx.noteVariantLast(l, v)
	return true
}

// The variants of one transaction (ctl exclusions in force) are not those of the next, but
// their contents mostly are: a variant takes the epoch of a recent one with the same value
// stamps in order.

const variantEpochsKept = 16

type variantEpoch struct {
	epoch  uint32
	stamps []uint32
}

// variantContentEpoch returns the epoch of a variant's values, or 0 when some value has neither
// a slot nor a constant content.
func (tx *Transaction) variantContentEpoch(vals []val) uint32 {
	if !stampedContents(vals) {
		return 0
	}
	for i := range tx.variantEpochs {
		if ve := &tx.variantEpochs[i]; ve.epoch != 0 && len(ve.stamps) == len(vals) && sameStamps(ve.stamps, vals) {
			return ve.epoch
		}
	}
	epoch := tx.nextStamp()
	tx.keepVariantEpoch(epoch, vals)
	return epoch
}

// stampedContents reports whether every value has a slot or a constant content: whether their
// stamps name their contents.
func stampedContents(vals []val) bool {
	for i := range vals {
		if v := &vals[i]; uint32(v.id) >= valueSlots && (v.id >= 0 || v.stamp < stampLimit) {
			return false
		}
	}
	return true
}

// keepVariantEpoch records the stamps of a variant's values under its epoch, in place of the
// oldest kept: later variants with the same contents take it.
func (tx *Transaction) keepVariantEpoch(epoch uint32, vals []val) {
	if !stampedContents(vals) {
		return
	}
	oldest := 0
	for i := range tx.variantEpochs {
		if tx.variantEpochs[i].epoch < tx.variantEpochs[oldest].epoch {
			oldest = i
		}
	}
	if len(tx.variantEpochs) < variantEpochsKept {
		tx.variantEpochs = append(tx.variantEpochs, variantEpoch{})
		oldest = len(tx.variantEpochs) - 1
	}
	ve := &tx.variantEpochs[oldest]
	ve.stamps = ve.stamps[:0]
	for i := range vals {
		ve.stamps = append(ve.stamps, vals[i].stamp)
	}
	ve.epoch = epoch
}

func sameStamps(stamps []uint32, vals []val) bool {
	for i := range vals {
		if stamps[i] != vals[i].stamp {
			return false
		}
	}
	return true
}

// mayMatch reports whether rule r, reading group g with summary slot, may match any value.
func (tx *Transaction) mayMatch(g, slot int32, r, head *ruleset.Rule) bool {
	s := &tx.summaries[slot]
	if s.gen != tx.dataGen {
		tx.summarize(g, slot, r, head)
	}
	if s.same > 0 {
		s = &tx.summaries[s.same-1]
	}
	if s.undecided {
		return true
	}
	if s.first == s.end {
		return false // no values: the operator never runs
	}
	switch r.Op.Kind {
	case ruleset.OpRx:
		re := &tx.e.rs.Regexes[r.Op.Regex]
		if s.maxLen < int(re.MinLen) {
			return false
		}
		for i := range re.Bytes {
			if !s.present.Intersects(&re.Bytes[i]) {
				return false
			}
		}
		if len(re.Prefilter) == 0 {
			return true
		}
		f := tx.joinedValues(s, true)
		if re.PrefilterMatcher >= 0 {
			_, ok := tx.e.find(re.PrefilterMatcher, f)
			return ok
		}
		for _, lit := range re.Prefilter {
			if strings.Contains(f, lit) {
				return true
			}
		}
		return false
	case ruleset.OpPm:
		_, ok := tx.e.find(r.Op.Matcher, tx.joinedValues(s, false))
		return ok
	case ruleset.OpDetectXSS:
		return s.present.Has('<') || s.present.Has('=')
	case ruleset.OpDetectSQLi:
		return s.present.Intersects(&sqliSyntax)
	}
	return true
}

// summarize builds the summary in slot for group g under rule r's pipeline. When the pipeline
// cannot change any of the group's values (none contains a byte it acts on), the slot refers to
// the group's untransformed summary instead: with ordinary requests that is most pipelines.
func (tx *Transaction) summarize(g, slot int32, r, head *ruleset.Rule) {
	node := r.Transform
	plan := &tx.e.groups
	if raw := tx.rawSummary(g); node != 0 && !plan.rewrites[node] {
		rs := &tx.summaries[raw]
		if rs.gen != tx.dataGen {
			tx.build(rs, g, 0, r, head)
		}
		if !rs.present.Intersects(&plan.triggers[node]) {
			tx.summaries[slot] = groupSummary{gen: tx.dataGen, same: raw + 1}
			return
		}
	}
	if r.MultiMatch && node != 0 {
		tx.summaries[slot] = groupSummary{gen: tx.dataGen, undecided: true}
		return
	}
	tx.build(&tx.summaries[slot], g, node, r, head)
}

func (tx *Transaction) build(s *groupSummary, g, node int32, r, head *ruleset.Rule) {
	tx.groupValues(g, r, head, 0)
	base := tx.spanBase(g)
	*s = groupSummary{gen: tx.dataGen, node: node,
		first: tx.groupSpans[base], end: tx.groupSpans[int(base)+len(r.Targets)]}
	plan := &tx.e.groups
	vals := tx.groupVals[s.first:s.end]
	for vi := range vals {
		v := &vals[vi]
		if node != 0 && v.id >= 0 && !plan.rewrites[node] {
			// A value without the pipeline's trigger bytes is summarized as it is.
			if p := tx.present(v, 0, v.value); !p.Intersects(&plan.triggers[node]) {
				s.maxLen = max(s.maxLen, len(v.value))
				s.present.Union(p)
				continue
			}
		}
		tv := tx.transformed(v, node)
		s.maxLen = max(s.maxLen, len(tv))
		s.present.Union(tx.present(v, node, tv))
	}
}

// joinedValues returns the summary's values joined by NUL (case-folded as the regex prefilters
// expect, or as they are for the phrase matcher, which folds ASCII itself). The text lives in
// an arena that is only appended to during a transaction, so the string stays valid.
func (tx *Transaction) joinedValues(s *groupSummary, folded bool) string {
	if folded && s.foldedJoinedGen == tx.dataGen {
		return s.foldedJoined
	}
	if !folded && s.joinedGen == tx.dataGen {
		return s.joined
	}
	start := len(tx.joinArena)
	vals := tx.groupVals[s.first:s.end]
	for vi := range vals {
		v := &vals[vi]
		tv := tx.transformed(v, s.node)
		if folded {
			tx.joinArena = append(tx.joinArena, tx.folded(v, s.node, tv)...)
		} else {
			tx.joinArena = append(tx.joinArena, tv...)
		}
		tx.joinArena = append(tx.joinArena, 0)
	}
	var out string
	if n := len(tx.joinArena) - start; n > 0 {
		out = unsafe.String(&tx.joinArena[start], n)
	}
	if folded {
		s.foldedJoined, s.foldedJoinedGen = out, tx.dataGen
	} else {
		s.joined, s.joinedGen = out, tx.dataGen
	}
	return out
}

// dataChanged starts a new data generation: every cached group and summary is stale.
func (tx *Transaction) dataChanged() {
	tx.dataAdded = tx.added
	tx.dataGen++
	if tx.dataGen == 0 {
		clear(tx.groupGen)
		clear(tx.groupSameGen)
		for i := range tx.sources {
			tx.sources[i].gen = 0
		}
		for i := range tx.summaries {
			tx.summaries[i] = groupSummary{}
		}
		tx.dataGen = 1
	}
}
