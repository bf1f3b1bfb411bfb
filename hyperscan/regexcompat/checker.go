// Package regexcompat decides whether a regex means the same under Envoy's Hyperscan regex
// engine as under its default RE2 engine, and proposes a rewrite that does when one exists.
//
// The reference is RE2 as Envoy evaluates it: the regex must parse as RE2 (Go's regexp/syntax
// with Perl flags stands in, and the C++ RE2 library supplies the program size Envoy limits) and
// must match the whole input (Go's regexp, anchored, supplies the behaviour). The Hyperscan side
// is modelled exactly as Envoy compiles it: HS_FLAG_UTF8, block mode, first match anywhere in the
// input, and a second compile with HS_FLAG_SOM_LEFTMOST that must also succeed.
//
// Equivalence is established by construction and by probing: the checker walks the regex to
// generate inputs it matches, mutates them on every known edge (trailing newline, surrounding
// text, invalid UTF-8, vertical tab, non-ASCII case variants) and compares both engines on each.
// A verdict names every kind of difference it found with an input that shows it.
package regexcompat

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"regexp"
	"regexp/syntax"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"k8s.io/utils/lru"

	"github.com/meshaccel/meshaccel/hyperscan"
	"github.com/meshaccel/meshaccel/hyperscan/inputgen"
)

// DefaultProbeInputs is how many generated inputs each regex (and each rewrite) is probed with.
const DefaultProbeInputs = 1500

// DefaultCacheSize is how many verdicts a Checker keeps. A verdict takes a few hundred bytes;
// the bound keeps an operator whose EnvoyFilters keep changing regexes from growing without end.
const DefaultCacheSize = 4096

// Checker implements hyperscan.RegexChecker. It is safe for concurrent use and caches verdicts by
// the SHA-256 of the regex (the least recently used go first), so a reconcile loop pays for
// compilation once per regex.
type Checker struct {
	maxProgramSize int
	probeInputs    int
	cacheSize      int

	mu    sync.Mutex // makes lookup-or-insert atomic: one computation per regex at a time
	cache *lru.Cache // [sha256.Size]byte -> *cachedVerdict
}

type cachedVerdict struct {
	once    sync.Once
	verdict hyperscan.RegexVerdict
}

var _ hyperscan.RegexChecker = (*Checker)(nil)

// Option configures a Checker.
type Option func(*Checker)

// WithMaxProgramSize sets the RE2 program size limit (Envoy's re2.max_program_size.error_level).
func WithMaxProgramSize(limit int) Option { return func(c *Checker) { c.maxProgramSize = limit } }

// WithProbeInputs sets how many generated inputs each regex is probed with.
func WithProbeInputs(n int) Option { return func(c *Checker) { c.probeInputs = n } }

// WithCacheSize sets how many verdicts are kept (at least one).
func WithCacheSize(n int) Option { return func(c *Checker) { c.cacheSize = max(n, 1) } }

// NewChecker returns a checker with Envoy's defaults.
func NewChecker(opts ...Option) *Checker {
	c := &Checker{
		maxProgramSize: hyperscan.EnvoyRE2MaxProgramSize,
		probeInputs:    DefaultProbeInputs,
		cacheSize:      DefaultCacheSize,
	}
	for _, opt := range opts {
		opt(c)
	}
	c.cache = lru.New(c.cacheSize)
	return c
}

// CheckRegex returns the verdict for regex as Envoy evaluates it. The first call for a regex
// compiles and probes it (milliseconds; more for very large patterns); later calls are a cache
// lookup while the verdict stays among the most recently used. Concurrent calls for the same
// regex wait for one computation.
func (c *Checker) CheckRegex(regex string) hyperscan.RegexVerdict {
	key := sha256.Sum256([]byte(regex))
	c.mu.Lock()
	var entry *cachedVerdict
	if cached, ok := c.cache.Get(key); ok {
		entry = cached.(*cachedVerdict)
	} else {
		entry = &cachedVerdict{}
		c.cache.Add(key, entry)
	}
	c.mu.Unlock()
	entry.once.Do(func() { entry.verdict = c.check(regex) })
	return cloneVerdict(entry.verdict)
}

