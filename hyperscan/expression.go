package hyperscan

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// EnvoyRE2MaxProgramSize is the RE2 program size above which Envoy rejects a regex
// (runtime key re2.max_program_size.error_level, default 100).
const EnvoyRE2MaxProgramSize = 100

// ParseRE2 parses regex the way meshaccel stands in for RE2: Go's regexp/syntax with Perl flags,
// which accepts the same syntax as RE2's defaults (Go rejects \C, which RE2 accepts).
func ParseRE2(regex string) (*syntax.Regexp, error) {
	return syntax.Parse(regex, syntax.Perl)
}

// CompileFullMatch compiles regex as Envoy's RE2 engine evaluates it: the whole input must match.
// It is the reference behaviour every Hyperscan translation is compared against.
func CompileFullMatch(regex string) (*regexp.Regexp, error) {
	if _, err := ParseRE2(regex); err != nil {
		return nil, err
	}
	// A group keeps inline flags of regex scoped, so the anchors keep their meaning.
	return regexp.Compile(`\A(?:` + regex + `)\z`)
}

// CaseStyle chooses how FullMatchExpression writes case-insensitive literals.
type CaseStyle int

const (
	// CaseInlineFlag writes `(?i:...)`, which reads like the original and relies on Hyperscan's
	// UTF-8 case folding.
	CaseInlineFlag CaseStyle = iota
	// CaseExplicitClasses writes every case variant as a class (`k` becomes `[Kk\x{212a}]`), so
	// the result depends on no folding table but Go's.
	CaseExplicitClasses
)

// FullMatchExpression translates an RE2 regex into a Hyperscan expression that, compiled with
// HS_FLAG_UTF8 alone and scanned for any match, accepts exactly the inputs RE2 full-match accepts
// (as far as Hyperscan can: see the checker for what stays different on invalid UTF-8).
//
// The translation is also valid RE2 with the same full-match meaning, so it can replace the
// original in configuration that RE2 still evaluates. It anchors with \A and \z (Hyperscan's `$`
// also matches before a final newline), writes every class as explicit ranges (Hyperscan's \s
// includes VT, and its Unicode tables are older than Go's), and keeps captures and laziness,
// which do not change what matches.
func FullMatchExpression(regex string, caseStyle CaseStyle) (string, error) {
	re, err := ParseRE2(regex)
	if err != nil {
		return "", err
	}
	r := renderer{caseStyle: caseStyle}
	if err := r.write(re); err != nil {
		return "", fmt.Errorf("regex %q: %w", regex, err)
	}
	return `\A(?:` + r.b.String() + `)\z`, nil
}

// AnchoredExpression wraps regex as \A(?:regex)\z: the smallest change that gives a
// find-anywhere engine full-match semantics. It is only equivalent when regex has no `$` that
// could match before a newline the rest of the expression then consumes; the checker verifies.
func AnchoredExpression(regex string) string {
	return `\A(?:` + regex + `)\z`
}

type renderer struct {
	b         strings.Builder
	caseStyle CaseStyle
}

func (r *renderer) write(re *syntax.Regexp) error {
	switch re.Op {
	case syntax.OpNoMatch:
		return fmt.Errorf("a sub-expression can never match; Hyperscan rejects such patterns")
	case syntax.OpEmptyMatch:
		r.b.WriteString(`(?:)`)
	case syntax.OpLiteral:
		r.writeLiteral(re)
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return fmt.Errorf("an empty class can never match; Hyperscan rejects such patterns")
		}
		r.writeClass(re.Rune)
	case syntax.OpAnyCharNotNL:
		r.b.WriteString(`[^\n]`)
	case syntax.OpAnyChar:
		r.b.WriteString(`(?s:.)`)
	case syntax.OpBeginLine:
		r.b.WriteString(`(?m:^)`)
	case syntax.OpEndLine:
		r.b.WriteString(`(?m:$)`)
	case syntax.OpBeginText:
		r.b.WriteString(`\A`)
	case syntax.OpEndText:
		r.b.WriteString(`\z`)
	case syntax.OpWordBoundary:
		r.b.WriteString(`\b`)
	case syntax.OpNoWordBoundary:
		r.b.WriteString(`\B`)
	case syntax.OpCapture:
		if re.Name != "" {
			r.b.WriteString(`(?P<` + re.Name + `>`)
		} else {
			r.b.WriteString(`(`)
		}
		if err := r.write(re.Sub[0]); err != nil {
			return err
		}
		r.b.WriteString(`)`)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		if err := r.writeAtom(re.Sub[0]); err != nil {
			return err
		}
		switch re.Op {
		case syntax.OpStar:
			r.b.WriteString(`*`)
		case syntax.OpPlus:
			r.b.WriteString(`+`)
		case syntax.OpQuest:
			r.b.WriteString(`?`)
		case syntax.OpRepeat:
			r.b.WriteString(`{` + strconv.Itoa(re.Min))
			switch {
			case re.Max == -1:
				r.b.WriteString(`,`)
			case re.Max != re.Min:
				r.b.WriteString(`,` + strconv.Itoa(re.Max))
			}
			r.b.WriteString(`}`)
		}
		if re.Flags&syntax.NonGreedy != 0 {
			r.b.WriteString(`?`)
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if sub.Op == syntax.OpAlternate {
				if err := r.writeGroup(sub); err != nil {
					return err
				}
				continue
			}
			if err := r.write(sub); err != nil {
				return err
			}
		}
	case syntax.OpAlternate:
		for i, sub := range re.Sub {
			if i > 0 {
				r.b.WriteString(`|`)
			}
			if err := r.write(sub); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unsupported operator %v", re.Op)
	}
	return nil
}

