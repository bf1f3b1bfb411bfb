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
	maxExactSet   = 16   // largest cross product of exact strings kept while concatenating
	maxAlternates = 1024 // largest literal set kept as a prefilter (large sets run as one automaton)
	minUseful     = 2    // a literal set whose shortest literal is shorter than this is left to the byte set
)

// litInfo describes what a regex node can match. lits and bytes are two independent necessary
// conditions: every match contains one of the literals, and one of the bytes.
type litInfo struct {
	// exact is the complete set of strings the node matches, when small and known.
	exact []string
	// lits is a set of folded literals; nil means no literal condition.
	lits []string
	// prefix is a set of folded strings one of which every match starts with; nil means unknown.
	prefix []string
	// bytes are sets of raw bytes, best first: every match contains a byte of each set (at most
	// maxByteSets); empty means no byte condition.
	bytes []*ByteSet
}

// ByteSet is a set of byte values.
type ByteSet [4]uint64

func (b *ByteSet) Add(c byte)      { b[c>>6] |= 1 << (c & 63) }
func (b *ByteSet) Has(c byte) bool { return b[c>>6]&(1<<(c&63)) != 0 }
func (b *ByteSet) Empty() bool     { return b[0]|b[1]|b[2]|b[3] == 0 }

// Intersects reports whether the sets share a byte.
func (b *ByteSet) Intersects(o *ByteSet) bool {
	return b[0]&o[0]|b[1]&o[1]|b[2]&o[2]|b[3]&o[3] != 0
}

// Union adds the bytes of o.
func (b *ByteSet) Union(o *ByteSet) {
	for i := range b {
		b[i] |= o[i]
	}
}

func (b *ByteSet) addHigh() { b[2], b[3] = ^uint64(0), ^uint64(0) }

// byteCost estimates how often ordinary request text contains a byte: letters by English
// frequency, digits, space and the punctuation of URLs and headers are common; other
// punctuation is rare, which is what makes a byte set a good filter.
var byteCost = func() [256]int {
	var c [256]int
	for i := range c {
		c[i] = 1
	}
	letters := map[byte]int{'e': 16, 't': 15, 'a': 14, 'o': 14, 'i': 13, 'n': 13, 's': 13, 'h': 12, 'r': 12,
		'd': 10, 'l': 10, 'c': 9, 'u': 9, 'm': 8, 'w': 7, 'f': 7, 'g': 6, 'y': 6, 'p': 6, 'b': 5, 'v': 4,
		'k': 4, 'j': 2, 'x': 2, 'q': 1, 'z': 1}
	for l, v := range letters {
		c[l], c[l-'a'+'A'] = v, v
	}
	for d := '0'; d <= '9'; d++ {
		c[d] = 10
	}
	for _, p := range " /.-_" {
		c[p] = 12
	}
	for _, p := range "=&,:;+%()" {
		c[p] = 4
	}
	for i := 0x80; i < 0x100; i++ {
		c[i] = 12
	}
	return c
}()

// maxByteSets bounds the byte sets a prefilter checks (all must hit).
const maxByteSets = 3

// uselessCost is the cost from which a byte set filters too little to be worth checking.
const uselessCost = 100

// cost rates how often ordinary text hits a byte set.
func (b *ByteSet) cost() int {
	if b == nil {
		return 1 << 20
	}
	n := 0
	for c := 0; c < 256; c++ {
		if b.Has(byte(c)) {
			n += byteCost[c]
		}
	}
	return n
}

// bestSets keeps the cheapest distinct useful sets, best first.
func bestSets(sets ...[]*ByteSet) []*ByteSet {
	var all []*ByteSet
	for _, ss := range sets {
		for _, b := range ss {
			if b == nil || b.cost() >= uselessCost {
				continue
			}
			dup := false
			for _, o := range all {
				if *o == *b {
					dup = true
				}
			}
			if !dup {
				all = append(all, b)
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].cost() < all[j].cost() })
	if len(all) > maxByteSets {
		all = all[:maxByteSets]
	}
	return all
}

// runeBytes is the set of raw bytes that can start a rune equal to r under case folding.
func runeBytes(r rune, b *ByteSet) {
	if r >= utf8.RuneSelf {
		b.addHigh()
		return
	}
	b.Add(byte(r))
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < utf8.RuneSelf {
			b.Add(byte(f))
		} else {
			b.addHigh()
		}
	}
}

