// Package engine evaluates a compiled ruleset against HTTP requests. It is written for a Wasm
// interpreter with a small operand stack: no goroutines, timers or reflection at request time, no
// recursion over input or ruleset size, and per-transaction buffers reused across requests.
package engine

import (
	"net/netip"
	"slices"
	"unsafe"

	"github.com/meshaccel/meshaccel/wasm-waf/lazydfa"
	"github.com/meshaccel/meshaccel/wasm-waf/regexprog"
	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
	"github.com/meshaccel/meshaccel/wasm-waf/transform"
)

// Interruption says that a disruptive rule stopped the request.
type Interruption struct {
	RuleID int
	// Status is the HTTP status to answer with.
	Status int
	// Action is the disruptive action: "deny", "drop" or "redirect".
	Action string
	// Location is the redirect target.
	Location string
}

// Match is one logged rule that matched.
type Match struct {
	RuleID   int
	Msg      string
	Data     string
	Severity int // -1 when the rule has none
	Tags     []string
}

// Options override ruleset settings for one engine.
type Options struct {
	// Mode overrides SecRuleEngine when set.
	Mode *ruleset.EngineMode
}

// regexMatchers are the matchers of one of the ruleset's programs, made on first use (most never
// run because their prefilters reject the input): dfa answers match or no match, and pike, only
// made for rules that capture, extracts the submatches.
type regexMatchers struct {
	dfa  *lazydfa.Matcher
	pike *regexprog.Machine
}

// Engine evaluates one ruleset. It is not safe for concurrent use (proxy-wasm VMs are single-threaded).
type Engine struct {
	rs      *ruleset.Ruleset
	mode    ruleset.EngineMode
	regexes []regexMatchers
	// nodePath[n] is the transformation pipeline of node n from the first step to n.
	nodePath [][]int32
	txIndex  map[string]int32
	prefixes map[int32][]netip.Prefix // by rule index, for @ipMatch
	// headOf[i] is the chain starter of rule i (itself for starters).
	headOf []int32
	groups groupPlan
	// replay says what each chain starter reads (replay.go).
	replay replayPlan
	// singleTX[i]: rule i reads one constant TX key without transformations (a third of the
	// CRS's rules: paranoia-level gates, anomaly scores), evaluated without collecting.
	singleTX []bool
	// numArg[i] is the argument of rule i's numeric operator when it is a constant (numConst[i]):
	// paranoia gates and score checks compare with one on every request.
	numArg   []int
	numConst []bool
	// oneStep[t] is the transformation node of the pipeline that is just t (0: none).
	oneStep [256]int32
	// derivesPresence[t]: the bytes of t's result may follow from its input's (transform.Present).
	derivesPresence [256]bool
	// txKeyMemo[i][s] is 0 (unknown), 1 (no) or 2 (yes): whether key regex i selects TX slot s.
	txKeyMemo [][]uint8
	// pureMiss[i]: that rule i's operator misses a value follows from the value's bytes alone
	// (valuememo.go).
	pureMiss []bool
	// folds[i] is rule i's outcome when it is the same on every request (fold.go).
	folds    []foldedRule
	foldRuns foldPlan
	// dense[i] runs the ruleset's matcher i as a DFA, made on first use.
	dense []*ruleset.DenseMatcher
	// tagged[tag] has a bit per rule that carries tag, made on first use by a ctl; taggedByAddr
	// finds the sets of the tags looked up by the same string again.
	tagged       map[string][]uint64
	taggedByAddr []taggedAddr
	// detect remembers libinjection's latest verdicts (detectmemo.go).
	detect *detectMemo
	free   []*Transaction
	nextID uint64
	// readsUniqueID: some rule reads UNIQUE_ID. When none does, no request pays for making one.
	readsUniqueID bool
	// capIndex is scratch space for submatch offsets.
	capIndex []int
}

// readsVar reports whether a rule of rs reads v: in a target or in a macro.
func readsVar(rs *ruleset.Ruleset, v ruleset.Var) bool {
	inMacro := func(m *ruleset.Macro) bool {
		for _, p := range m.Parts {
			if p.Var == v {
				return true
			}
		}
		return false
	}
	for i := range rs.Rules {
		r := &rs.Rules[i]
		if inMacro(&r.Op.Arg) || inMacro(&r.Msg) || inMacro(&r.LogData) {
			return true
		}
		for _, t := range r.Targets {
			if t.Var == v {
				return true
			}
		}
		for j := range r.SetVars {
			if inMacro(&r.SetVars[j].Key) || inMacro(&r.SetVars[j].Value) {
				return true
			}
		}
	}
	return false
}

