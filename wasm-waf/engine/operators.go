package engine

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// operator evaluates the rule's operator on a transformed value tv (node is its pipeline, for
// the prefilter cache) and applies negation.
func (tx *Transaction) operator(ri int32, r *ruleset.Rule, v *val, tv string, node int32) bool {
	m := tx.match(ri, r, v, tv, node)
	return m != r.Op.Negate
}

func (tx *Transaction) match(ri int32, r *ruleset.Rule, v *val, tv string, node int32) bool {
	op := &r.Op
	switch op.Kind {
	case ruleset.OpRx:
		return tx.rx(r, op.Regex, v, tv, node)
	case ruleset.OpPm:
		p, ok := tx.e.find(op.Matcher, tv)
		if ok && r.Capture {
			tx.capture(0, p)
		}
		return ok
	case ruleset.OpStrEq:
		return tv == tx.expand(&op.Arg)
	case ruleset.OpStrMatch, ruleset.OpContains:
		return strings.Contains(tv, tx.expand(&op.Arg))
	case ruleset.OpContainsWord:
		return containsWord(tv, tx.expand(&op.Arg))
	case ruleset.OpBeginsWith:
		return strings.HasPrefix(tv, tx.expand(&op.Arg))
	case ruleset.OpEndsWith:
		return strings.HasSuffix(tv, tx.expand(&op.Arg))
	case ruleset.OpWithin:
		return strings.Contains(tx.expand(&op.Arg), tv)
	case ruleset.OpEq, ruleset.OpGe, ruleset.OpGt, ruleset.OpLe, ruleset.OpLt:
		a := atoiLoose(tv)
		b, constant := tx.e.numArg[ri], tx.e.numConst[ri]
		if !constant {
			b = atoiLoose(tx.expand(&op.Arg))
		}
		switch op.Kind {
		case ruleset.OpEq:
			return a == b
		case ruleset.OpGe:
			return a >= b
		case ruleset.OpGt:
			return a > b
		case ruleset.OpLe:
			return a <= b
		}
		return a < b
	case ruleset.OpDetectSQLi:
		if !tx.present(v, node, tv).Intersects(&sqliSyntax) {
			return false
		}
		ok, fp := tx.e.detect.isSQLi(tv)
		if ok && r.Capture {
			tx.capture(0, fp)
		}
		return ok
	case ruleset.OpDetectXSS:
		return mayBeXSS(tv) && tx.e.detect.isXSS(tv)
	case ruleset.OpValidateByteRange:
		for i := 0; i < len(tv); i++ {
			c := tv[i]
			if op.Bytes[c/64]&(1<<(c%64)) == 0 {
				return true
			}
		}
		return false
	case ruleset.OpValidateURLEncoding:
		return !validURLEncoding(tv)
	case ruleset.OpValidateUTF8Encoding:
		return !utf8.ValidString(tv)
	case ruleset.OpIPMatch:
		a, err := netip.ParseAddr(strings.TrimSpace(tv))
		if err != nil {
			return false
		}
		for _, p := range tx.e.prefixes[ri] {
			if p.Contains(a.Unmap()) || p.Contains(a) {
				return true
			}
		}
		return false
	case ruleset.OpUnconditional:
		return true
	case ruleset.OpNoMatch:
		return false
	}
	return false
}

// sqliSyntax are the bytes other than [A-Za-z0-9_]. libinjection flags no value without one: such a
// value is one word, or a number and a word, and no fingerprint of its blacklist is made of those
// alone (a keyword needs a separator, a string a quote, a comment or operator punctuation).
// FuzzSQLiNeedsNonWordByte holds the library to it; most request values are single words.
var sqliSyntax = func() (set ruleset.ByteSet) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_') {
			set.Add(b)
		}
	}
	return set
}()

// mayBeXSS is a necessary condition for libinjection's XSS detection, checked first because
// @detectXSS runs on most request values and the detector allocates: it reports a tag, comment or
// doctype (all open with '<') or an attribute value after a dangerous attribute name (a value
// only follows '='). FuzzXSSNeedsAngleBracketOrEquals holds the library to it.
func mayBeXSS(s string) bool { return strings.ContainsAny(s, "<=") }

// atoiLoose is strconv.Atoi(strings.TrimSpace(s)) with the error ignored (0 for text that is not
// a number, the nearest int on overflow), without allocating the error: numeric operators run on
// every value of their targets, most of which are not numbers.
func atoiLoose(s string) int {
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0
	}
	const maxInt = int(^uint(0) >> 1)
	clamp := func() int {
		if neg {
			return -maxInt - 1
		}
		return maxInt
	}
	// As strconv: digits accumulate in 64 unsigned bits (stopping at the first digit that
	// overflows them), a non-digit anywhere makes it no number, and the int range is checked last.
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		if n > (1<<64-1)/10 || n*10 > 1<<64-1-uint64(c-'0') {
			return clamp()
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case !neg && n > uint64(maxInt), neg && n > uint64(maxInt)+1:
		return clamp()
	case neg:
		return int(-n)
	}
	return int(n)
}

func containsWord(s, w string) bool {
	if w == "" {
		return true
	}
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(w)
		if (start == 0 || !isWordByte(s[start-1])) && (end == len(s) || !isWordByte(s[end])) {
			return true
		}
		i = start + 1
	}
}

func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func validURLEncoding(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || hexVal(s[i+1]) < 0 || hexVal(s[i+2]) < 0 {
			return false
		}
		i += 2
	}
	return true
}

func (tx *Transaction) capture(i int, s string) {
	if tx.probing {
		return
	}
	tx.actions++              // TX changes, even under a negated operator that then fails
	tx.txSetSlot(int32(i), s) // slots 0-9 are TX.0-TX.9
}

// rx runs a regex behind its length and literal prefilters.
func (tx *Transaction) rx(r *ruleset.Rule, idx int32, v *val, tv string, node int32) bool {
	re := &tx.e.rs.Regexes[idx]
	if len(tv) < int(re.MinLen) {
		return false
	}
	if len(re.Bytes) > 0 {
		p := tx.present(v, node, tv)
		for i := range re.Bytes {
			if !p.Intersects(&re.Bytes[i]) {
				return false
			}
		}
	}
	if len(re.Prefilter) > 0 {
		f := tx.folded(v, node, tv)
		hit := false
		if re.PrefilterMatcher >= 0 {
			_, hit = tx.e.find(re.PrefilterMatcher, f)
		} else {
			for _, lit := range re.Prefilter {
				if strings.Contains(f, lit) {
					hit = true
					break
				}
			}
		}
		if !hit {
			return false
		}
	}
	if regexRunHook != nil {
		regexRunHook(r.ID, idx, tv)
	}
	if !tx.e.matchRegex(idx, tv) {
		return false
	}
	if !r.Capture || tx.probing {
		return true
	}
	tx.groups = tx.e.submatches(idx, tv, tx.groups)
	if tx.groups == nil {
		return false
	}
	for i := 0; i < len(tx.groups) && i < 10; i++ {
		tx.capture(i, tx.groups[i])
	}
	return true
}

// regexRunHook observes every regex that runs past its prefilters (tests count them).
var regexRunHook func(ruleID, regex int32, value string)
