package transform

import (
	"sort"
	"unicode/utf8"
)

func lookupBestFit(code rune) (byte, bool) {
	key := uint32(code) << 8
	i := sort.Search(len(bestFitTable), func(i int) bool { return bestFitTable[i]&^0xff >= key })
	if i < len(bestFitTable) && bestFitTable[i]&^0xff == key {
		return byte(bestFitTable[i]), true
	}
	return 0, false
}

// namedEntities are the HTML5 character references that spell ASCII punctuation and the
// common legacy ones; sorted by name for binary search. Attack payloads use these to hide
// syntax characters (javascript&colon;, &lpar;...&rpar;).
var namedEntities = [...]struct {
	name string
	r    rune
}{
	{"AMP", '&'}, {"Hat", '^'}, {"LT", '<'}, {"GT", '>'}, {"NewLine", '\n'}, {"QUOT", '"'}, {"Tab", '\t'},
	{"amp", '&'}, {"apos", '\''}, {"ast", '*'}, {"bsol", '\\'}, {"colon", ':'}, {"comma", ','},
	{"commat", '@'}, {"copy", 0xa9}, {"dollar", '$'}, {"equals", '='}, {"excl", '!'}, {"grave", '`'},
	{"gt", '>'}, {"hyphen", 0x2010}, {"lbrace", '{'}, {"lbrack", '['}, {"lcub", '{'}, {"lowbar", '_'},
	{"lpar", '('}, {"lsqb", '['}, {"lt", '<'}, {"midast", '*'}, {"nbsp", 0xa0}, {"num", '#'},
	{"percnt", '%'}, {"period", '.'}, {"plus", '+'}, {"quest", '?'}, {"quot", '"'}, {"rbrace", '}'},
	{"rbrack", ']'}, {"rcub", '}'}, {"reg", 0xae}, {"rpar", ')'}, {"rsqb", ']'}, {"semi", ';'},
	{"sol", '/'}, {"tilde", 0x2dc}, {"vert", '|'}, {"verbar", '|'},
}

func init() {
	sort.Slice(namedEntities[:], func(i, j int) bool { return namedEntities[i].name < namedEntities[j].name })
}

func lookupEntity(name string) (rune, bool) {
	i := sort.Search(len(namedEntities), func(i int) bool { return namedEntities[i].name >= name })
	if i < len(namedEntities) && namedEntities[i].name == name {
		return namedEntities[i].r, true
	}
	return 0, false
}

// legacyNoSemicolon are the named references HTML parsers accept without a trailing ';'.
func legacyNoSemicolon(name string) bool {
	switch name {
	case "amp", "lt", "gt", "quot", "nbsp", "AMP", "LT", "GT", "QUOT", "copy", "reg":
		return true
	}
	return false
}

// htmlEntityDecode decodes numeric (&#DDD; &#xHH;, the ';' optional) and named character
// references. Numeric references decode to the UTF-8 of their code point.
func htmlEntityDecode(b []byte, s string) ([]byte, bool) {
	changed := false
	n := len(s)
	for i := 0; i < n; {
		if s[i] != '&' || i+1 >= n {
			b = append(b, s[i])
			i++
			continue
		}
		if s[i+1] == '#' {
			j := i + 2
			hex := j < n && (s[j] == 'x' || s[j] == 'X')
			if hex {
				j++
			}
			start := j
			// Leading zeros do not count towards the length limit (&#0000000000060; is '<').
			for j < n && s[j] == '0' {
				j++
			}
			digits := j
			var code int64
			for j < n && j-digits < 8 {
				var v int
				if hex {
					v = hexVal(s[j])
				} else if s[j] >= '0' && s[j] <= '9' {
					v = int(s[j] - '0')
				} else {
					v = -1
				}
				if v < 0 {
					break
				}
				if hex {
					code = code*16 + int64(v)
				} else {
					code = code*10 + int64(v)
				}
				j++
			}
			if j == start {
				b = append(b, s[i])
				i++
				continue
			}
			for j < n && j-digits >= 8 && (isHex(s[j]) && hex || s[j] >= '0' && s[j] <= '9') {
				j++ // absurdly long references are consumed whole
				code = utf8.MaxRune + 1
			}
			if j < n && s[j] == ';' {
				j++
			}
			r := rune(code)
			if code == 0 || code > utf8.MaxRune || (r >= 0xd800 && r <= 0xdfff) {
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
			changed = true
			i = j
			continue
		}
		j := i + 1
		for j < n && j-i <= 8 && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
			j++
		}
		name := s[i+1 : j]
		if r, ok := lookupEntity(name); ok && ((j < n && s[j] == ';') || legacyNoSemicolon(name)) {
			if j < n && s[j] == ';' {
				j++
			}
			b = utf8.AppendRune(b, r)
			changed = true
			i = j
			continue
		}
		b = append(b, s[i])
		i++
	}
	return b, changed
}