// New returns an engine for rs with the ruleset's own settings.
func New(rs *ruleset.Ruleset) *Engine { return NewWithOptions(rs, Options{}) }

// NewWithOptions returns an engine for rs with overrides.
func NewWithOptions(rs *ruleset.Ruleset, opts Options) *Engine {
	e := &Engine{
		rs:       rs,
		mode:     rs.Engine,
		regexes:  make([]regexMatchers, len(rs.Regexes)),
		nodePath: make([][]int32, len(rs.TransformNodes)),
		txIndex:  make(map[string]int32, len(rs.TXKeys)),
		prefixes: map[int32][]netip.Prefix{},
		detect:   newDetectMemo(),
		dense:    make([]*ruleset.DenseMatcher, len(rs.Matchers)),
	}
	if opts.Mode != nil {
		e.mode = *opts.Mode
	}
	for n := 1; n < len(rs.TransformNodes); n++ {
		parent := rs.TransformNodes[n].Parent
		path := make([]int32, 0, len(e.nodePath[parent])+1)
		path = append(path, e.nodePath[parent]...)
		e.nodePath[n] = append(path, int32(n))
	}
	e.groups = planGroups(rs)
	e.replay = planReplay(rs)
	e.readsUniqueID = readsVar(rs, ruleset.VarUniqueID)
	for n := 1; n < len(rs.TransformNodes); n++ {
		if tn := rs.TransformNodes[n]; tn.Parent == 0 {
			e.oneStep[tn.T] = int32(n)
		}
	}
	for t := range e.derivesPresence {
		_, e.derivesPresence[t] = transform.Present(transform.ID(t), &[4]uint64{})
	}
	e.numArg, e.numConst = make([]int, len(rs.Rules)), make([]bool, len(rs.Rules))
	e.pureMiss = make([]bool, len(rs.Rules))
	for i := range rs.Rules {
		e.pureMiss[i] = pureMiss(&rs.Rules[i])
		switch op := &rs.Rules[i].Op; op.Kind {
		case ruleset.OpEq, ruleset.OpGe, ruleset.OpGt, ruleset.OpLe, ruleset.OpLt:
			if len(op.Arg.Parts) == 0 || len(op.Arg.Parts) == 1 && op.Arg.Parts[0].Var == ruleset.VarNone {
				e.numConst[i] = true
				if len(op.Arg.Parts) == 1 {
					e.numArg[i] = atoiLoose(op.Arg.Parts[0].Lit)
				}
			}
		}
	}
	e.txKeyMemo = make([][]uint8, len(rs.Regexes))
	e.singleTX = make([]bool, len(rs.Rules))
	for i := range rs.Rules {
		r := &rs.Rules[i]
		e.singleTX[i] = len(r.Targets) == 1 && r.Targets[0].Var == ruleset.VarTX && r.Targets[0].TXSlot >= 0 &&
			r.Transform == 0 && !r.MultiMatch && len(r.Exclusions) == 0
	}
	e.headOf = make([]int32, len(rs.Rules))
	for i := range rs.Rules {
		e.headOf[i] = int32(i)
	}
	for i := range rs.Rules {
		if n := rs.Rules[i].ChainNext; n >= 0 {
			e.headOf[n] = e.headOf[i]
		}
	}
	for i, k := range rs.TXKeys {
		e.txIndex[k] = int32(i)
	}
	for i := range rs.Rules {
		r := &rs.Rules[i]
		if r.Op.Kind != ruleset.OpIPMatch {
			continue
		}
		var ps []netip.Prefix
		for _, s := range r.Op.Prefixes {
			if p, err := netip.ParsePrefix(s); err == nil {
				ps = append(ps, p)
			}
		}
		e.prefixes[int32(i)] = ps
	}
	e.folds = e.foldRules()
	e.foldRuns = planFoldRuns(rs, e.folds)
	e.replay.planVisits(rs, e.folds)
	return e
}

