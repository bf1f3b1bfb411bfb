package engine

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// A multipart/form-data parser over the buffered request body. It stands in for Go's
// mime/multipart: package mime reads /etc/mime.types at init, which links a WASI import
// (path_filestat_get) that older Envoy hosts lack. The parser is a loop over byte offsets (no
// recursion), bounded by the body it is given, and it hands part headers to the rules as
// received, control characters included, as ModSecurity does (CRS 922130 inspects them).

var (
	errMultipartNoBoundaryLine = errors.New("multipart: no boundary line in the body")
	errMultipartHeadersEOF     = errors.New("multipart: unexpected end of body in part headers")
	errMultipartBodyEOF        = errors.New("multipart: part not terminated by a boundary")
	errMultipartBoundaryLine   = errors.New("multipart: unexpected content after a part boundary")
	errMultipartContinuation   = errors.New("multipart: part header continuation line without a header")
	errMultipartHeaderLine     = errors.New("multipart: malformed part header line")
	errMediaType               = errors.New("media type: missing or invalid type")
	errMediaParam              = errors.New("media type: invalid parameter")
	errMediaDuplicateParam     = errors.New("media type: duplicate parameter")
)

// partHeader is one part header; name and value alias the body unless folded lines were joined.
type partHeader struct {
	name, value []byte
}

// multipartReader yields the parts of a multipart body one at a time, reusing its header slice.
type multipartReader struct {
	body         []byte
	dashBoundary []byte // "--" + boundary
	nl           []byte // line ending chosen by the first boundary line: "\r\n" or "\n"
	pos          int
	started      bool // the first boundary line has been found
	done         bool
	headers      []partHeader
}

var (
	cr   = []byte("\r")
	crlf = []byte("\r\n")
	lf   = []byte("\n")
)

func newMultipartReader(body []byte, boundary string) *multipartReader {
	db := make([]byte, 0, 2+len(boundary))
	db = append(append(db, '-', '-'), boundary...)
	return &multipartReader{body: body, dashBoundary: db, nl: crlf}
}

// line returns the line at r.pos without its line ending, and the offset after it; eof reports
// that the body ended before a '\n'.
func (r *multipartReader) line() (line []byte, next int, eof bool) {
	rest := r.body[r.pos:]
	i := bytes.IndexByte(rest, '\n')
	if i < 0 {
		return rest, len(r.body), true
	}
	return bytes.TrimSuffix(rest[:i], cr), r.pos + i + 1, false
}

// boundaryLine classifies a line: delimiter ("--b" + LWSP), final ("--b--" + LWSP) or neither.
func (r *multipartReader) boundaryLine(line []byte) (delimiter, final bool) {
	if !bytes.HasPrefix(line, r.dashBoundary) {
		return false, false
	}
	rest := line[len(r.dashBoundary):]
	if len(rest) >= 2 && rest[0] == '-' && rest[1] == '-' {
		return false, len(bytes.TrimLeft(rest[2:], " \t")) == 0
	}
	return len(bytes.TrimLeft(rest, " \t")) == 0, false
}

// next returns the next part's headers (valid until the following call) and body. ok is false
// at the final boundary. After an error the reader is done; a part whose body runs into the end
// of the input is returned with errMultipartBodyEOF.
func (r *multipartReader) next() (headers []partHeader, body []byte, ok bool, err error) {
	if r.done {
		return nil, nil, false, nil
	}
	if !r.started {
		// Skip the preamble up to the first boundary line, which also fixes the line ending.
		for {
			line, next, eof := r.line()
			delim, final := r.boundaryLine(line)
			// Before the first part a closing line counts only with a CRLF or at the end, as
			// in Go's reader: "--b--\n" in the preamble does not hide the parts after it.
			if final && (eof || next-r.pos == len(line)+2) {
				r.done = true
				return nil, nil, false, nil
			}
			if delim && !eof {
				if next-r.pos == len(line)+1 {
					r.nl = lf
				}
				r.pos = next
				r.started = true
				break
			}
			if eof {
				r.done = true
				return nil, nil, false, errMultipartNoBoundaryLine
			}
			r.pos = next
		}
	} else {
		// r.pos is at the boundary line that ended the previous part.
		line, next, eof := r.line()
		delim, final := r.boundaryLine(line)
		if final {
			r.done = true
			return nil, nil, false, nil
		}
		if !delim || eof {
			r.done = true
			return nil, nil, false, errMultipartBoundaryLine
		}
		r.pos = next
	}
	if headers, err = r.readHeaders(); err != nil {
		r.done = true
		return nil, nil, false, err
	}
	body, err = r.readBody()
	if err != nil {
		r.done = true
	}
	return headers, body, true, err
}

