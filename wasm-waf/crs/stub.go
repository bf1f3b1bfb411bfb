package crs

import "github.com/meshaccel/meshaccel/wasm-waf/ruleset"

func compile(opts Options) (*ruleset.Ruleset, error) {
	return ruleset.CompileString(ruleset.Options{}, "crs", "")
}
