package hyperscan_test

import (
	"fmt"
	"hash/fnv"
	"testing"

	"github.com/meshaccel/meshaccel/hyperscan"
	"github.com/meshaccel/meshaccel/hyperscan/inputgen"
)

func TestFullMatchExpressionWritesWhatHyperscanNeeds(t *testing.T) {
	for _, tc := range []struct {
		regex     string
		caseStyle hyperscan.CaseStyle
		want      string
	}{
		{`/api/v1/.*`, hyperscan.CaseInlineFlag, `\A(?:/api/v1/[^\n]*)\z`},
		{`^/api$`, hyperscan.CaseInlineFlag, `\A(?:\A/api\z)\z`},
		{`(?m)^a$`, hyperscan.CaseInlineFlag, `\A(?:(?m:^)a(?m:$))\z`},
		{`a\sb`, hyperscan.CaseInlineFlag, `\A(?:a[\t\n\f\r ]b)\z`},
		{`[^/]+`, hyperscan.CaseInlineFlag, `\A(?:[^/]+)\z`},
		{`(?i)k`, hyperscan.CaseExplicitClasses, "\\A(?:[Kk\u212a])\\z"},
		{`(?i)/ok`, hyperscan.CaseInlineFlag, `\A(?:(?i:/OK))\z`},
		{`(?U)a+b`, hyperscan.CaseInlineFlag, `\A(?:a+?b)\z`},
		{`(?P<id>[0-9]{2,4})(x)?`, hyperscan.CaseInlineFlag, `\A(?:(?P<id>[0-9]{2,4})(x)?)\z`},
		{`(?s)a.b`, hyperscan.CaseInlineFlag, `\A(?:a(?s:.)b)\z`},
		{`\.\*\[\]`, hyperscan.CaseInlineFlag, `\A(?:\.\*\[\])\z`},
		{`a|bc|d`, hyperscan.CaseInlineFlag, `\A(?:a|bc|d)\z`},
		{`x(a|bc)*`, hyperscan.CaseInlineFlag, `\A(?:x(a|bc)*)\z`},
		{`\x{0b}\x00`, hyperscan.CaseInlineFlag, `\A(?:\x{b}\x{0})\z`},
	} {
		got, err := hyperscan.FullMatchExpression(tc.regex, tc.caseStyle)
		if err != nil {
			t.Errorf("%q: %v", tc.regex, err)
			continue
		}
		if got != tc.want {
			t.Errorf("FullMatchExpression(%q) = %q, want %q", tc.regex, got, tc.want)
		}
	}
}

func TestFullMatchExpressionRejectsInvalidRE2(t *testing.T) {
	for _, regex := range []string{`(a`, `a++`, `(?=a)`, `\C`, `a{1001}`} {
		if got, err := hyperscan.FullMatchExpression(regex, hyperscan.CaseInlineFlag); err == nil {
			t.Errorf("FullMatchExpression(%q) = %q, want an error", regex, got)
		}
	}
}

// TestFullMatchExpressionKeepsTheRE2Meaning checks, on generated inputs for every corpus regex,
// that the translation matches exactly what the original matches under RE2 full match: the
// translation is offered as a drop-in replacement in RE2 configuration.
func TestFullMatchExpressionKeepsTheRE2Meaning(t *testing.T) {
	checked := 0
	for _, source := range loadCorpus(t) {
		original, err := hyperscan.CompileFullMatch(source.Regex)
		if err != nil {
			continue
		}
		for _, style := range []hyperscan.CaseStyle{hyperscan.CaseInlineFlag, hyperscan.CaseExplicitClasses} {
			translated, err := hyperscan.FullMatchExpression(source.Regex, style)
			if err != nil {
				continue // a sub-expression that can never match: nothing to translate
			}
			assertSameLanguage(t, source.Regex, original.String(), translated, 200)
			checked++
		}
	}
	if checked < 1000 {
		t.Errorf("only %d translations checked", checked)
	}
}

func assertSameLanguage(t *testing.T, regex, originalExpr, translated string, inputs int) {
	t.Helper()
	original, err := hyperscan.CompileFullMatch(regex)
	if err != nil {
		t.Fatalf("%q: %v", regex, err)
	}
	compiled, err := hyperscan.CompileFullMatch(translated)
	if err != nil {
		t.Errorf("%q: translation %q is not valid RE2: %v", regex, translated, err)
		return
	}
	parsed, _ := hyperscan.ParseRE2(regex)
	h := fnv.New64a()
	fmt.Fprint(h, regex)
	for _, in := range inputgen.New(parsed, h.Sum64()).Inputs(inputs) {
		if original.MatchString(in.Text) != compiled.MatchString(in.Text) {
			t.Errorf("%q and its translation %q disagree on %q (%s)", regex, translated, in.Text, in.Mutation)
			return
		}
	}
}

func FuzzFullMatchExpression(f *testing.F) {
	for _, source := range loadCorpus(f) {
		f.Add(source.Regex)
	}
	f.Fuzz(func(t *testing.T, regex string) {
		original, err := hyperscan.CompileFullMatch(regex)
		if err != nil {
			return
		}
		translated, err := hyperscan.FullMatchExpression(regex, hyperscan.CaseExplicitClasses)
		if err != nil {
			return
		}
		assertSameLanguage(t, regex, original.String(), translated, 50)
	})
}