func (r *multipartReader) readHeaders() ([]partHeader, error) {
	hs := r.headers[:0]
	defer func() { r.headers = hs[:0] }()
	for {
		line, next, eof := r.line()
		if eof {
			return nil, errMultipartHeadersEOF
		}
		r.pos = next
		if len(line) == 0 {
			return hs, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			// Folded header: join with one space, as RFC 5322 unfolding does.
			if len(hs) == 0 {
				return nil, errMultipartContinuation
			}
			last := &hs[len(hs)-1]
			switch more := bytes.Trim(line, " \t"); {
			case len(more) == 0:
			case len(last.value) == 0:
				last.value = more
			default:
				joined := make([]byte, 0, len(last.value)+1+len(more))
				last.value = append(append(append(joined, last.value...), ' '), more...)
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return nil, errMultipartHeaderLine
		}
		hs = append(hs, partHeader{name: line[:colon], value: bytes.Trim(line[colon+1:], " \t")})
	}
}

// readBody returns the part body up to the next delimiter (line ending + "--boundary" followed
// by whitespace, a line ending, "--" or the end of the body) and leaves r.pos on that boundary
// line. An empty body may start with the delimiter directly: its line ending is the blank line's.
func (r *multipartReader) readBody() ([]byte, error) {
	start := r.pos
	if r.delimiterAt(start) {
		return r.body[start:start], nil
	}
	from := start
	for {
		i := bytes.Index(r.body[from:], r.nl)
		if i < 0 {
			r.pos = len(r.body)
			return r.body[start:], errMultipartBodyEOF
		}
		at := from + i
		if r.delimiterAt(at + len(r.nl)) {
			r.pos = at + len(r.nl)
			return r.body[start:at], nil
		}
		from = at + 1
	}
}

func (r *multipartReader) delimiterAt(i int) bool {
	rest := r.body[i:]
	if !bytes.HasPrefix(rest, r.dashBoundary) {
		return false
	}
	rest = rest[len(r.dashBoundary):]
	if len(rest) == 0 {
		return true
	}
	switch rest[0] {
	case ' ', '\t', '\r', '\n':
		return true
	case '-':
		return len(rest) > 1 && rest[1] == '-'
	}
	return false
}

// mediaParam is one parameter of a media type or Content-Disposition value.
type mediaParam struct {
	key   string // lower case; RFC 2231 "key*" values are decoded and stored under key
	value string
	ext   bool // came from "key*"
}

// parseMediaType parses `type[/subtype] *(; key=value)` (RFC 2045, values as tokens or quoted
// strings, RFC 2231 "key*=charset'lang'pct" for US-ASCII and UTF-8) and appends its parameters
// to params. A decodable "key*" takes the place of a plain "key". The type is lower-cased.
func parseMediaType(v string, params []mediaParam) (string, []mediaParam, error) {
	base, rest, _ := strings.Cut(v, ";")
	mt := lower(strings.TrimSpace(base))
	typ, sub, slash := strings.Cut(mt, "/")
	if !isToken(typ) || (slash && !isToken(sub)) {
		return "", params, errMediaType
	}
	if !strings.Contains(v, ";") {
		return mt, params, nil
	}
	first := len(params)
	rest = ";" + rest
	for {
		rest = strings.TrimLeft(rest, " \t\r\n")
		if rest == "" {
			break
		}
		if rest[0] != ';' {
			return mt, params, errMediaParam
		}
		rest = strings.TrimLeft(rest[1:], " \t\r\n")
		if rest == "" {
			break // trailing semicolon
		}
		n := tokenLen(rest)
		if n == 0 {
			return mt, params, errMediaParam
		}
		key := lower(rest[:n])
		rest = strings.TrimLeft(rest[n:], " \t\r\n")
		if rest == "" || rest[0] != '=' {
			return mt, params, errMediaParam
		}
		rest = strings.TrimLeft(rest[1:], " \t\r\n")
		var value string
		if rest != "" && rest[0] == '"' {
			var ok bool
			if value, rest, ok = quotedString(rest); !ok {
				return mt, params, errMediaParam
			}
		} else {
			n = tokenLen(rest)
			if n == 0 {
				return mt, params, errMediaParam
			}
			value, rest = rest[:n], rest[n:]
		}
		for _, p := range params[first:] {
			if p.key == key {
				return mt, params, errMediaDuplicateParam
			}
		}
		params = append(params, mediaParam{key: key, value: value})
	}
	return mt, resolveExtParams(params, first), nil
}

// resolveExtParams applies RFC 2231 to params[first:] in place: "key*" (charset'lang'pct) and
// the continuations "key*0", "key*1*", ... replace a plain "key" when they decode; other keys
// with a '*' are dropped.
func resolveExtParams(params []mediaParam, first int) []mediaParam {
	raw := params[first:]
	hasStar := false
	for _, p := range raw {
		hasStar = hasStar || strings.IndexByte(p.key, '*') >= 0
	}
	if !hasStar {
		return params
	}
	lookup := func(key string) (string, bool) {
		for _, p := range raw {
			if p.key == key {
				return p.value, true
			}
		}
		return "", false
	}
	var resolved []mediaParam
	for _, p := range raw {
		base, _, star := strings.Cut(p.key, "*")
		if !star || (p.key != base+"*" && p.key != base+"*0" && p.key != base+"*0*") {
			continue
		}
		if _, done := lookupIn(resolved, base); done {
			continue
		}
		if v, ok := lookup(base + "*"); ok {
			if dec, ok := decodeExtValue(v); ok {
				resolved = append(resolved, mediaParam{key: base, value: dec, ext: true})
			}
			continue
		}
		var b []byte
		for n := 0; ; n++ {
			part := base + "*" + strconv.Itoa(n)
			if v, ok := lookup(part); ok {
				b = append(b, v...)
				continue
			}
			v, ok := lookup(part + "*")
			if !ok {
				break
			}
			if n == 0 {
				if dec, ok := decodeExtValue(v); ok {
					b = append(b, dec...)
				}
			} else if dec, ok := percentDecode(v); ok {
				b = append(b, dec...)
			}
		}
		resolved = append(resolved, mediaParam{key: base, value: string(b), ext: true})
	}
	out := params[:first]
	for _, p := range raw {
		if strings.IndexByte(p.key, '*') >= 0 {
			continue
		}
		if _, shadowed := lookupIn(resolved, p.key); !shadowed {
			out = append(out, p)
		}
	}
	return append(out, resolved...)
}

func lookupIn(params []mediaParam, key string) (string, bool) {
	for _, p := range params {
		if p.key == key {
			return p.value, true
		}
	}
	return "", false
}

// paramValue returns the value of key in params, or "".
func paramValue(params []mediaParam, key string) string {
	for i := range params {
		if params[i].key == key {
			return params[i].value
		}
	}
	return ""
}

// quotedString parses a quoted string at the start of s; a backslash escapes the next byte.
// The result aliases s unless it had escapes.
func quotedString(s string) (value, rest string, ok bool) {
	var b []byte
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			if b == nil {
				return s[1:i], s[i+1:], true
			}
			return string(b), s[i+1:], true
		case '\\':
			if i+1 < len(s) && isTSpecial(s[i+1]) {
				if b == nil {
					b = append(make([]byte, 0, len(s)), s[1:i]...)
				}
				i++
				b = append(b, s[i])
				continue
			}
			fallthrough
		default:
			if c == '\r' || c == '\n' {
				return "", s, false
			}
			if b != nil {
				b = append(b, c)
			}
		}
	}
	return "", s, false
}

