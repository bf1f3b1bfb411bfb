//go:generate go run gen_bestfit.go

// Package transform implements the SecLang transformation functions (t:...) that the OWASP CRS
// uses. Every function is a single iterative pass over its input; none recurses or allocates when
// the input does not change.
package transform

import (
	"crypto/md5"
	"crypto/sha1"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ID names a transformation.
type ID uint8

const (
	None ID = iota
	Lowercase
	Uppercase
	URLDecode
	URLDecodeUni
	URLEncode
	HTMLEntityDecode
	JSDecode
	CSSDecode
	EscapeSeqDecode
	CompressWhitespace
	RemoveWhitespace
	RemoveNulls
	ReplaceNulls
	UTF8ToUnicode
	CmdLine
	NormalizePath
	NormalizePathWin
	Base64Decode
	Base64DecodeExt
	Base64Encode
	HexDecode
	HexEncode
	RemoveComments
	RemoveCommentsChar
	ReplaceComments
	Length
	Trim
	TrimLeft
	TrimRight
	SHA1
	MD5
	numIDs
)

var names = [numIDs]string{
	None: "none", Lowercase: "lowercase", Uppercase: "uppercase", URLDecode: "urlDecode",
	URLDecodeUni: "urlDecodeUni", URLEncode: "urlEncode", HTMLEntityDecode: "htmlEntityDecode",
	JSDecode: "jsDecode", CSSDecode: "cssDecode", EscapeSeqDecode: "escapeSeqDecode",
	CompressWhitespace: "compressWhitespace", RemoveWhitespace: "removeWhitespace",
	RemoveNulls: "removeNulls", ReplaceNulls: "replaceNulls", UTF8ToUnicode: "utf8toUnicode",
	CmdLine: "cmdLine", NormalizePath: "normalizePath", NormalizePathWin: "normalizePathWin",
	Base64Decode: "base64Decode", Base64DecodeExt: "base64DecodeExt", Base64Encode: "base64Encode",
	HexDecode: "hexDecode", HexEncode: "hexEncode", RemoveComments: "removeComments",
	RemoveCommentsChar: "removeCommentsChar", ReplaceComments: "replaceComments", Length: "length",
	Trim: "trim", TrimLeft: "trimLeft", TrimRight: "trimRight", SHA1: "sha1", MD5: "md5",
}

// aliases are the alternative spellings SecLang accepts.
var aliases = map[string]ID{
	"normalisepath": NormalizePath, "normalisepathwin": NormalizePathWin,
	"utf8tounicode": UTF8ToUnicode, "sqlhexdecode": HexDecode,
}

func (id ID) String() string {
	if id < numIDs {
		return names[id]
	}
	return "transform(" + strconv.Itoa(int(id)) + ")"
}

// Lookup resolves a transformation name (case-insensitive).
func Lookup(name string) (ID, bool) {
	l := strings.ToLower(name)
	for i, n := range names {
		if strings.ToLower(n) == l {
			return ID(i), true
		}
	}
	id, ok := aliases[l]
	return id, ok
}

// Apply runs one transformation. scratch is a reusable buffer; the result is src itself when
// the transformation changes nothing, so the common case does not allocate.
func Apply(id ID, src string, scratch *[]byte) string {
	b := (*scratch)[:0]
	var changed bool
	switch id {
	case None:
		return src
	case Lowercase:
		b, changed = lowercase(b, src)
	case Uppercase:
		b, changed = uppercase(b, src)
	case URLDecode:
		b, changed = urlDecode(b, src, false)
	case URLDecodeUni:
		b, changed = urlDecode(b, src, true)
	case URLEncode:
		b, changed = urlEncode(b, src)
	case HTMLEntityDecode:
		b, changed = htmlEntityDecode(b, src)
	case JSDecode:
		b, changed = jsDecode(b, src)
	case CSSDecode:
		b, changed = cssDecode(b, src)
	case EscapeSeqDecode:
		b, changed = escapeSeqDecode(b, src)
	case CompressWhitespace:
		b, changed = compressWhitespace(b, src)
	case RemoveWhitespace:
		b, changed = removeWhitespace(b, src)
	case RemoveNulls:
		b, changed = removeNulls(b, src)
	case ReplaceNulls:
		b, changed = replaceNulls(b, src)
	case UTF8ToUnicode:
		b, changed = utf8ToUnicode(b, src)
	case CmdLine:
		b, changed = cmdLine(b, src)
	case NormalizePath:
		return normalizePath(src)
	case NormalizePathWin:
		return normalizePathWin(src)
	case Base64Decode:
		b, changed = base64Decode(b, src, false)
	case Base64DecodeExt:
		b, changed = base64Decode(b, src, true)
	case Base64Encode:
		b, changed = base64Encode(b, src)
	case HexDecode:
		b, changed = hexDecode(b, src)
	case HexEncode:
		b, changed = hexEncode(b, src)
	case RemoveComments:
		b, changed = removeComments(b, src)
	case RemoveCommentsChar:
		b, changed = removeCommentsChar(b, src)
	case ReplaceComments:
		b, changed = replaceComments(b, src)
	case Length:
		return strconv.Itoa(len(src))
	case Trim:
		return strings.Trim(src, " \t\n\r\f\v\x00")
	case TrimLeft:
		return strings.TrimLeft(src, " \t\n\r\f\v\x00")
	case TrimRight:
		return strings.TrimRight(src, " \t\n\r\f\v\x00")
	case SHA1:
		sum := sha1.Sum([]byte(src))
		return string(sum[:])
	case MD5:
		sum := md5.Sum([]byte(src))
		return string(sum[:])
	default:
		return src
	}
	*scratch = b
	if !changed {
		return src
	}
	return string(b)
}

func lowercase(b []byte, s string) ([]byte, bool) {
	changed := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
			changed = true
		}
		b = append(b, c)
	}
	return b, changed
}

