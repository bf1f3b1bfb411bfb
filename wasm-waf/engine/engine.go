// Package engine evaluates a compiled ruleset against HTTP requests. It is written for a Wasm
// interpreter with a small operand stack: no goroutines, timers or reflection at request time, no
// recursion over input or ruleset size, and per-transaction buffers reused across requests.
package engine

import (
	"net/netip"
	"regexp"
	"regexp/syntax"

	"rsc.io/binaryregexp"

	"github.com/meshaccel/meshaccel/wasm-waf/lazydfa"
	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
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

type compiledRegex struct {
	// dfa answers match/no-match; re (compiled on the first capture) extracts submatches.
	dfa    *lazydfa.Matcher
	re     *regexp.Regexp
	bre    *binaryregexp.Regexp
	failed bool
}

// Engine evaluates one ruleset. It is not safe for concurrent use (proxy-wasm VMs are single-threaded).
type Engine struct {
	rs   *ruleset.Ruleset
	mode ruleset.EngineMode
	// regexes are compiled on first use: most never run because their prefilter rejects the input.
	regexes []compiledRegex
	// nodePath[n] is the transformation pipeline of node n from the first step to n.
	nodePath [][]int32
	txIndex  map[string]int32
	prefixes map[int32][]netip.Prefix // by rule index, for @ipMatch
	// headOf[i] is the chain starter of rule i (itself for starters).
	headOf []int32
	free   []*Transaction
	nextID uint64
}

// New returns an engine for rs with the ruleset's own settings.
func New(rs *ruleset.Ruleset) *Engine { return NewWithOptions(rs, Options{}) }

// NewWithOptions returns an engine for rs with overrides.
func NewWithOptions(rs *ruleset.Ruleset, opts Options) *Engine {
	e := &Engine{
		rs:       rs,
		mode:     rs.Engine,
		regexes:  make([]compiledRegex, len(rs.Regexes)),
		nodePath: make([][]int32, len(rs.TransformNodes)),
		txIndex:  make(map[string]int32, len(rs.TXKeys)),
		prefixes: map[int32][]netip.Prefix{},
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
	return e
}

// Ruleset returns the engine's ruleset.
func (e *Engine) Ruleset() *ruleset.Ruleset { return e.rs }

// regex returns the compiled regex i; ok is false when the artifact holds an invalid pattern
// (the compiler rejects those, so only a hand-made artifact can), and the rule then never matches.
func (e *Engine) regex(i int32) (c compiledRegex, ok bool) {
	c = e.regexes[i]
	if c.dfa != nil || c.bre != nil {
		return c, true
	}
	if c.failed {
		return c, false
	}
	r := &e.rs.Regexes[i]
	var err error
	if r.Binary {
		c.bre, err = binaryregexp.Compile(r.Pattern)
	} else {
		var prog *syntax.Prog
		if prog, err = lazydfa.Program(r.Pattern); err == nil {
			if len(r.Classes) == 128 {
				c.dfa = lazydfa.NewWithClasses(prog, [128]uint8(r.Classes))
			} else {
				c.dfa = lazydfa.New(prog)
			}
		}
	}
	c.failed = err != nil
	e.regexes[i] = c
	return c, err == nil
}

// submatcher returns the Go regexp of regex i for capture extraction.
func (e *Engine) submatcher(i int32) *regexp.Regexp {
	c := &e.regexes[i]
	if c.re == nil {
		c.re = regexp.MustCompile(e.rs.Regexes[i].Pattern) // valid: the DFA compiled it
	}
	return c.re
}

func (c compiledRegex) matchString(s string) bool {
	if c.dfa != nil {
		return c.dfa.MatchString(s)
	}
	return c.bre.MatchString(s)
}

// PrecompileRegexes compiles every regex now instead of on first use.
func (e *Engine) PrecompileRegexes() {
	for i := range e.regexes {
		e.regex(int32(i))
	}
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