// txKeyMatches reports whether key regex i selects the TX key of slot s. The answer is kept per
// slot: selectors such as TX:/^header_name_920450_/ test every TX key set, on every request.
func (e *Engine) txKeyMatches(i, s int32) bool {
	memo := e.txKeyMemo[i]
	if memo == nil {
		memo = make([]uint8, len(e.rs.TXKeys))
		e.txKeyMemo[i] = memo
	}
	switch memo[s] {
	case 1:
		return false
	case 2:
		return true
	}
	ok := e.matchRegex(i, e.rs.TXKeys[s])
	memo[s] = 1
	if ok {
		memo[s] = 2
	}
	return ok
}

// find looks for the phrases of matcher i in s (see ruleset.Matcher.Find).
func (e *Engine) find(i int32, s string) (string, bool) {
	d := e.dense[i]
	if d == nil {
		d = ruleset.NewDenseMatcher(e.rs.Matchers[i])
		e.dense[i] = d
	}
	return d.Find(s)
}

// Ruleset returns the engine's ruleset.
func (e *Engine) Ruleset() *ruleset.Ruleset { return e.rs }

// matchRegex reports whether regex i matches anywhere in s.
func (e *Engine) matchRegex(i int32, s string) bool {
	m := &e.regexes[i]
	if m.dfa == nil {
		r := &e.rs.Regexes[i]
		m.dfa = lazydfa.NewWithClasses(r.Prog, [128]uint8(r.Classes)) // Load checked both
	}
	return m.dfa.MatchString(s)
}

// submatches returns the capture groups of regex i's leftmost-first match in s (nil: no
// match), as regexp.FindStringSubmatch would; groups that did not take part are empty.
func (e *Engine) submatches(i int32, s string, dst []string) []string {
	m := &e.regexes[i]
	if m.pike == nil {
		m.pike = regexprog.NewMachine(e.rs.Regexes[i].Prog)
	}
	idx := m.pike.FindSubmatchIndex(e.capIndex, s)
	if idx == nil {
		return nil
	}
	e.capIndex = idx
	dst = dst[:0]
	for k := 0; k+1 < len(idx); k += 2 {
		if a, b := idx[k], idx[k+1]; a >= 0 && b >= a {
			dst = append(dst, s[a:b])
		} else {
			dst = append(dst, "")
		}
	}
	return dst
}

// NewTransaction returns a transaction from the free list or a new one.
func (e *Engine) NewTransaction() *Transaction {
	var tx *Transaction
	if n := len(e.free); n > 0 {
		tx = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		tx = newTransaction(e)
	}
	tx.begin()
	return tx
}

// rulesTagged returns the set of rules (by index) that carry tag: a ctl exclusion by tag then
// covers a rule after one bit test instead of a comparison with each of its tags.
func (e *Engine) rulesTagged(tag string) []uint64 {
	// Tags come from the ruleset's ctl actions, whose strings stay where they are: found by
	// address first, without hashing them on every request.
	for i := range e.taggedByAddr {
		if t := &e.taggedByAddr[i]; t.data == unsafe.StringData(tag) && t.len == len(tag) {
			return t.set
		}
	}
	set, ok := e.tagged[tag]
	if !ok {
		set = make([]uint64, (len(e.rs.Rules)+63)/64)
		for i := range e.rs.Rules {
			if slices.Contains(e.rs.Rules[i].Tags, tag) {
				set[i>>6] |= 1 << (i & 63)
			}
		}
		if e.tagged == nil {
			e.tagged = map[string][]uint64{}
		}
		e.tagged[tag] = set
	}
	if len(e.taggedByAddr) < 16 {
		e.taggedByAddr = append(e.taggedByAddr, taggedAddr{unsafe.StringData(tag), len(tag), set})
	}
	return set
}

type taggedAddr struct {
	data *byte
	len  int
	set  []uint64
}

// ruleIndex returns the index of r, which points into the ruleset's rules.
func (e *Engine) ruleIndex(r *ruleset.Rule) int {
	return int((uintptr(unsafe.Pointer(r)) - uintptr(unsafe.Pointer(unsafe.SliceData(e.rs.Rules)))) / unsafe.Sizeof(*r))
}