// writeAtom writes re so that a following quantifier applies to all of it.
func (r *renderer) writeAtom(re *syntax.Regexp) error {
	switch {
	case re.Op == syntax.OpCharClass, re.Op == syntax.OpAnyChar, re.Op == syntax.OpAnyCharNotNL,
		re.Op == syntax.OpCapture:
		return r.write(re)
	case re.Op == syntax.OpLiteral && len(re.Rune) == 1 &&
		(re.Flags&syntax.FoldCase == 0 || r.caseStyle == CaseExplicitClasses):
		return r.write(re)
	}
	return r.writeGroup(re)
}

func (r *renderer) writeGroup(re *syntax.Regexp) error {
	r.b.WriteString(`(?:`)
	if err := r.write(re); err != nil {
		return err
	}
	r.b.WriteString(`)`)
	return nil
}

func (r *renderer) writeLiteral(re *syntax.Regexp) {
	if re.Flags&syntax.FoldCase == 0 {
		for _, c := range re.Rune {
			r.b.WriteString(escapeRune(c, false))
		}
		return
	}
	if r.caseStyle == CaseInlineFlag {
		r.b.WriteString(`(?i:`)
		for _, c := range re.Rune {
			r.b.WriteString(escapeRune(c, false))
		}
		r.b.WriteString(`)`)
		return
	}
	for _, c := range re.Rune {
		orbit := caseOrbit(c)
		if len(orbit) == 1 {
			r.b.WriteString(escapeRune(c, false))
			continue
		}
		r.b.WriteString(`[`)
		for _, v := range orbit {
			r.b.WriteString(escapeRune(v, true))
		}
		r.b.WriteString(`]`)
	}
}

// caseOrbit returns every rune that simple case folding makes equal to c, in ascending order.
func caseOrbit(c rune) []rune {
	orbit := []rune{c}
	for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
		orbit = append(orbit, f)
	}
	for i := 1; i < len(orbit); i++ {
		for j := i; j > 0 && orbit[j] < orbit[j-1]; j-- {
			orbit[j], orbit[j-1] = orbit[j-1], orbit[j]
		}
	}
	return orbit
}

// writeClass writes ranges (sorted pairs as regexp/syntax keeps them) as a bracket expression,
// negated when that is shorter, as in `[^/]`.
func (r *renderer) writeClass(ranges []rune) {
	negated := len(ranges) > 0 && ranges[0] == 0 && ranges[len(ranges)-1] == unicode.MaxRune
	if negated {
		ranges = complementRanges(ranges)
		if len(ranges) == 0 {
			r.b.WriteString(`(?s:.)`)
			return
		}
		r.b.WriteString(`[^`)
	} else {
		r.b.WriteString(`[`)
	}
	for i := 0; i < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		r.b.WriteString(escapeRune(lo, true))
		if hi == lo {
			continue
		}
		if hi > lo+1 {
			r.b.WriteString(`-`)
		}
		r.b.WriteString(escapeRune(hi, true))
	}
	r.b.WriteString(`]`)
}

func complementRanges(ranges []rune) []rune {
	var out []rune
	next := rune(0)
	for i := 0; i < len(ranges); i += 2 {
		if ranges[i] > next {
			out = append(out, next, ranges[i]-1)
		}
		next = ranges[i+1] + 1
	}
	if next <= unicode.MaxRune {
		out = append(out, next, unicode.MaxRune)
	}
	return out
}

// escapeRune writes c so that RE2 and Hyperscan (UTF-8 mode) both read it as the literal c.
func escapeRune(c rune, inClass bool) string {
	switch c {
	case '\t':
		return `\t`
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\f':
		return `\f`
	}
	if c < utf8.RuneSelf {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			return string(c)
		case c == ' ' || c == '/' || c == '_' || c == ',' || c == ':' || c == ';' || c == '=' ||
			c == '@' || c == '%' || c == '&' || c == '\'' || c == '"' || c == '<' || c == '>' ||
			c == '!' || c == '~' || c == '`':
			return string(c)
		case c == '#' && inClass:
			// Outside a class `#` is a comment under (?x), which neither engine enables here,
			// but escaping it costs nothing.
			return string(c)
		case c > ' ' && c < 0x7f:
			return `\` + string(c)
		}
		return fmt.Sprintf(`\x{%x}`, c)
	}
	if unicode.IsPrint(c) && !unicode.Is(unicode.Mn, c) {
		return string(c)
	}
	return fmt.Sprintf(`\x{%x}`, c)
}
