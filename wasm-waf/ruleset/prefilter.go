package ruleset

import (
	"regexp/syntax"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Literal prefilters: for a regex we compute a set of literals such that every match contains at
// least one of them (after case folding, see FoldString). At run time a rule whose input contains
// none of its literals is skipped without running the regex. The analysis walks the parsed regex
// once, on the host; it is conservative: when in doubt a node imposes no condition.

const (
	maxExactSet   = 16  // largest cross product of exact strings kept while concatenating
	maxAlternates = 128 // largest literal set kept as a prefilter
	minUseful     = 2   // a prefilter whose shortest literal is shorter than this is dropped
)

// litInfo describes what a regex node can match.
type litInfo struct {
	// exact is the complete set of strings the node matches, when small and known.
	exact []string
	// match is a set of literals one of which every match contains; nil means no condition.
	match []string
}

func (li litInfo) condition() []string {
	if li.exact != nil {
		for _, s := range li.exact {
			if s == "" {
				return nil
			}
		}
		return li.exact
	}
	return li.match
}

func quality(set []string) int {
	if set == nil {
		return 0
	}
	q := 1 << 20
	for _, s := range set {
		if len(s) < q {
			q = len(s)
		}
	}
	return q
}

// better reports whether condition a filters better than b.
func better(a, b []string) bool {
	qa, qb := quality(a), quality(b)
	if qa != qb {
		return qa > qb
	}
	return a != nil && (b == nil || len(a) < len(b))
}

func dedupe(set []string) []string {
	sort.Strings(set)
	out := set[:0]
	for i, s := range set {
		if i == 0 || s != set[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// FoldRune maps a rune to a canonical member of its case-folding orbit, so that two runes that a
// case-insensitive regex treats as equal fold to the same rune. ASCII letters fold to lower case.
func FoldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	min := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < min {
			min = f
		}
	}
	if 'A' <= min && min <= 'Z' {
		min += 'a' - 'A'
	}
	return min
}

// FoldString folds every rune with FoldRune; bytes that are not valid UTF-8 are kept as they are.
func FoldString(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, c)
			i++
			continue
		}
		dst = utf8.AppendRune(dst, FoldRune(r))
		i += size
	}
	return dst
}

func foldLiteral(runes []rune) (string, bool) {
	var b strings.Builder
	for _, r := range runes {
		if r == utf8.RuneError {
			// U+FFFD in a pattern also matches invalid input bytes, which are not spelled EF BF BD.
			return "", false
		}
		b.WriteRune(FoldRune(r))
	}
	return b.String(), true
}

func cross(a, b []string) []string {
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return dedupe(out)
}

func analyze(re *syntax.Regexp) litInfo {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return litInfo{exact: []string{""}}
	case syntax.OpLiteral:
		s, ok := foldLiteral(re.Rune)
		if !ok {
			return litInfo{}
		}
		return litInfo{exact: []string{s}}
	case syntax.OpCharClass:
		// Small classes become alternatives of one character each.
		n := 0
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			n += int(hi-lo) + 1
			if n > 8 {
				return litInfo{}
			}
			for r := lo; r <= hi; r++ {
				if r == utf8.RuneError {
					return litInfo{}
				}
				set = append(set, string(FoldRune(r)))
			}
		}
		if len(set) == 0 {
			return litInfo{}
		}
		return litInfo{exact: dedupe(set)}
	case syntax.OpCapture:
		return analyze(re.Sub[0])
	case syntax.OpStar, syntax.OpAnyChar, syntax.OpAnyCharNotNL, syntax.OpNoMatch:
		return litInfo{}
	case syntax.OpQuest:
		sub := analyze(re.Sub[0])
		if sub.exact != nil && len(sub.exact) < maxExactSet {
			return litInfo{exact: dedupe(append([]string{""}, sub.exact...))}
		}
		return litInfo{}
	case syntax.OpPlus:
		sub := analyze(re.Sub[0])
		return litInfo{match: sub.condition()}
	case syntax.OpRepeat:
		if re.Min == 0 {
			return litInfo{}
		}
		sub := analyze(re.Sub[0])
		if re.Min == re.Max && re.Min <= 3 && sub.exact != nil {
			out := []string{""}
			for i := 0; i < re.Min; i++ {
				out = cross(out, sub.exact)
				if len(out) > maxExactSet {
					return litInfo{match: sub.condition()}
				}
			}
			return litInfo{exact: out}
		}
		return litInfo{match: sub.condition()}
	case syntax.OpConcat:
		var best []string
		cur := []string{""}
		exact := true
		for _, sub := range re.Sub {
			si := analyze(sub)
			if cur != nil && si.exact != nil && len(cur)*len(si.exact) <= maxExactSet {
				cur = cross(cur, si.exact)
				continue
			}
			// The run of exact strings ends here: it is one candidate condition.
			exact = false
			if c := (litInfo{exact: cur}).condition(); cur != nil && better(c, best) {
				best = c
			}
			if si.exact != nil {
				cur = si.exact
			} else {
				cur = nil
				if c := si.condition(); better(c, best) {
					best = c
				}
			}
		}
		if exact {
			return litInfo{exact: cur}
		}
		if cur != nil {
			if c := (litInfo{exact: cur}).condition(); better(c, best) {
				best = c
			}
		}
		return litInfo{match: best}
	case syntax.OpAlternate:
		var exactAll []string
		allExact := true
		unconditioned := false
		var union []string
		for _, sub := range re.Sub {
			si := analyze(sub)
			if si.exact != nil {
				exactAll = append(exactAll, si.exact...)
			} else {
				allExact = false
			}
			if c := si.condition(); c == nil {
				unconditioned = true
			} else {
				union = append(union, c...)
			}
		}
		if allExact && len(exactAll) <= maxExactSet {
			return litInfo{exact: dedupe(exactAll)}
		}
		if unconditioned || len(union) > maxAlternates {
			return litInfo{}
		}
		return litInfo{match: dedupe(union)}
	}
	return litInfo{}
}

// Prefilter returns the literal set for a Go regexp pattern, or nil when no useful set exists.
func Prefilter(pattern string) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	set := analyze(re.Simplify()).condition()
	if set == nil || len(set) > maxAlternates || quality(set) < minUseful {
		return nil
	}
	// Drop literals that contain another literal of the set: the shorter one already implies them.
	sort.Slice(set, func(i, j int) bool { return len(set[i]) < len(set[j]) })
	var out []string
	for _, s := range set {
		redundant := false
		for _, o := range out {
			if strings.Contains(s, o) {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// MinLen returns the minimum number of bytes a match of pattern spans (UTF-8, conservative).
func MinLen(pattern string) int {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0
	}
	return minLen(re.Simplify())
}

func minLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			// Case folding can map to a rune of different width; count the narrowest.
			if re.Flags&syntax.FoldCase != 0 || r == utf8.RuneError {
				n++
			} else {
				n += utf8.RuneLen(r)
			}
		}
		return n
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minLen(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minLen(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if m := minLen(s); n < 0 || m < n {
				n = m
			}
		}
		if n < 0 {
			return 0
		}
		return n
	}
	return 0
}
