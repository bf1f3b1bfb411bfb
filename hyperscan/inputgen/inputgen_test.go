package inputgen

import (
	"reflect"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
	"unicode/utf8"
)

func generator(t *testing.T, regex string, seed uint64) *Generator {
	t.Helper()
	re, err := syntax.Parse(regex, syntax.Perl)
	if err != nil {
		t.Fatal(err)
	}
	return New(re, seed)
}

// TestMatchingWalksMatch checks that walks through assertion-free regexes are matched by them:
// the probe relies on most inputs sitting on the regex's own language.
func TestMatchingWalksMatch(t *testing.T) {
	for _, regex := range []string{`/api/v[0-9]+/users/[^/]+`, `(?i)/admin/[a-z]{2,5}`, `(a|bc)*d+e?`, `\pL+\s\d{3}`, `(?s).x.`, `[^\x00-\x7f]+`, `x{3,}`} {
		full := regexp.MustCompile(`\A(?:` + regex + `)\z`)
		g := generator(t, regex, 1)
		for range 200 {
			if s := g.Matching(); !full.MatchString(s) {
				t.Errorf("%q does not match its walk %q", regex, s)
				break
			}
		}
	}
}

func TestMutationsHaveTheirProperty(t *testing.T) {
	g := generator(t, `/api/v[0-9]+/Kes s/[^/]+`, 7)
	seen := map[Mutation]int{}
	for range 3000 {
		s := g.Matching()
		in := g.Mutate(s)
		seen[in.Mutation]++
		switch in.Mutation {
		case TrailingNewline:
			if in.Text != s+"\n" {
				t.Errorf("trailing newline: %q from %q", in.Text, s)
			}
		case LeadingNewline:
			if in.Text != "\n"+s {
				t.Errorf("leading newline: %q from %q", in.Text, s)
			}
		case InvalidUTF8:
			if utf8.ValidString(in.Text) {
				t.Errorf("invalid-utf8 input %q is valid UTF-8", in.Text)
			}
		case VerticalTab:
			if !strings.Contains(in.Text, "\v") {
				t.Errorf("vertical-tab input %q has none", in.Text)
			}
		case CaseVariant:
			if in.Text == s || len([]rune(in.Text)) != len([]rune(s)) {
				t.Errorf("case variant %q of %q", in.Text, s)
			}
		case Doubled:
			if in.Text != s+s {
				t.Errorf("doubled %q of %q", in.Text, s)
			}
		}
	}
	for _, m := range []Mutation{TrailingNewline, LeadingNewline, Surrounded, Truncated, Doubled, InvalidUTF8, VerticalTab, CaseVariant, NonASCII, Newline} {
		if seen[m] == 0 {
			t.Errorf("mutation %s never produced", m)
		}
	}
}

func TestInputsAreDeterministicForASeed(t *testing.T) {
	a := generator(t, `(?i)/x/[a-z0-9]+/.*`, 99).Inputs(300)
	b := generator(t, `(?i)/x/[a-z0-9]+/.*`, 99).Inputs(300)
	c := generator(t, `(?i)/x/[a-z0-9]+/.*`, 100).Inputs(300)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different inputs")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds, same inputs")
	}
	if len(a) != 300 || a[0].Text != "" || a[0].Mutation != Empty {
		t.Errorf("want 300 inputs starting with the empty one, got %d starting %+v", len(a), a[0])
	}
}
