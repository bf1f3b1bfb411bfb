package seclang

import (
	"fmt"
	"strings"
)

// Variable is one target of a SecRule, e.g. ARGS, !REQUEST_HEADERS:Cookie, &TX:foo, TX:/^a/.
type Variable struct {
	Name     string // upper case collection or variable name
	Key      string // selector after ':', without slashes or quotes
	KeyRegex bool   // the selector was /regex/
	Exclude  bool   // '!' prefix
	Count    bool   // '&' prefix
}

func (v Variable) String() string {
	var b strings.Builder
	if v.Exclude {
		b.WriteByte('!')
	}
	if v.Count {
		b.WriteByte('&')
	}
	b.WriteString(v.Name)
	if v.Key != "" {
		b.WriteByte(':')
		if v.KeyRegex {
			b.WriteString("/" + v.Key + "/")
		} else {
			b.WriteString(v.Key)
		}
	}
	return b.String()
}

// Operator is the operator of a SecRule.
type Operator struct {
	Name   string // without '@', as written (case-insensitive)
	Arg    string
	Negate bool
}

// Action is one action, e.g. {"setvar", "tx.a=1"}.
type Action struct {
	Name  string // lower case
	Value string // quotes removed
}

// ParseVariables parses a SecRule variable list.
func ParseVariables(s string) ([]Variable, error) {
	var out []Variable
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '|') {
			i++
		}
		if i >= len(s) {
			break
		}
		var v Variable
		for i < len(s) && (s[i] == '!' || s[i] == '&') {
			if s[i] == '!' {
				v.Exclude = true
			} else {
				v.Count = true
			}
			i++
		}
		start := i
		for i < len(s) && s[i] != ':' && s[i] != '|' {
			i++
		}
		v.Name = strings.ToUpper(strings.TrimSpace(s[start:i]))
		if v.Name == "" {
			return nil, fmt.Errorf("empty variable name in %q", s)
		}
		if i < len(s) && s[i] == ':' {
			i++
			switch {
			case i < len(s) && s[i] == '/' && v.Name != "XML" && v.Name != "REQUEST_XML":
				// XML takes an XPath expression, every other collection a /regex/.
				end := closingSlash(s, i+1)
				if end < 0 {
					return nil, fmt.Errorf("unterminated regular expression selector in %q", s[start:])
				}
				v.Key, v.KeyRegex = s[i+1:end], true
				i = end + 1
			case i < len(s) && s[i] == '\'':
				end := strings.IndexByte(s[i+1:], '\'')
				if end < 0 {
					return nil, fmt.Errorf("unterminated quoted selector in %q", s[start:])
				}
				v.Key = s[i+1 : i+1+end]
				i = i + 1 + end + 1
			default:
				ks := i
				for i < len(s) && s[i] != '|' {
					i++
				}
				v.Key = strings.TrimSpace(s[ks:i])
			}
			if v.KeyRegex && v.Key == "" {
				return nil, fmt.Errorf("empty regular expression selector for %s", v.Name)
			}
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no variables")
	}
	return out, nil
}

// closingSlash finds the '/' that ends a regex selector, skipping escaped slashes; the selector
// ends at a slash followed by '|' or the end of the list.
func closingSlash(s string, from int) int {
	for j := from; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '/':
			if j+1 == len(s) || s[j+1] == '|' {
				return j
			}
		}
	}
	return -1
}

// ParseOperator parses the operator argument of a SecRule. Without '@' the operator is @rx.
func ParseOperator(s string) (Operator, error) {
	var op Operator
	t := strings.TrimLeft(s, " ")
	if strings.HasPrefix(t, "!") {
		op.Negate = true
		t = strings.TrimLeft(t[1:], " ")
	}
	if !strings.HasPrefix(t, "@") {
		op.Name, op.Arg = "rx", t
		return op, nil
	}
	t = t[1:]
	name, arg, _ := strings.Cut(t, " ")
	if name == "" {
		return op, fmt.Errorf("empty operator name in %q", s)
	}
	op.Name, op.Arg = name, strings.TrimLeft(arg, " ")
	return op, nil
}

// ParseActions parses a comma separated action list. Values may be quoted with single quotes,
// which protect commas; \' inside quotes is a quote.
func ParseActions(s string) ([]Action, error) {
	var out []Action
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',' || s[i] == '\n') {
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] != ':' && s[i] != ',' {
			i++
		}
		a := Action{Name: strings.ToLower(strings.TrimSpace(s[start:i]))}
		if a.Name == "" {
			return nil, fmt.Errorf("empty action name at offset %d of %q", start, s)
		}
		if i < len(s) && s[i] == ':' {
			i++
			for i < len(s) && s[i] == ' ' {
				i++
			}
			if i < len(s) && s[i] == '\'' {
				var b strings.Builder
				i++
				closed := false
				for i < len(s) {
					c := s[i]
					if c == '\\' && i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					if c == '\'' {
						closed = true
						i++
						break
					}
					b.WriteByte(c)
					i++
				}
				if !closed {
					return nil, fmt.Errorf("unterminated quote in action %q", a.Name)
				}
				a.Value = b.String()
				for i < len(s) && s[i] != ',' {
					if s[i] != ' ' && s[i] != '\t' {
						return nil, fmt.Errorf("unexpected %q after quoted value of action %q", s[i], a.Name)
					}
					i++
				}
			} else {
				vs := i
				for i < len(s) && s[i] != ',' {
					i++
				}
				a.Value = strings.TrimSpace(s[vs:i])
			}
		}
		out = append(out, a)
	}
	return out, nil
}
