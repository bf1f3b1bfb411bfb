package engine

import (
	"errors"
	"fmt"
	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
	"strconv"
	"unicode/utf8"
)

// processJSON flattens a JSON body into ARGS_POST the way ModSecurity and Coraza do: the key of
// a value is its path below "json" ("json.user.name", "json.items.0"), and every non-empty array
// also yields its length under its own path. The parser is an explicit-stack state machine, so
// nesting depth costs heap (bounded by SecRequestBodyJsonDepthLimit), not call stack.
func (tx *Transaction) processJSON(body []byte) error {
	type frame struct {
		arr    bool
		keyLen int
		n      int
	}
	const (
		wantValue = iota
		wantElemOrEnd
		wantElem
		wantKeyOrEnd
		wantKey
		afterValue
	)
	s := body
	depthLimit := tx.e.rs.JSONDepthLimit
	var stack []frame
	key := append(tx.scratch2[:0], "json"...)
	defer func() { tx.scratch2 = key[:0] }()
	emit := func(k []byte, v string) bool {
		if limit := tx.e.rs.ArgumentsLimit; limit > 0 && len(tx.argsGet)+len(tx.argsPost) >= limit {
			tx.setSingle(ruleset.VarArgsLimitReached, "1")
			return false
		}
		tx.argsPost = tx.add(tx.argsPost, string(k), v)
		return true
	}
	i := 0
	skipWS := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	state := wantValue
	for {
		skipWS()
		if state == afterValue && len(stack) == 0 {
			if i != len(s) {
				return fmt.Errorf("invalid JSON: unexpected data at offset %d", i)
			}
			return nil
		}
		if i >= len(s) {
			return errors.New("invalid JSON: unexpected end of input")
		}
		c := s[i]
		switch state {
		case wantElemOrEnd, wantKeyOrEnd:
			top := &stack[len(stack)-1]
			if (state == wantElemOrEnd && c == ']') || (state == wantKeyOrEnd && c == '}') {
				i++
				if top.arr && top.n > 0 {
					emit(key[:top.keyLen], strconv.Itoa(top.n))
				}
				key = key[:top.keyLen]
				stack = stack[:len(stack)-1]
				state = afterValue
				continue
			}
			if state == wantElemOrEnd {
				state = wantElem
			} else {
				state = wantKey
			}
		case wantElem:
			top := &stack[len(stack)-1]
			key = strconv.AppendInt(append(key[:top.keyLen], '.'), int64(top.n), 10)
			top.n++
			state = wantValue
		case wantKey:
			top := &stack[len(stack)-1]
			if c != '"' {
				return fmt.Errorf("invalid JSON: expected object key at offset %d", i)
			}
			str, next, err := jsonString(s, i)
			if err != nil {
				return err
			}
			i = next
			skipWS()
			if i >= len(s) || s[i] != ':' {
				return fmt.Errorf("invalid JSON: expected ':' at offset %d", i)
			}
			i++
			key = append(append(key[:top.keyLen], '.'), str...)
			state = wantValue
		case wantValue:
			switch {
			case c == '{' || c == '[':
				if len(stack) >= depthLimit {
					return fmt.Errorf("JSON nesting exceeds %d levels", depthLimit)
				}
				stack = append(stack, frame{arr: c == '[', keyLen: len(key)})
				i++
				if c == '[' {
					state = wantElemOrEnd
				} else {
					state = wantKeyOrEnd
				}
				continue
			case c == '"':
				str, next, err := jsonString(s, i)
				if err != nil {
					return err
				}
				i = next
				emit(key, str)
			default:
				start := i
				for i < len(s) && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
					i++
				}
				tok := string(s[start:i])
				switch {
				case tok == "null":
					emit(key, "")
				case tok == "true" || tok == "false":
					emit(key, tok)
				case validJSONNumber(tok):
					emit(key, tok)
				default:
					return fmt.Errorf("invalid JSON: unexpected %q at offset %d", tok, start)
				}
			}
			state = afterValue
		case afterValue:
			top := &stack[len(stack)-1]
			switch {
			case c == ',':
				i++
				if top.arr {
					state = wantElem
				} else {
					state = wantKey
				}
			case (c == ']' && top.arr) || (c == '}' && !top.arr):
				i++
				if top.arr && top.n > 0 {
					emit(key[:top.keyLen], strconv.Itoa(top.n))
				}
				key = key[:top.keyLen]
				stack = stack[:len(stack)-1]
			default:
				return fmt.Errorf("invalid JSON: unexpected %q at offset %d", c, i)
			}
		}
	}
}

func validJSONNumber(s string) bool {
	if s == "" {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))
}

// jsonString decodes the string starting at s[i] == '"'.
func jsonString(s []byte, i int) (string, int, error) {
	start := i
	i++
	j := i
	for j < len(s) && s[j] != '"' && s[j] != '\\' {
		j++
	}
	if j < len(s) && s[j] == '"' {
		return string(s[i:j]), j + 1, nil
	}
	b := make([]byte, 0, j-i+16)
	b = append(b, s[i:j]...)
	i = j
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			return string(b), i + 1, nil
		case c == '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("invalid JSON: unterminated string at offset %d", start)
			}
			e := s[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := hex4(s, i)
				if !ok {
					return "", 0, fmt.Errorf("invalid JSON: bad \\u escape at offset %d", i-2)
				}
				i += 4
				if r >= 0xd800 && r < 0xdc00 && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if r2, ok := hex4(s, i+2); ok && r2 >= 0xdc00 && r2 < 0xe000 {
						r = (r-0xd800)<<10 + (r2 - 0xdc00) + 0x10000
						i += 6
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", 0, fmt.Errorf("invalid JSON: bad escape at offset %d", i-2)
			}
		default:
			b = append(b, c)
			i++
		}
	}
	return "", 0, fmt.Errorf("invalid JSON: unterminated string at offset %d", start)
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for k := 0; k < 4; k++ {
		v := hexVal(s[i+k])
		if v < 0 {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}