// CheckRegexes checks regexes in parallel (GOMAXPROCS workers) and returns verdicts in order.
func (c *Checker) CheckRegexes(regexes []string) []hyperscan.RegexVerdict {
	verdicts := make([]hyperscan.RegexVerdict, len(regexes))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(regexes), 1)) {
		wg.Go(func() {
			for i := range work {
				verdicts[i] = c.CheckRegex(regexes[i])
			}
		})
	}
	for i := range regexes {
		work <- i
	}
	close(work)
	wg.Wait()
	return verdicts
}

func cloneVerdict(v hyperscan.RegexVerdict) hyperscan.RegexVerdict {
	if v.Differences != nil {
		v.Differences = append([]hyperscan.Difference(nil), v.Differences...)
	}
	return v
}

// reference is a regex as Envoy's RE2 engine sees it.
type reference struct {
	regex     string
	fullMatch *regexp.Regexp // Go's regexp anchored at both ends
	re2       *re2Regex      // the C++ library, for program size and second opinions
}

func (c *Checker) check(regex string) hyperscan.RegexVerdict {
	verdict := hyperscan.RegexVerdict{Regex: regex}
	add := func(kind hyperscan.DifferenceKind, example, format string, args ...any) {
		verdict.Differences = append(verdict.Differences, hyperscan.Difference{Kind: kind, Detail: fmt.Sprintf(format, args...), Example: example})
	}

	ref, problem := c.loadReference(regex)
	if problem != nil {
		verdict.Differences = []hyperscan.Difference{*problem}
		return verdict
	}

	if size := ref.re2.ProgramSize(); size > c.maxProgramSize {
		add(hyperscan.DiffProgramSize, "", "RE2 program size %d exceeds Envoy's limit of %d (re2.max_program_size.error_level): "+
			"the default engine rejects this regex, Hyperscan would accept it", size, c.maxProgramSize)
	}

	inputs := c.probeInputsFor(regex)
	matchesEmpty := ref.fullMatch.MatchString("")
	engine, err := compileEnvoyHyperscan(regex)
	switch {
	case err != nil && (matchesEmpty || strings.Contains(err.Error(), "empty buffer")):
		add(hyperscan.DiffEmptyMatch, "", "can match an empty buffer; Envoy's Hyperscan engine rejects patterns that can match an empty buffer "+
			"(it compiles each regex unanchored and with HS_FLAG_SOM_LEFTMOST): %v", err)
	case err != nil:
		add(hyperscan.DiffUnsupported, "", "Hyperscan cannot compile it: %v", err)
	default:
		found := c.probe(ref, engine, inputs)
		engine.Close()
		verdict.Differences = append(verdict.Differences, found...)
	}
	if err != nil {
		verdict.Differences = append(verdict.Differences, c.probeCompilableForm(ref, inputs)...)
	}

	if len(verdict.Differences) == 0 {
		verdict.Equivalent = true
		return verdict
	}
	if !matchesEmpty {
		verdict.Rewrite = c.findRewrite(ref, inputs)
	}
	return verdict
}

// loadReference compiles regex with Go and with RE2; a regex either rejects is reported as the
// single difference, because nothing else can be compared.
func (c *Checker) loadReference(regex string) (*reference, *hyperscan.Difference) {
	fullMatch, goErr := hyperscan.CompileFullMatch(regex)
	re2, re2Err := compileRE2(regex)
	switch {
	case re2Err != nil && goErr != nil:
		return nil, &hyperscan.Difference{Kind: hyperscan.DiffInvalidRE2, Detail: "not valid RE2: " + re2Err.Error()}
	case re2Err != nil:
		return nil, &hyperscan.Difference{Kind: hyperscan.DiffInvalidRE2, Detail: "not valid RE2: " + re2Err.Error() +
			" (Go's regexp accepts it; Envoy's RE2 is newer than the one meshaccel links and may accept it too)"}
	case goErr != nil:
		return nil, &hyperscan.Difference{Kind: hyperscan.DiffUnsupported, Detail: "RE2 accepts it but Go's regexp/syntax, " +
			"which meshaccel analyses regexes with, does not (" + goErr.Error() + "); it cannot be compared"}
	}
	return &reference{regex: regex, fullMatch: fullMatch, re2: re2}, nil
}