func uppercase(b []byte, s string) ([]byte, bool) {
	changed := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
			changed = true
		}
		b = append(b, c)
	}
	return b, changed
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func isHex(c byte) bool { return hexVal(c) >= 0 }

// urlDecode decodes %XX and '+'; with uni it also decodes IIS %uXXXX escapes to a best-fit
// ASCII byte (full-width ASCII folds to ASCII, otherwise the low byte). Invalid escapes stay.
func urlDecode(b []byte, s string, uni bool) ([]byte, bool) {
	changed := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '+':
			b = append(b, ' ')
			changed = true
			i++
		case c == '%' && uni && i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U'):
			if i+5 < len(s) && isHex(s[i+2]) && isHex(s[i+3]) && isHex(s[i+4]) && isHex(s[i+5]) {
				code := rune(hexVal(s[i+2])<<12 | hexVal(s[i+3])<<8 | hexVal(s[i+4])<<4 | hexVal(s[i+5]))
				b = append(b, bestFit(code))
				changed = true
				i += 6
			} else {
				b = append(b, s[i], s[i+1])
				i += 2
			}
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, byte(hexVal(s[i+1])<<4|hexVal(s[i+2])))
			changed = true
			i += 3
		default:
			b = append(b, c)
			i++
		}
	}
	return b, changed
}

// bestFit maps a %u code point to one byte the way IIS does: full-width ASCII and the
// best-fit table fold to ASCII; anything else keeps its low byte.
func bestFit(code rune) byte {
	if c, ok := lookupBestFit(code); ok {
		return c
	}
	low := byte(code)
	if code >= 0xff01 && code <= 0xff5e {
		return byte(code - 0xfee0)
	}
	return low
}

func urlEncode(b []byte, s string) ([]byte, bool) {
	const hexdig = "0123456789abcdef"
	changed := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			b = append(b, '+')
			changed = true
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '*', c == '-', c == '.', c == '_':
			b = append(b, c)
		default:
			b = append(b, '%', hexdig[c>>4], hexdig[c&15])
			changed = true
		}
	}
	return b, changed
}

