package regexcompat

import (
	"errors"
	"fmt"

	gohs "github.com/flier/gohs/hyperscan"
)

// hyperscanRegex is one expression compiled the way Envoy's envoy.regex_engines.hyperscan
// compiles every safe_regex: block mode with HS_FLAG_UTF8 only, and a second database with
// HS_FLAG_SOM_LEFTMOST added (Envoy builds it for replaceAll, so a pattern that cannot be
// compiled that way is rejected too). A match anywhere in the input counts as a match.
type hyperscanRegex struct {
	db      gohs.BlockDatabase
	scratch *gohs.Scratch
}

// errHyperscanMatched stops a scan at the first match, as Envoy's engine does.
var errHyperscanMatched = gohs.ErrScanTerminated

// compileEnvoyHyperscan compiles expr as Envoy's Hyperscan regex engine does.
func compileEnvoyHyperscan(expr string) (*hyperscanRegex, error) {
	engine, err := compileHyperscan(expr, gohs.Utf8Mode)
	if err != nil {
		return nil, err
	}
	som, err := gohs.NewBlockDatabase(gohs.NewPattern(expr, gohs.Utf8Mode|gohs.SomLeftMost))
	if err != nil {
		engine.Close()
		return nil, fmt.Errorf("with HS_FLAG_SOM_LEFTMOST: %w", err)
	}
	_ = som.Close()
	return engine, nil
}

// compileUTF8 compiles expr with HS_FLAG_UTF8 alone, without Envoy's second compile.
func compileUTF8(expr string) (*hyperscanRegex, error) {
	return compileHyperscan(expr, gohs.Utf8Mode)
}

// compileAllowingEmpty compiles expr with HS_FLAG_UTF8 and HS_FLAG_ALLOWEMPTY and no start of
// match: how the matcher and Envoy's input matcher (allow_empty) can compile what Envoy's regex
// engine refuses.
func compileAllowingEmpty(expr string) (*hyperscanRegex, error) {
	return compileHyperscan(expr, gohs.Utf8Mode|gohs.AllowEmpty)
}

// compileHyperscan compiles expr with flags for block-mode scanning.
func compileHyperscan(expr string, flags gohs.CompileFlag) (*hyperscanRegex, error) {
	db, err := gohs.NewBlockDatabase(gohs.NewPattern(expr, flags))
	if err != nil {
		return nil, err
	}
	scratch, err := gohs.NewScratch(db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &hyperscanRegex{db: db, scratch: scratch}, nil
}

// Match reports whether expr matches anywhere in text. Not safe for concurrent use.
func (r *hyperscanRegex) Match(text string) (bool, error) {
	matched := false
	data := make([]byte, len(text))
	copy(data, text)
	err := r.db.Scan(data, r.scratch, func(uint, uint64, uint64, uint, any) error {
		matched = true
		return errHyperscanMatched
	}, nil)
	if err != nil && !errors.Is(err, errHyperscanMatched) {
		return false, err
	}
	return matched, nil
}

func (r *hyperscanRegex) Close() {
	_ = r.scratch.Free()
	_ = r.db.Close()
}