// probeInputsFor generates the probe inputs for regex, seeded by its content so verdicts are
// reproducible.
func (c *Checker) probeInputsFor(regex string) []inputgen.Input {
	re, err := hyperscan.ParseRE2(regex)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256([]byte(regex))
	return inputgen.New(re, binary.LittleEndian.Uint64(sum[:8])).Inputs(c.probeInputs)
}

// probe compares engine (an expression compiled as Envoy compiles it) with ref's full match on
// inputs and returns one difference per kind, each with the first input that shows it.
func (c *Checker) probe(ref *reference, engine *hyperscanRegex, inputs []inputgen.Input) []hyperscan.Difference {
	var anchored *hyperscanRegex
	defer func() {
		if anchored != nil {
			anchored.Close()
		}
	}()
	seen := map[hyperscan.DifferenceKind]bool{}
	var found []hyperscan.Difference
	for _, in := range inputs {
		want := ref.fullMatch.MatchString(in.Text)
		got, err := engine.Match(in.Text)
		if err != nil {
			if !seen[hyperscan.DiffUnsupported] {
				seen[hyperscan.DiffUnsupported] = true
				found = append(found, hyperscan.Difference{Kind: hyperscan.DiffUnsupported, Detail: "Hyperscan failed to scan: " + err.Error(), Example: in.Text})
			}
			continue
		}
		if got == want {
			continue
		}
		if anchored == nil {
			// Anchoring explains a difference when the anchored expression agrees with RE2.
			anchored, _ = compileUTF8(hyperscan.AnchoredExpression(ref.regex))
		}
		anchoredAgrees := false
		if anchored != nil {
			m, err := anchored.Match(in.Text)
			anchoredAgrees = err == nil && m == want
		}
		// Unanchored scanning can only add matches, so it explains only extra matches.
		kind, reason := classify(ref.regex, in, anchoredAgrees && got && !want)
		if seen[kind] {
			continue
		}
		seen[kind] = true
		found = append(found, hyperscan.Difference{
			Kind:    kind,
			Detail:  fmt.Sprintf("%s: on %q RE2 full match %s, Envoy's Hyperscan engine %s%s", reason, in.Text, verb(want), verb(got), re2Note(ref, in.Text, want)),
			Example: in.Text,
		})
	}
	return found
}

// probeCompilableForm probes a regex Envoy's engine refuses in the nearest form Hyperscan does
// compile (anchored, empty matches allowed, no start of match), so the verdict also names what
// would still differ where meshaccel or Envoy's input matcher compiles it that way.
func (c *Checker) probeCompilableForm(ref *reference, inputs []inputgen.Input) []hyperscan.Difference {
	forms := []string{hyperscan.AnchoredExpression(ref.regex)}
	if expr, err := hyperscan.FullMatchExpression(ref.regex, hyperscan.CaseExplicitClasses); err == nil {
		forms = append(forms, expr)
	}
	for _, form := range forms {
		engine, err := compileAllowingEmpty(form)
		if err != nil {
			continue
		}
		found := c.probe(ref, engine, inputs)
		engine.Close()
		for i := range found {
			found[i].Detail = fmt.Sprintf("compiled as %s with HS_FLAG_ALLOWEMPTY, %s", form, found[i].Detail)
		}
		return found
	}
	return nil
}