func jsDecode(b []byte, s string) ([]byte, bool) {
	if strings.IndexByte(s, '\\') < 0 {
		return b, false
	}
	changed := false
	n := len(s)
	for i := 0; i < n; {
		if s[i] != '\\' || i+1 >= n {
			b = append(b, s[i])
			i++
			continue
		}
		changed = true
		switch {
		case s[i+1] == 'u' && i+2 < n && s[i+2] == '{':
			j := 0
			for j < 6 && i+3+j < n && isHex(s[i+3+j]) {
				j++
			}
			if j > 0 && i+3+j < n && s[i+3+j] == '}' {
				var code rune
				for k := 0; k < j; k++ {
					code = code<<4 | rune(hexVal(s[i+3+k]))
				}
				c := byte(code)
				if code >= 0xff01 && code <= 0xff5e {
					c += 0x20
				}
				b = append(b, c)
				i += j + 4
				continue
			}
			b = append(b, 'u')
			i += 2
		case s[i+1] == 'u' && i+5 < n && isHex(s[i+2]) && isHex(s[i+3]) && isHex(s[i+4]) && isHex(s[i+5]):
			c := byte(hexVal(s[i+4])<<4 | hexVal(s[i+5]))
			if c > 0 && c < 0x5f && (s[i+2]|0x20) == 'f' && (s[i+3]|0x20) == 'f' {
				c += 0x20
			}
			b = append(b, c)
			i += 6
		case s[i+1] == 'x' && i+3 < n && isHex(s[i+2]) && isHex(s[i+3]):
			b = append(b, byte(hexVal(s[i+2])<<4|hexVal(s[i+3])))
			i += 4
		case s[i+1] >= '0' && s[i+1] <= '7':
			j := 1
			for j < 3 && i+1+j < n && s[i+1+j] >= '0' && s[i+1+j] <= '7' {
				j++
			}
			if j == 3 && s[i+1] > '3' {
				j = 2
			}
			v := 0
			for k := 0; k < j; k++ {
				v = v*8 + int(s[i+1+k]-'0')
			}
			b = append(b, byte(v))
			i += 1 + j
		default:
			b = append(b, simpleEscape(s[i+1]))
			i += 2
		}
	}
	return b, changed
}

func simpleEscape(c byte) byte {
	switch c {
	case 'a':
		return '\a'
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'v':
		return '\v'
	}
	return c
}

func cssDecode(b []byte, s string) ([]byte, bool) {
	if strings.IndexByte(s, '\\') < 0 {
		return b, false
	}
	n := len(s)
	for i := 0; i < n; {
		if s[i] != '\\' {
			b = append(b, s[i])
			i++
			continue
		}
		i++
		if i >= n {
			break
		}
		j := 0
		for j < 6 && i+j < n && isHex(s[i+j]) {
			j++
		}
		switch {
		case j > 0:
			var code rune
			for k := 0; k < j; k++ {
				code = code<<4 | rune(hexVal(s[i+k]))
			}
			if code == 0 || code > utf8.MaxRune || (code >= 0xd800 && code <= 0xdfff) {
				code = utf8.RuneError
			}
			if code >= 0xff01 && code <= 0xff5e {
				code -= 0xfee0
			}
			b = utf8.AppendRune(b, code)
			if i+j < n && isSpaceByte(s[i+j]) {
				j++
			}
			i += j
		case s[i] == '\n':
			i++
		default:
			b = append(b, s[i])
			i++
		}
	}
	return b, true
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\f' || c == '\n' || c == '\t' || c == '\r' || c == '\v'
}

func escapeSeqDecode(b []byte, s string) ([]byte, bool) {
	if strings.IndexByte(s, '\\') < 0 {
		return b, false
	}
	changed := false
	n := len(s)
	for i := 0; i < n; {
		if s[i] != '\\' || i+1 >= n {
			b = append(b, s[i])
			i++
			continue
		}
		c := s[i+1]
		switch {
		case c == 'a' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't' || c == 'v' || c == '\\' || c == '?' || c == '\'' || c == '"':
			b = append(b, simpleEscape(c))
			i += 2
			changed = true
		case (c == 'x' || c == 'X') && i+3 < n && isHex(s[i+2]) && isHex(s[i+3]):
			b = append(b, byte(hexVal(s[i+2])<<4|hexVal(s[i+3])))
			i += 4
			changed = true
		case c >= '0' && c <= '7':
			j := 1
			for j < 3 && i+1+j < n && s[i+1+j] >= '0' && s[i+1+j] <= '7' {
				j++
			}
			v := 0
			for k := 0; k < j; k++ {
				v = v*8 + int(s[i+1+k]-'0')
			}
			b = append(b, byte(v))
			i += 1 + j
			changed = true
		default:
			b = append(b, s[i], c)
			i += 2
		}
	}
	return b, changed
}

func isLatinSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xa0:
		return true
	}
	return false
}

func compressWhitespace(b []byte, s string) ([]byte, bool) {
	changed := false
	inSpace := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if isLatinSpace(r) || s[i] == 0xa0 {
			if inSpace {
				changed = true
			} else {
				inSpace = true
				if r != ' ' || size != 1 {
					changed = true
				}
				b = append(b, ' ')
			}
		} else {
			inSpace = false
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b, changed
}

func removeWhitespace(b []byte, s string) ([]byte, bool) {
	changed := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if isUnicodeSpace(r) && !(r == utf8.RuneError && size == 1) {
			changed = true
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b, changed
}

func isUnicodeSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

func removeNulls(b []byte, s string) ([]byte, bool) {
	if strings.IndexByte(s, 0) < 0 {
		return b, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != 0 {
			b = append(b, s[i])
		}
	}
	return b, true
}

func replaceNulls(b []byte, s string) ([]byte, bool) {
	if strings.IndexByte(s, 0) < 0 {
		return b, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 {
			c = ' '
		}
		b = append(b, c)
	}
	return b, true
}

func utf8ToUnicode(b []byte, s string) ([]byte, bool) {
	const hexdig = "0123456789abcdef"
	changed := false
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		changed = true
		if r == utf8.RuneError && size == 1 {
			// An invalid byte is spelled as its own code point, as a Latin-1 reading would.
			r = rune(c)
		}
		b = append(b, '%', 'u')
		if r > 0xffff {
			b = strconv.AppendUint(b, uint64(r), 16)
		} else {
			b = append(b, hexdig[r>>12&15], hexdig[r>>8&15], hexdig[r>>4&15], hexdig[r&15])
		}
		i += size
	}
	return b, changed
}

// cmdLine normalizes shell command lines: it deletes \ " ' ^, turns , ; and whitespace runs into
// one space, removes spaces before / and (, and lowercases.
func cmdLine(b []byte, s string) ([]byte, bool) {
	changed := false
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\'', '\\', '^':
			changed = true
		case ' ', ',', ';', '\t', '\r', '\n':
			if space {
				changed = true
				continue
			}
			if c != ' ' {
				changed = true
			}
			b = append(b, ' ')
			space = true
		case '/', '(':
			if space {
				b = b[:len(b)-1]
				changed = true
			}
			space = false
			b = append(b, c)
		default:
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
				changed = true
			}
			b = append(b, c)
			space = false
		}
	}
	return b, changed
}

func normalizePath(s string) string {
	if s == "" {
		return s
	}
	clean := path.Clean(s)
	if clean == "." {
		return ""
	}
	if s[len(s)-1] == '/' && clean != "/" {
		clean += "/"
	}
	return clean
}

func normalizePathWin(s string) string {
	if s == "" {
		return s
	}
	return normalizePath(strings.ReplaceAll(s, "\\", "/"))
}

func base64Value(c byte, ext bool) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '+' || (ext && c == '-'):
		return 62
	case c == '/' || (ext && c == '_'):
		return 63
	}
	return -1
}

// base64Decode decodes until the first character outside the alphabet (ModSecurity
// semantics: a partial trailing group still yields its complete bytes). The Ext variant skips
// invalid characters and accepts the URL-safe alphabet.
func base64Decode(b []byte, s string, ext bool) ([]byte, bool) {
	x, n := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' || (ext && (c == ' ' || c == '\t' || c == '.')) {
			continue
		}
		if c == '=' || c == ' ' {
			break
		}
		v := base64Value(c, ext)
		if v < 0 {
			if ext {
				continue
			}
			break
		}
		x = x<<6 | v
		n++
		if n == 4 {
			b = append(b, byte(x>>16), byte(x>>8), byte(x))
			x, n = 0, 0
		}
	}
	switch n {
	case 2:
		b = append(b, byte(x>>4))
	case 3:
		b = append(b, byte(x>>10), byte(x>>2))
	}
	return b, true
}

