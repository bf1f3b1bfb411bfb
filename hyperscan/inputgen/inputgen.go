// Package inputgen generates inputs for a regex that sit on the edges where RE2 and Hyperscan
// can disagree: strings the regex matches, and small mutations of them (a trailing newline,
// junk around them, invalid UTF-8, vertical tabs, non-ASCII case variants).
//
// The compatibility checker probes with it, and the differential tests and fuzz targets use it
// with other seeds, so a regex is never judged on the exact inputs it is tested with.
package inputgen

import (
	"math/rand/v2"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mutation says how an input was derived from a string the regex matches.
type Mutation string

const (
	Matching        Mutation = "matching"         // a walk through the regex, usually matched
	Empty           Mutation = "empty"            // the empty input
	TrailingNewline Mutation = "trailing-newline" // matching string + "\n"
	LeadingNewline  Mutation = "leading-newline"  // "\n" + matching string
	Surrounded      Mutation = "surrounded"       // junk before or after a matching string
	Truncated       Mutation = "truncated"        // a rune dropped at either end
	Doubled         Mutation = "doubled"          // the matching string twice
	InvalidUTF8     Mutation = "invalid-utf8"     // a rune replaced or preceded by invalid UTF-8
	VerticalTab     Mutation = "vertical-tab"     // whitespace replaced by, or VT inserted
	CaseVariant     Mutation = "case-variant"     // a letter swapped for another case variant
	NonASCII        Mutation = "non-ascii"        // a rune replaced or preceded by non-ASCII
	Newline         Mutation = "newline"          // a rune replaced or preceded by "\n"
)

// Input is one generated input and how it was made.
type Input struct {
	Text     string
	Mutation Mutation
}

// invalidUTF8 lists byte sequences Go decodes as U+FFFD per byte and Hyperscan may not:
// a lone continuation byte, bytes that never start a sequence, a truncated sequence, an
// overlong encoding, a surrogate and a code point past U+10FFFF.
var invalidUTF8 = []string{"\xff", "\x80", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xfe\xfe"}

// nonASCII lists runes that exercise Unicode classes and folding: Latin-1, the Kelvin sign and
// long s (which fold to ASCII k and s), dotted/dotless i, a non-breaking space, a line separator,
// U+FFFD itself and a non-BMP rune.
var nonASCII = []string{"é", "É", "\u212a", "\u017f", "İ", "ı", "\u00a0", "\u2028", "\ufffd", "😀", "ß", "Σ", "ς"}

// interestingRunes are preferred when a class contains them.
var interestingRunes = []rune{'a', 'Z', '0', '9', '/', '-', '.', '_', ' ', '\t', '\v', '\f', '\r', '\n', 0, 0x7f,
	'é', 'É', 0x212a, 0x17f, 'İ', 'ı', 0xa0, 0x2028, 0xfffd, '😀', 'ß', 'ſ', 'k', 's', 'K', 'S'}

var junk = []string{"x", "/", " ", "\x00", "a/", "é", "\r", "0"}

// Generator walks one regex. It is deterministic for a seed and not safe for concurrent use.
type Generator struct {
	re  *syntax.Regexp
	rng *rand.Rand
	// MaxRepeat bounds how many times an unbounded repetition repeats.
	MaxRepeat int
}

// New returns a generator for re (as parsed by regexp/syntax) seeded with seed.
func New(re *syntax.Regexp, seed uint64) *Generator {
	return &Generator{re: re, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), MaxRepeat: 4}
}

// Matching returns a random walk through the regex: a string it matches unless the walk crossed
// an assertion (`^`, `\b`) that the surrounding text does not satisfy.
func (g *Generator) Matching() string {
	var b strings.Builder
	g.walk(&b, g.re, 0)
	return b.String()
}

// Inputs returns n inputs: about a third are walks, the rest mutations of walks, plus the empty
// input first.
func (g *Generator) Inputs(n int) []Input {
	inputs := make([]Input, 0, n)
	inputs = append(inputs, Input{Text: "", Mutation: Empty})
	for len(inputs) < n {
		s := g.Matching()
		inputs = append(inputs, Input{Text: s, Mutation: Matching})
		for k := 0; k < 2 && len(inputs) < n; k++ {
			inputs = append(inputs, g.Mutate(s))
		}
	}
	return inputs
}

// Mutate returns one random mutation of s.
func (g *Generator) Mutate(s string) Input {
	switch g.rng.IntN(12) {
	case 0:
		return Input{s + "\n", TrailingNewline}
	case 1:
		return Input{"\n" + s, LeadingNewline}
	case 2:
		j := junk[g.rng.IntN(len(junk))]
		if g.rng.IntN(2) == 0 {
			return Input{j + s, Surrounded}
		}
		return Input{s + j, Surrounded}
	case 3:
		if s == "" {
			return Input{junk[g.rng.IntN(len(junk))], Surrounded}
		}
		if g.rng.IntN(2) == 0 {
			_, size := utf8.DecodeLastRuneInString(s)
			return Input{s[:len(s)-size], Truncated}
		}
		_, size := utf8.DecodeRuneInString(s)
		return Input{s[size:], Truncated}
	case 4:
		return Input{s + s, Doubled}
	case 5, 6:
		return Input{g.splice(s, invalidUTF8[g.rng.IntN(len(invalidUTF8))]), InvalidUTF8}
	case 7:
		if i := strings.IndexAny(s, " \t\n\f\r"); i >= 0 && g.rng.IntN(2) == 0 {
			return Input{s[:i] + "\v" + s[i+1:], VerticalTab}
		}
		return Input{g.splice(s, "\v"), VerticalTab}
	case 8, 9:
		if variant, ok := g.caseVariant(s); ok {
			return Input{variant, CaseVariant}
		}
		return Input{g.splice(s, nonASCII[g.rng.IntN(len(nonASCII))]), NonASCII}
	case 10:
		return Input{g.splice(s, nonASCII[g.rng.IntN(len(nonASCII))]), NonASCII}
	default:
		return Input{g.splice(s, "\n"), Newline}
	}
}

// splice replaces a random rune of s by piece, or inserts piece before it.
func (g *Generator) splice(s, piece string) string {
	if s == "" {
		return piece
	}
	starts := runeStarts(s)
	i := starts[g.rng.IntN(len(starts))]
	if g.rng.IntN(2) == 0 {
		return s[:i] + piece + s[i:]
	}
	_, size := utf8.DecodeRuneInString(s[i:])
	return s[:i] + piece + s[i+size:]
}

// caseVariant swaps one letter of s for another member of its case-folding orbit, preferring
// non-ASCII members (K for k, ſ for s) where they exist.
func (g *Generator) caseVariant(s string) (string, bool) {
	var letters []int
	for i, c := range s {
		if unicode.SimpleFold(c) != c {
			letters = append(letters, i)
		}
	}
	if len(letters) == 0 {
		return "", false
	}
	i := letters[g.rng.IntN(len(letters))]
	c, size := utf8.DecodeRuneInString(s[i:])
	var orbit []rune
	for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
		orbit = append(orbit, f)
	}
	v := orbit[g.rng.IntN(len(orbit))]
	for _, f := range orbit {
		if f >= utf8.RuneSelf && g.rng.IntN(2) == 0 {
			v = f
		}
	}
	return s[:i] + string(v) + s[i+size:], true
}

