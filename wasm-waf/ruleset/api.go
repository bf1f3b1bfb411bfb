// Package ruleset is the compiled WAF ruleset: the compiler that turns SecLang (the ModSecurity v3 /
// Coraza dialect, enough for the OWASP CRS v4) into a Ruleset, and the compact, versioned binary
// artifact that carries a Ruleset into the Wasm plugin.
//
// Everything expensive happens in Compile, on the host: parsing, macro and variable resolution,
// regex validation and literal prefilter extraction, Aho-Corasick construction for @pm. Load only
// decodes flat tables, so it is cheap in a Wasm interpreter and never recurses on input.
package ruleset

import (
	"io/fs"
)

// FormatVersion is the artifact format that MarshalBinary writes and Load accepts.
const FormatVersion = 4

// EngineMode is SecRuleEngine.
type EngineMode uint8

const (
	EngineOn EngineMode = iota
	EngineDetectionOnly
	EngineOff
)

func (m EngineMode) String() string {
	switch m {
	case EngineOn:
		return "On"
	case EngineDetectionOnly:
		return "DetectionOnly"
	default:
		return "Off"
	}
}

// Options tune Compile.
type Options struct {
	// FS resolves Include, @pmFromFile and @ipMatchFromFile paths. Nil means no file access.
	FS fs.FS
	// Directives are appended after the files, e.g. a paranoia-level SecAction.
	Directives string
}

// CompileFiles parses the named files from opts.FS (in order, following Include) and compiles them.
func CompileFiles(opts Options, paths ...string) (*Ruleset, error) {
	return compileFiles(opts, paths)
}

// CompileString compiles SecLang text; name labels it in errors.
func CompileString(opts Options, name, text string) (*Ruleset, error) {
	return compileString(opts, name, text)
}