// stringBytes picks, for each folded string, its rarest character: any occurrence of the string
// contains that character.
func (a analyzer) stringBytes(set []string) *ByteSet {
	var out ByteSet
	for _, s := range set {
		if s == "" {
			return nil
		}
		var best ByteSet
		bestCost := -1
		for _, r := range s {
			var b ByteSet
			a.runeBytes(r, &b)
			if c := b.cost(); bestCost < 0 || c < bestCost {
				best, bestCost = b, c
			}
		}
		out.Union(&best)
	}
	return &out
}

func litQuality(set []string) int {
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

// betterLits reports whether literal set a filters better than b: longer shortest literals and
// fewer alternatives win.
func betterLits(a, b []string) bool {
	if a == nil {
		return false
	}
	if b == nil {
		return true
	}
	qa, qb := litQuality(a), litQuality(b)
	if qa != qb {
		return qa > qb
	}
	return len(a) < len(b)
}

// nonEmpty reports whether a string set has no empty string (a usable condition).
func nonEmpty(set []string) bool {
	if set == nil {
		return false
	}
	for _, s := range set {
		if s == "" {
			return false
		}
	}
	return true
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

// fromExact derives the conditions of a complete string set.
func (a analyzer) fromExact(set []string) litInfo {
	li := litInfo{exact: set, prefix: set}
	for _, s := range set {
		if s == "" {
			return li
		}
	}
	li.lits = set
	li.bytes = []*ByteSet{a.stringBytes(set)}
	return li
}

// analyzer computes prefilter conditions; binary patterns read runes below 0x100 as single bytes.
type analyzer struct{ binary bool }

func (a analyzer) runeBytes(r rune, b *ByteSet) {
	if a.binary && r < 0x100 && r >= utf8.RuneSelf {
		b.Add(byte(r))
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < 0x100 {
				b.Add(byte(f))
			} else {
				b.addHigh()
			}
		}
		return
	}
	runeBytes(r, b)
}

func (a analyzer) analyze(re *syntax.Regexp) litInfo {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return litInfo{exact: []string{""}}
	case syntax.OpLiteral:
		s, ok := foldLiteral(re.Rune)
		if !ok {
			return litInfo{}
		}
		return a.fromExact([]string{s})
	case syntax.OpCharClass:
		bytes := []*ByteSet{a.classBytes(re.Rune)}
		n := 0
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			n += int(hi-lo) + 1
			if n > 8 || lo <= utf8.RuneError && utf8.RuneError <= hi {
				return litInfo{bytes: bytes}
			}
			for r := lo; r <= hi; r++ {
				set = append(set, string(FoldRune(r)))
			}
		}
		if len(set) == 0 {
			return litInfo{}
		}
		set = dedupe(set)
		return litInfo{exact: set, lits: set, prefix: set, bytes: bytes}
	case syntax.OpCapture:
		return a.analyze(re.Sub[0])
	case syntax.OpStar, syntax.OpAnyChar, syntax.OpAnyCharNotNL, syntax.OpNoMatch:
		return litInfo{}
	case syntax.OpQuest:
		sub := a.analyze(re.Sub[0])
		if sub.exact != nil && len(sub.exact) < maxExactSet {
			return litInfo{exact: dedupe(append([]string{""}, sub.exact...))}
		}
		return litInfo{}
	case syntax.OpPlus:
		sub := a.analyze(re.Sub[0])
		return litInfo{lits: sub.lits, bytes: sub.bytes, prefix: sub.prefix}
	case syntax.OpRepeat:
		if re.Min == 0 {
			return litInfo{}
		}
		sub := a.analyze(re.Sub[0])
		if re.Min == re.Max && re.Min <= 3 && sub.exact != nil {
			out := []string{""}
			for i := 0; i < re.Min; i++ {
				out = cross(out, sub.exact)
				if len(out) > maxExactSet {
					return litInfo{lits: sub.lits, bytes: sub.bytes, prefix: sub.prefix}
				}
			}
			return a.fromExact(out)
		}
		return litInfo{lits: sub.lits, bytes: sub.bytes, prefix: sub.prefix}
	case syntax.OpConcat:
		var out litInfo
		consider := func(li litInfo) {
			if betterLits(li.lits, out.lits) {
				out.lits = li.lits
			}
			if nonEmpty(li.prefix) && betterLits(li.prefix, out.lits) {
				out.lits = li.prefix
			}
			out.bytes = bestSets(out.bytes, li.bytes)
		}
		subs := make([]litInfo, len(re.Sub))
		for i, sub := range re.Sub {
			subs[i] = a.analyze(sub)
		}
		// Prefixes: the exact strings of the leading children, extended by the prefixes of the
		// first child that is not exact.
		pre := []string{""}
		for _, si := range subs {
			if si.exact != nil && len(pre)*len(si.exact) <= maxAlternates {
				pre = cross(pre, si.exact)
				continue
			}
			if si.prefix != nil && len(pre)*len(si.prefix) <= maxAlternates {
				pre = cross(pre, si.prefix)
			}
			break
		}
		out.prefix = pre
		cur := []string{""}
		exact := true
		for _, si := range subs {
			if cur != nil && si.exact != nil && len(cur)*len(si.exact) <= maxExactSet {
				cur = cross(cur, si.exact)
				continue
			}
			// The run of exact strings ends here: it is one candidate.
			exact = false
			if cur != nil {
				consider(a.fromExact(cur))
			}
			consider(si)
			cur = si.exact
		}
		if exact {
			li := a.fromExact(cur)
			if len(pre) > len(cur) || litQuality(pre) > litQuality(cur) {
				li.prefix = pre
			}
			return li
		}
		if cur != nil {
			consider(a.fromExact(cur))
		}
		consider(litInfo{prefix: pre})
		return out
	case syntax.OpAlternate:
		var exactAll, union, prefixes []string
		allExact, allLits, allBytes, allPrefix := true, true, true, true
		var bytes ByteSet
		for _, sub := range re.Sub {
			si := a.analyze(sub)
			if si.exact != nil {
				exactAll = append(exactAll, si.exact...)
			} else {
				allExact = false
			}
			lits := si.lits
			if nonEmpty(si.prefix) && betterLits(si.prefix, lits) {
				lits = si.prefix
			}
			if lits != nil {
				union = append(union, lits...)
			} else {
				allLits = false
			}
			if si.prefix != nil {
				prefixes = append(prefixes, si.prefix...)
			} else {
				allPrefix = false
			}
			if len(si.bytes) > 0 {
				bytes.Union(si.bytes[0])
			} else {
				allBytes = false
			}
		}
		if allExact && len(exactAll) <= maxExactSet {
			return a.fromExact(dedupe(exactAll))
		}
		var out litInfo
		if allPrefix && len(prefixes) <= maxAlternates {
			out.prefix = dedupe(prefixes)
		}
		if allLits && len(union) <= maxAlternates {
			out.lits = dedupe(union)
		}
		if allBytes {
			out.bytes = bestSets([]*ByteSet{&bytes})
		}
		return out
	}
	return litInfo{}
}

