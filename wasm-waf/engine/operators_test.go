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
