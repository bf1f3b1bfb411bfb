// Package seclang parses SecLang, the ModSecurity v3 / Coraza configuration language, into
// directives and rule syntax trees. It only parses: names are checked and resolved by the
// ruleset compiler, which reports errors with the positions recorded here.
package seclang

import (
	"fmt"
	"strings"
)

// Directive is one configuration line after line continuations are joined.
type Directive struct {
	File string
	Line int // line of the directive name
	Name string
	Args []string
}

// Error is a parse or compile error at a directive.
type Error struct {
	File      string
	Line      int
	Directive string
	Msg       string
}

func (e *Error) Error() string {
	if e.Directive == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Directive, e.Msg)
}

// Errorf returns an Error positioned at d.
func (d *Directive) Errorf(format string, args ...any) *Error {
	return &Error{File: d.File, Line: d.Line, Directive: d.Name, Msg: fmt.Sprintf(format, args...)}
}

// Parse splits a SecLang file into directives. Lines ending in a backslash continue on the next
// line; '#' starts a comment line; arguments are bare words or quoted with " or ', where a
// backslash escapes the quote character and every other backslash is kept (regexes need them).
func Parse(file string, data []byte) ([]Directive, error) {
	var out []Directive
	text := string(data)
	lineNo := 0
	var logical strings.Builder
	startLine := 0
	for len(text) > 0 {
		var line string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			line, text = text, ""
		}
		lineNo++
		line = strings.TrimSuffix(line, "\r")
		if logical.Len() == 0 {
			trimmed := strings.TrimSpace(line)
			if trimmed == "" || trimmed[0] == '#' {
				continue
			}
			startLine = lineNo
		}
		trimmedRight := strings.TrimRight(line, " \t")
		if strings.HasSuffix(trimmedRight, "\\") && !strings.HasSuffix(trimmedRight, "\\\\") {
			logical.WriteString(trimmedRight[:len(trimmedRight)-1])
			if len(text) > 0 {
				continue
			}
		} else {
			logical.WriteString(line)
		}
		d, err := splitDirective(file, startLine, logical.String())
		logical.Reset()
		if err != nil {
			return nil, err
		}
		if d.Name != "" {
			out = append(out, d)
		}
	}
	return out, nil
}

func splitDirective(file string, line int, text string) (Directive, error) {
	d := Directive{File: file, Line: line}
	rest := strings.TrimSpace(text)
	for rest != "" {
		var tok string
		var err error
		tok, rest, err = nextToken(rest)
		if err != nil {
			return d, &Error{File: file, Line: line, Directive: d.Name, Msg: err.Error()}
		}
		if d.Name == "" {
			d.Name = tok
			continue
		}
		d.Args = append(d.Args, tok)
		rest = strings.TrimLeft(rest, " \t")
	}
	return d, nil
}

func nextToken(s string) (tok, rest string, err error) {
	s = strings.TrimLeft(s, " \t")
	if s == "" {
		return "", "", nil
	}
	q := s[0]
	if q != '"' && q != '\'' {
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			return s, "", nil
		}
		return s[:i], s[i:], nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && s[i+1] == q {
			b.WriteByte(q)
			i++
			continue
		}
		if c == q {
			return b.String(), s[i+1:], nil
		}
		b.WriteByte(c)
	}
	return "", "", fmt.Errorf("unterminated %c-quoted argument", q)
}