func runeStarts(s string) []int {
	starts := make([]int, 0, len(s))
	for i := range s {
		starts = append(starts, i)
	}
	return starts
}

func (g *Generator) walk(b *strings.Builder, re *syntax.Regexp, depth int) {
	if b.Len() > 4096 || depth > 200 {
		return
	}
	switch re.Op {
	case syntax.OpLiteral:
		for _, c := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 && g.rng.IntN(3) == 0 {
				c = unicode.SimpleFold(c)
			}
			b.WriteRune(c)
		}
	case syntax.OpCharClass:
		if len(re.Rune) > 0 {
			b.WriteRune(g.pickRune(re.Rune))
		}
	case syntax.OpAnyCharNotNL:
		b.WriteRune(g.pickRune([]rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}))
	case syntax.OpAnyChar:
		b.WriteRune(g.pickRune([]rune{0, unicode.MaxRune}))
	case syntax.OpCapture:
		g.walk(b, re.Sub[0], depth+1)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := 0, g.MaxRepeat
		switch re.Op {
		case syntax.OpPlus:
			lo = 1
		case syntax.OpQuest:
			hi = 1
		case syntax.OpRepeat:
			lo, hi = re.Min, re.Max
			if hi < 0 || hi > lo+g.MaxRepeat {
				hi = lo + g.MaxRepeat
			}
		}
		n := lo
		switch g.rng.IntN(4) {
		case 0: // the minimum
		case 1:
			n = hi
		default:
			n = lo + g.rng.IntN(hi-lo+1)
		}
		for range n {
			g.walk(b, re.Sub[0], depth+1)
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			g.walk(b, sub, depth+1)
		}
	case syntax.OpAlternate:
		g.walk(b, re.Sub[g.rng.IntN(len(re.Sub))], depth+1)
	}
	// Empty-width assertions, empty and no-match emit nothing.
}

// pickRune picks a rune from sorted [lo, hi] pairs, preferring runes that sit on engine
// differences when the class contains them.
func (g *Generator) pickRune(ranges []rune) rune {
	if g.rng.IntN(2) == 0 {
		start := g.rng.IntN(len(interestingRunes))
		for k := range interestingRunes {
			c := interestingRunes[(start+k)%len(interestingRunes)]
			if inRanges(ranges, c) {
				return c
			}
		}
	}
	i := 2 * g.rng.IntN(len(ranges)/2)
	lo, hi := ranges[i], ranges[i+1]
	var c rune
	switch g.rng.IntN(4) {
	case 0:
		c = lo
	case 1:
		c = hi
	default:
		// Most of the code space is unassigned; stay near the low end of wide ranges.
		span := hi - lo + 1
		if span > 0x3000 && g.rng.IntN(4) != 0 {
			span = 0x3000
		}
		c = lo + rune(g.rng.Int64N(int64(span)))
	}
	if c >= 0xd800 && c <= 0xdfff { // surrogates cannot be encoded; Go would write U+FFFD
		if lo <= 0xfffd && 0xfffd <= hi {
			return 0xfffd
		}
		return lo
	}
	return c
}

func inRanges(ranges []rune, c rune) bool {
	for i := 0; i < len(ranges); i += 2 {
		if ranges[i] <= c && c <= ranges[i+1] {
			return true
		}
	}
	return false
}
