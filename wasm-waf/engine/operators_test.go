package engine

import (
	"strconv"
	"strings"
	"testing"

	"github.com/corazawaf/libinjection-go"
)

func FuzzAtoiLooseIsAtoiOfTrimmed(f *testing.F) {
	for _, s := range []string{"", "0", "42", " 42 ", "-7", "+7", "4x", "x", "-", "+", " -0 ", "9223372036854775807",
		"9223372036854775808", "-9223372036854775808", "-9223372036854775809", "99999999999999999999x", "1_000", "\t12\n", "١٢"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := strconv.Atoi(strings.TrimSpace(s))
		if got := atoiLoose(s); got != want {
			t.Fatalf("atoiLoose(%q) = %d, strconv.Atoi of the trimmed text = %d", s, got, want)
		}
	})
}

func FuzzXSSNeedsAngleBracketOrEquals(f *testing.F) {
	for _, s := range []string{"<script>alert(1)</script>", "\" onerror=alert(1) x=\"", "' onload='x", "javascript:alert(1)",
		"<!DOCTYPE html>", "<!-- x -->", "style=x:expression(1)", "x onfocus=alert(1) autofocus", "`onmouseover=alert(1)",
		"<a href=javascript:alert(1)>", "plain text", "a=b&c=d", "xmlns=x", "/ onclick=x", "\tsrc=data:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if libinjection.IsXSS(s) && !mayBeXSS(s) {
			t.Fatalf("libinjection flags %q as XSS, but mayBeXSS would have skipped it", s)
		}
		// The same input with every '<' and '=' taken out must never be flagged.
		stripped := strings.NewReplacer("<", "", "=", "").Replace(s)
		if libinjection.IsXSS(stripped) {
			t.Fatalf("libinjection flags %q as XSS although it has no '<' and no '='", stripped)
		}
	})
}

// FuzzSQLiNeedsNonWordByte: libinjection never flags a value made only of [A-Za-z0-9_] (see
// sqliSyntax). Every input is mapped onto that alphabet, so every iteration checks the claim; the
// seeds are the closest cases (a number followed by a keyword, hex and exponent numbers).
func FuzzSQLiNeedsNonWordByte(f *testing.F) {
	for _, s := range []string{"1union", "1UNION", "0x1union", "1e1union", "1select", "union", "select1", "1or1", "sleep",
		"benchmark", "0b1union", "1e1e1", "waitfor", "1_union", "9999999999999999999union"} {
		f.Add(s)
	}
	const word = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		for i, c := range b {
			if sqliSyntax.Has(c) {
				b[i] = word[int(c)%len(word)]
			}
		}
		if ok, fp := libinjection.IsSQLi(string(b)); ok {
			t.Fatalf("libinjection flags %q (fingerprint %s) although it has only word bytes", b, fp)
		}
	})
}
