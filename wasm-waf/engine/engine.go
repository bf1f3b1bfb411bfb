// Package engine evaluates a compiled ruleset against HTTP requests. It is written for a Wasm
// interpreter with a small operand stack: no goroutines, timers or reflection at request time, no
// recursion over input or ruleset size, and per-transaction buffers reused across requests.
package engine

import "github.com/meshaccel/meshaccel/wasm-waf/ruleset"

// Interruption says that a disruptive rule stopped the request.
type Interruption struct {
	RuleID int
	// Status is the HTTP status to answer with.
	Status int
	// Action is the disruptive action: "deny", "drop", "redirect".
	Action string
}

// Match is one rule that matched, for logging.
type Match struct {
	RuleID   int
	Msg      string
	Data     string
	Severity int
	Tags     []string
}

// Options override ruleset settings for one engine.
type Options struct {
	// Mode overrides SecRuleEngine when set.
	Mode *ruleset.EngineMode
}

// Engine evaluates one ruleset. It is not safe for concurrent use (proxy-wasm VMs are single-threaded).
type Engine struct {
	rs   *ruleset.Ruleset
	mode ruleset.EngineMode
	free []*Transaction
}

// New returns an engine for rs with the ruleset's own settings.
func New(rs *ruleset.Ruleset) *Engine { return NewWithOptions(rs, Options{}) }

// NewWithOptions returns an engine for rs with overrides.
func NewWithOptions(rs *ruleset.Ruleset, opts Options) *Engine {
	e := &Engine{rs: rs, mode: rs.Engine}
	if opts.Mode != nil {
		e.mode = *opts.Mode
	}
	return e
}

// Transaction is the evaluation state of one HTTP request.
type Transaction struct {
	e       *Engine
	matched []int
	matches []Match
	intr    *Interruption
}

// NewTransaction returns a transaction from the free list or a new one.
func (e *Engine) NewTransaction() *Transaction {
	if n := len(e.free); n > 0 {
		tx := e.free[n-1]
		e.free = e.free[:n-1]
		return tx
	}
	return &Transaction{e: e}
}

// ProcessRequestHeaders runs phase 1.
func (tx *Transaction) ProcessRequestHeaders(method, uri, proto string, headers [][2]string) *Interruption {
	return tx.intr
}

// ProcessRequestBody runs phase 2; call it even without a body.
func (tx *Transaction) ProcessRequestBody(body []byte, contentType string) *Interruption {
	return tx.intr
}

// RequestBodyAccess reports whether the body should be buffered and passed to ProcessRequestBody.
func (tx *Transaction) RequestBodyAccess() bool { return tx.e.rs.RequestBodyAccess }

// RequestBodyLimit is the most body bytes the engine inspects.
func (tx *Transaction) RequestBodyLimit() int { return tx.e.rs.RequestBodyLimit }

// SetRequestBodyTruncated records that the body was longer than RequestBodyLimit.
func (tx *Transaction) SetRequestBodyTruncated() {}

// MatchedRules returns the ids of logged rules that matched, in evaluation order.
func (tx *Transaction) MatchedRules() []int { return tx.matched }

// Matches returns the logged matches with their messages.
func (tx *Transaction) Matches() []Match { return tx.matches }

// Interruption returns the interruption, if any.
func (tx *Transaction) Interruption() *Interruption { return tx.intr }

// Close resets the transaction and returns it to the engine's free list.
func (tx *Transaction) Close() {
	tx.matched = tx.matched[:0]
	tx.matches = tx.matches[:0]
	tx.intr = nil
	tx.e.free = append(tx.e.free, tx)
}
