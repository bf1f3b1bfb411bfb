package main

// The plugin talks to the rule engine through this small surface so that the
// proxy-wasm shell (configuration, buffering, enforcement, metrics, failure
// policy) is the same whichever engine is linked in.

// request is the part of an HTTP request that the request-phase rules see.
type request struct {
	method   string
	uri      string // path and query, as received
	protocol string // "HTTP/1.1", "HTTP/2", ...
	// headers in arrival order, lower-case names, pseudo-headers removed;
	// :authority is presented as "host".
	headers [][2]string
}

// verdict is the result of one inspection phase.
type verdict struct {
	// interrupt is set when the rules decided to stop the request.
	interrupt bool
	// ruleID is the rule that decided the interruption.
	ruleID int
}

// ruleEngine is a loaded ruleset, shared by all requests of a plugin.
type ruleEngine interface {
	newTransaction() transaction
}

// transaction inspects one request. Calls come in order: requestHeaders once,
// then requestBody once (with nil when the request has no body or body
// inspection is off). close releases everything the transaction holds.
type transaction interface {
	// requestBodyLimit is the most body bytes the ruleset inspects; 0 when
	// it does not inspect bodies at all.
	requestBodyLimit() int
	requestHeaders(req *request) (verdict, error)
	// requestBody inspects body; truncated says the request body was
	// longer than requestBodyLimit.
	requestBody(body []byte, truncated bool) (verdict, error)
	// matchedRuleIDs lists the logged rules that matched so far.
	matchedRuleIDs() []int
	close()
}

// engineLoader builds the rule engine from a validated configuration. The
// build selects the engine: the meshaccel engine by default
// (engine_meshaccel.go), Coraza with -tags coraza,no_fs_access
// (engine_coraza.go) for side-by-side measurements.
type engineLoader func(cfg *Config) (ruleEngine, error)