// decodeExtValue decodes an RFC 2231 extended value charset'language'percent-encoded for the
// charsets that need no conversion.
func decodeExtValue(v string) (string, bool) {
	charset, rest, ok := strings.Cut(v, "'")
	if !ok {
		return "", false
	}
	if _, rest, ok = strings.Cut(rest, "'"); !ok {
		return "", false
	}
	if cs := lower(charset); cs != "utf-8" && cs != "us-ascii" {
		return "", false
	}
	return percentDecode(rest)
}

func percentDecode(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", false
		}
		b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
		i += 2
	}
	return string(b), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// isTSpecial reports the RFC 2045 tspecials.
func isTSpecial(c byte) bool {
	return strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0
}

func isTokenByte(c byte) bool {
	return c > ' ' && c < 0x7f && !isTSpecial(c)
}

func tokenLen(s string) int {
	n := 0
	for n < len(s) && isTokenByte(s[n]) {
		n++
	}
	return n
}

func isToken(s string) bool {
	return s != "" && tokenLen(s) == len(s)
}

// canonicalHeaderName upper-cases the first letter and each letter after '-' and lower-cases
// the rest, as net/textproto does, for names made of token bytes; other names (control
// characters, spaces) stay as received so the rules see them.
func canonicalHeaderName(name []byte) string {
	canon := true
	upper := true
	for _, c := range name {
		if !isTokenByte(c) {
			return string(name)
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canon = false
		}
		upper = c == '-'
	}
	if canon {
		return string(name)
	}
	b := make([]byte, len(name))
	upper = true
	for i, c := range name {
		switch {
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	return string(b)
}