// classBytes returns the bytes that can start a rune of the class (invalid input bytes match
// U+FFFD, so a class with U+FFFD or any non-ASCII rune admits every byte >= 0x80).
func (a analyzer) classBytes(ranges []rune) *ByteSet {
	var b ByteSet
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		limit := rune(utf8.RuneSelf)
		if a.binary {
			limit = 0x100
		}
		for r := lo; r <= hi && r < limit; r++ {
			b.Add(byte(r))
		}
		if hi >= limit {
			b.addHigh()
		}
	}
	return &b
}

// Prefilter returns the literal set and the byte set for a Go regexp pattern: every match contains
// one of the (folded) literals, when there are literals, and a byte of each byte set. Both empty
// means no prefilter. binary patterns match bytes: only their byte set and
// ASCII literals are valid.
func Prefilter(pattern string, binary bool) ([]string, []ByteSet) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, nil
	}
	li := analyzer{binary: binary}.analyze(re.Simplify())
	var bytes []ByteSet
	for _, b := range bestSets(li.bytes) {
		bytes = append(bytes, *b)
	}
	set := li.lits
	if set == nil || len(set) > maxAlternates || litQuality(set) < minUseful {
		return nil, bytes
	}
	for _, l := range set {
		for i := 0; i < len(l); i++ {
			if binary && l[i] >= utf8.RuneSelf {
				return nil, bytes
			}
		}
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
	return out, bytes
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

// MayMatch reports whether value passes the prefilters of regex i (length, byte set and
// literals). When it returns false the regex cannot match; the engine uses cached versions of
// the same checks.
func (rs *Ruleset) MayMatch(i int32, value string) bool {
	r := &rs.Regexes[i]
	if len(value) < int(r.MinLen) {
		return false
	}
	if len(r.Bytes) > 0 {
		var present ByteSet
		for k := 0; k < len(value); k++ {
			present.Add(value[k])
		}
		for i := range r.Bytes {
			if !present.Intersects(&r.Bytes[i]) {
				return false
			}
		}
	}
	if len(r.Prefilter) == 0 {
		return true
	}
	folded := string(FoldString(nil, value))
	if r.PrefilterMatcher >= 0 {
		_, ok := rs.Matchers[r.PrefilterMatcher].Find(folded)
		return ok
	}
	for _, l := range r.Prefilter {
		if strings.Contains(folded, l) {
			return true
		}
	}
	return false
}
