// Package crs compiles the OWASP Core Rule Set v4 embedded by coraza-coreruleset into a ruleset.
package crs

import (
	"fmt"
	"io/fs"
	"strings"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"

	"github.com/meshaccel/meshaccel/wasm-waf/engine"
	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// Options choose the CRS configuration.
type Options struct {
	// ParanoiaLevel is tx.blocking_paranoia_level (1-4); 0 means 1.
	ParanoiaLevel int
	// DetectionOnly compiles SecRuleEngine DetectionOnly instead of On.
	DetectionOnly bool
	// Setup is SecLang inserted after the engine configuration and before crs-setup.conf
	// (e.g. SecAction id:900xxx overrides that CRS setup then keeps).
	Setup string
	// Extra is SecLang appended after the CRS rules (exclusions, custom rules).
	Extra string
	// KeepUnreachable keeps the rules that no request can reach at this configuration (the
	// upper paranoia levels behind their gates); by default engine.Prune leaves them out.
	KeepUnreachable bool
}

// Main returns the top-level SecLang that includes the CRS files from coreruleset.FS.
func Main(opts Options) (string, error) {
	pl := opts.ParanoiaLevel
	if pl == 0 {
		pl = 1
	}
	if pl < 1 || pl > 4 {
		return "", fmt.Errorf("crs: paranoia level %d is not in 1-4", pl)
	}
	mode := "On"
	if opts.DetectionOnly {
		mode = "DetectionOnly"
	}
	return fmt.Sprintf(`Include @coraza.conf-recommended
SecRuleEngine %s
SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d"
%s
Include @crs-setup.conf.example
Include @owasp_crs/*.conf
%s
`, mode, pl, opts.Setup, opts.Extra), nil
}

// Compile returns the compiled CRS, without its unreachable rules unless opts keeps them.
func Compile(opts Options) (*ruleset.Ruleset, error) {
	return CompileWith(opts, nil)
}

// CompileWith compiles the CRS; paths that the embedded CRS does not hold (for example files that
// Extra includes) are read from fsys.
func CompileWith(opts Options, fsys fs.FS) (*ruleset.Ruleset, error) {
	text, err := Main(opts)
	if err != nil {
		return nil, err
	}
	var root fs.FS = coreruleset.FS
	if fsys != nil {
		root = overlayFS{coreruleset.FS, fsys}
	}
	rs, err := ruleset.CompileString(ruleset.Options{FS: root}, "crs.conf", text)
	if err != nil || opts.KeepUnreachable {
		return rs, err
	}
	return engine.Prune(rs)
}

// overlayFS reads the embedded CRS first and falls back to a second file system.
type overlayFS struct{ first, second fs.FS }

func (o overlayFS) Open(name string) (fs.File, error) {
	if strings.HasPrefix(name, "@") {
		return o.first.Open(name)
	}
	return o.second.Open(name)
}