func base64Encode(b []byte, s string) ([]byte, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(s); i += 3 {
		var v uint32
		rem := len(s) - i
		v = uint32(s[i]) << 16
		if rem > 1 {
			v |= uint32(s[i+1]) << 8
		}
		if rem > 2 {
			v |= uint32(s[i+2])
		}
		b = append(b, alphabet[v>>18&63], alphabet[v>>12&63])
		if rem > 1 {
			b = append(b, alphabet[v>>6&63])
		} else {
			b = append(b, '=')
		}
		if rem > 2 {
			b = append(b, alphabet[v&63])
		} else {
			b = append(b, '=')
		}
	}
	return b, true
}

func hexDecode(b []byte, s string) ([]byte, bool) {
	for i := 0; i+1 < len(s); i += 2 {
		hi, lo := hexVal(s[i]), hexVal(s[i+1])
		if hi < 0 || lo < 0 {
			// Not hex: the input is left as it was.
			return b[:0], false
		}
		b = append(b, byte(hi<<4|lo))
	}
	return b, true
}

func hexEncode(b []byte, s string) ([]byte, bool) {
	const hexdig = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		b = append(b, hexdig[s[i]>>4], hexdig[s[i]&15])
	}
	return b, true
}

// removeComments deletes /* */ and <!-- --> comments and truncates at -- or #.
func removeComments(b []byte, s string) ([]byte, bool) {
	changed := false
	in := false
	n := len(s)
	i := 0
loop:
	for i < n {
		if !in {
			switch {
			case s[i] == '/' && i+1 < n && s[i+1] == '*':
				in, changed = true, true
				i += 2
			case s[i] == '<' && i+3 < n && s[i+1] == '!' && s[i+2] == '-' && s[i+3] == '-':
				in, changed = true, true
				i += 4
			case s[i] == '-' && i+1 < n && s[i+1] == '-', s[i] == '#':
				b = append(b, ' ')
				changed = true
				break loop
			default:
				b = append(b, s[i])
				i++
			}
			continue
		}
		switch {
		case s[i] == '*' && i+1 < n && s[i+1] == '/':
			in = false
			i += 2
		case s[i] == '-' && i+2 < n && s[i+1] == '-' && s[i+2] == '>':
			in = false
			i += 3
		default:
			i++
		}
	}
	if in {
		b = append(b, ' ')
	}
	return b, changed
}

func removeCommentsChar(b []byte, s string) ([]byte, bool) {
	changed := false
	n := len(s)
	for i := 0; i < n; {
		switch {
		case s[i] == '/' && i+1 < n && s[i+1] == '*', s[i] == '*' && i+1 < n && s[i+1] == '/':
			i += 2
			changed = true
		case s[i] == '<' && i+3 < n && s[i+1] == '!' && s[i+2] == '-' && s[i+3] == '-':
			i += 4
			changed = true
		case s[i] == '-' && i+2 < n && s[i+1] == '-' && s[i+2] == '>':
			i += 3
			changed = true
		case s[i] == '-' && i+1 < n && s[i+1] == '-':
			i += 2
			changed = true
		case s[i] == '#':
			i++
			changed = true
		default:
			b = append(b, s[i])
			i++
		}
	}
	return b, changed
}

// replaceComments replaces each /* ... */ comment (also an unterminated one) with a space.
func replaceComments(b []byte, s string) ([]byte, bool) {
	changed := false
	in := false
	n := len(s)
	for i := 0; i < n; {
		if !in {
			if s[i] == '/' && i+1 < n && s[i+1] == '*' {
				in, changed = true, true
				i += 2
			} else {
				b = append(b, s[i])
				i++
			}
			continue
		}
		if s[i] == '*' && i+1 < n && s[i+1] == '/' {
			in = false
			i += 2
			b = append(b, ' ')
		} else {
			i++
		}
	}
	if in {
		b = append(b, ' ')
	}
	return b, changed
}
