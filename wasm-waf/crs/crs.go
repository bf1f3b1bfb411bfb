// Package crs compiles the OWASP Core Rule Set v4 embedded by coraza-coreruleset into a ruleset.
package crs

import (
	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// Options choose the CRS configuration.
type Options struct {
	// ParanoiaLevel is tx.blocking_paranoia_level (1-4); 0 means 1.
	ParanoiaLevel int
	// DetectionOnly compiles SecRuleEngine DetectionOnly instead of On.
	DetectionOnly bool
	// Extra is SecLang appended after the CRS rules (exclusions, custom rules).
	Extra string
}

// Compile returns the compiled CRS.
func Compile(opts Options) (*ruleset.Ruleset, error) {
	return compile(opts)
}