// classify names why Hyperscan and RE2 disagree on one input.
func classify(regex string, in inputgen.Input, anchoredAgrees bool) (hyperscan.DifferenceKind, string) {
	text := in.Text
	switch {
	case anchoredAgrees && strings.HasSuffix(text, "\n") && strings.Contains(regex, "$"):
		return hyperscan.DiffAnchoring, "Hyperscan's `$` also matches before a final newline, and it matches anywhere in the input where RE2 must match all of it"
	case anchoredAgrees:
		return hyperscan.DiffAnchoring, "Envoy's Hyperscan engine accepts a match anywhere in the input; RE2 must match all of it"
	case !utf8.ValidString(text):
		return hyperscan.DiffUTF8, "on invalid UTF-8 Go's regexp reads each bad byte as U+FFFD, which Hyperscan's UTF-8 mode handles differently"
	case strings.Contains(text, "\v"):
		return hyperscan.DiffWhitespaceVT, "Hyperscan's \\s matches vertical tab (0x0B); RE2's does not"
	case hasNonASCII(text) && foldsCase(regex):
		return hyperscan.DiffCaseless, "case-insensitive matching of non-ASCII text differs"
	case hasNonASCII(text):
		return hyperscan.DiffUTF8, "non-ASCII text is classified differently (Hyperscan's Unicode tables and UTF-8 handling differ from RE2's)"
	case strings.HasSuffix(text, "\n"):
		return hyperscan.DiffAnchoring, "a `$` in the middle of the regex also matches before a final newline in Hyperscan"
	}
	return hyperscan.DiffSemanticMismatch, "the engines disagree"
}

func foldsCase(regex string) bool {
	re, err := hyperscan.ParseRE2(regex)
	if err != nil {
		return false
	}
	var walk func(r *syntax.Regexp) bool
	walk = func(r *syntax.Regexp) bool {
		if r.Flags&syntax.FoldCase != 0 {
			return true
		}
		for _, sub := range r.Sub {
			if walk(sub) {
				return true
			}
		}
		return false
	}
	return walk(re)
}

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

func verb(matched bool) string {
	if matched {
		return "matches"
	}
	return "does not match"
}

// re2Note adds the C++ RE2 answer where Go's regexp, the stand-in, disagrees with it.
func re2Note(ref *reference, text string, goMatched bool) string {
	if ref.re2.FullMatch(text) == goMatched {
		return ""
	}
	return fmt.Sprintf(" (C++ RE2 itself %s here: Go's regexp, the reference, and RE2 differ on this input)", verb(!goMatched))
}

// findRewrite returns the least invasive expression that RE2 reads exactly like ref.regex and
// Envoy's Hyperscan engine evaluates like RE2 full match on every probe input, or "".
func (c *Checker) findRewrite(ref *reference, inputs []inputgen.Input) string {
	candidates := []string{hyperscan.AnchoredExpression(ref.regex)}
	for _, style := range []hyperscan.CaseStyle{hyperscan.CaseInlineFlag, hyperscan.CaseExplicitClasses} {
		if expr, err := hyperscan.FullMatchExpression(ref.regex, style); err == nil {
			candidates = append(candidates, expr)
		}
	}
	tried := map[string]bool{ref.regex: true}
	for _, candidate := range candidates {
		if tried[candidate] {
			continue
		}
		tried[candidate] = true
		if c.rewriteHolds(ref, candidate, inputs) {
			return candidate
		}
	}
	return ""
}

func (c *Checker) rewriteHolds(ref *reference, candidate string, inputs []inputgen.Input) bool {
	candidateRef, problem := c.loadReference(candidate)
	if problem != nil || candidateRef.re2.ProgramSize() > c.maxProgramSize {
		return false
	}
	engine, err := compileEnvoyHyperscan(candidate)
	if err != nil {
		return false
	}
	defer engine.Close()
	for _, in := range inputs {
		want := ref.fullMatch.MatchString(in.Text)
		if candidateRef.fullMatch.MatchString(in.Text) != want {
			return false // the translation changed the RE2 meaning: a bug, never offer it
		}
		if got, err := engine.Match(in.Text); err != nil || got != want {
			return false
		}
	}
	return true
}
