package regexcompat

import (
	"crypto/sha256"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/meshaccel/meshaccel/hyperscan"
)

func kinds(v hyperscan.RegexVerdict) []hyperscan.DifferenceKind {
	var ks []hyperscan.DifferenceKind
	for _, d := range v.Differences {
		ks = append(ks, d.Kind)
	}
	return ks
}

func TestCheckRegexNamesEachDifference(t *testing.T) {
	checker := NewChecker()
	for _, tc := range []struct {
		regex       string
		equivalent  bool
		want        []hyperscan.DifferenceKind // each must be among the differences
		wantRewrite bool
	}{
		{regex: `\A/api/[^/]+\z`, equivalent: true},
		{regex: `\A/api/v1/.*\z`, equivalent: true},
		{regex: `/api/v[0-9]+/users/[0-9]+`, want: []hyperscan.DifferenceKind{hyperscan.DiffAnchoring}, wantRewrite: true},
		{regex: `^/api/v1/.*$`, want: []hyperscan.DifferenceKind{hyperscan.DiffAnchoring}, wantRewrite: true},
		{regex: `a\sb`, want: []hyperscan.DifferenceKind{hyperscan.DiffWhitespaceVT, hyperscan.DiffAnchoring}, wantRewrite: true},
		{regex: `(?i)ꭰ`, want: []hyperscan.DifferenceKind{hyperscan.DiffCaseless}, wantRewrite: true},
		{regex: `\pL+`, want: []hyperscan.DifferenceKind{hyperscan.DiffUTF8, hyperscan.DiffProgramSize}},
		{regex: `/x/[^/]/y`, want: []hyperscan.DifferenceKind{hyperscan.DiffUTF8}},
		{regex: `.*`, want: []hyperscan.DifferenceKind{hyperscan.DiffEmptyMatch}},
		{regex: `(a|)`, want: []hyperscan.DifferenceKind{hyperscan.DiffEmptyMatch}},
		{regex: `(?U)a+b`, want: []hyperscan.DifferenceKind{hyperscan.DiffUnsupported}, wantRewrite: true},
		{regex: `.*(^|; )beta=1(;.*|$)`, want: []hyperscan.DifferenceKind{hyperscan.DiffUnsupported}},
		{regex: `(a|b`, want: []hyperscan.DifferenceKind{hyperscan.DiffInvalidRE2}},
		{regex: `(?=a)b`, want: []hyperscan.DifferenceKind{hyperscan.DiffInvalidRE2}},
		{regex: `\C`, want: []hyperscan.DifferenceKind{hyperscan.DiffUnsupported}},
		{regex: `/asdf/.*/asdf/.*/asdf/.*/asdf/.*/asdf/.*/asdf/.*/asdf/.*/asdf/.*`, want: []hyperscan.DifferenceKind{hyperscan.DiffProgramSize}},
	} {
		v := checker.CheckRegex(tc.regex)
		if v.Regex != tc.regex || v.Equivalent != tc.equivalent {
			t.Errorf("%q: equivalent = %v, want %v (differences %+v)", tc.regex, v.Equivalent, tc.equivalent, v.Differences)
		}
		if v.Equivalent != (len(v.Differences) == 0) {
			t.Errorf("%q: equivalent = %v with %d differences", tc.regex, v.Equivalent, len(v.Differences))
		}
		for _, kind := range tc.want {
			if !slices.Contains(kinds(v), kind) {
				t.Errorf("%q: differences %v lack %s", tc.regex, kinds(v), kind)
			}
		}
		if (v.Rewrite != "") != tc.wantRewrite {
			t.Errorf("%q: rewrite %q, want one: %v", tc.regex, v.Rewrite, tc.wantRewrite)
		}
		if v.Rewrite != "" {
			if rv := checker.CheckRegex(v.Rewrite); !rv.Equivalent {
				t.Errorf("%q: rewrite %q is not equivalent itself: %+v", tc.regex, v.Rewrite, rv.Differences)
			}
		}
	}
}

func TestCheckRegexRewriteFixesTheDifferencesItNames(t *testing.T) {
	checker := NewChecker()
	for regex, want := range map[string]string{
		`^/api/v1/.*$`: `\A(?:^/api/v1/.*$)\z`,
		`a\sb`:         `\A(?:a[\t\n\f\r ]b)\z`,
		`(?i)ꭰ`:        `\A(?:[Ꭰꭰ])\z`,
		`(?U)a+b`:      `\A(?:a+?b)\z`,
	} {
		if got := checker.CheckRegex(regex).Rewrite; got != want {
			t.Errorf("%q: rewrite %q, want %q", regex, got, want)
		}
	}
}

// TestCheckRegexExamplesReproduce re-runs both engines on every example a verdict gives: an
// example that does not show the difference would mislead whoever reads the report.
func TestCheckRegexExamplesReproduce(t *testing.T) {
	checker := NewChecker()
	for _, regex := range []string{`^/api/v1/.*$`, `a\sb`, `(?i)ꭰ`, `\pL+`, `/x/[^/]/y`, `[a-z]+\S`, `/api/.*`} {
		v := checker.CheckRegex(regex)
		full, err := hyperscan.CompileFullMatch(regex)
		if err != nil {
			t.Fatal(err)
		}
		engine, err := compileEnvoyHyperscan(regex)
		if err != nil {
			t.Fatalf("%q: %v", regex, err)
		}
		examples := 0
		for _, d := range v.Differences {
			if d.Example == "" && d.Kind != hyperscan.DiffProgramSize {
				t.Errorf("%q: %s difference without an example", regex, d.Kind)
			}
			if d.Example == "" {
				continue
			}
			examples++
			got, err := engine.Match(d.Example)
			if err != nil {
				t.Fatal(err)
			}
			if got == full.MatchString(d.Example) {
				t.Errorf("%q: example %q of %s does not show a difference", regex, d.Example, d.Kind)
			}
			if !strings.Contains(d.Detail, "Hyperscan") {
				t.Errorf("%q: detail %q does not say what Hyperscan does", regex, d.Detail)
			}
		}
		engine.Close()
		if examples == 0 {
			t.Errorf("%q: no examples in %+v", regex, v.Differences)
		}
	}
}

func TestCheckerIsConcurrentAndComputesEachRegexOnce(t *testing.T) {
	checker := NewChecker(WithProbeInputs(200))
	regexes := []string{`/a/[0-9]+`, `\A/b\z`, `a\sb`, `.*`, `(a|b`}
	first := make([]hyperscan.RegexVerdict, len(regexes))
	for i, regex := range regexes {
		first[i] = checker.CheckRegex(regex)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i, regex := range regexes {
				if got := checker.CheckRegex(regex); !reflect.DeepEqual(got, first[i]) {
					t.Errorf("%q: concurrent verdict differs", regex)
				}
			}
		})
	}
	wg.Wait()
	if n := checker.cache.Len(); n != len(regexes) {
		t.Errorf("cache holds %d verdicts, want %d", n, len(regexes))
	}
	// Callers own the verdicts they get: changing one must not change the cache.
	v := checker.CheckRegex(`a\sb`)
	v.Differences[0].Kind = "tampered"
	if again := checker.CheckRegex(`a\sb`); again.Differences[0].Kind == "tampered" {
		t.Error("a caller's change to a verdict leaked into the cache")
	}
}

// The cache is bounded: with room for two verdicts, a third regex evicts the least recently used
// one, and a verdict computed again after eviction is the same.
func TestCheckerCacheIsBounded(t *testing.T) {
	checker := NewChecker(WithProbeInputs(50), WithCacheSize(2))
	a, b, c := `\A/a\z`, `/b`, `(c`
	first := checker.CheckRegex(a)
	checker.CheckRegex(b)
	checker.CheckRegex(a) // a is now the most recently used
	checker.CheckRegex(c) // evicts b
	if n := checker.cache.Len(); n != 2 {
		t.Fatalf("cache holds %d verdicts, want 2", n)
	}
	if _, ok := checker.cache.Get(sha256.Sum256([]byte(b))); ok {
		t.Error("the least recently used verdict was kept")
	}
	if _, ok := checker.cache.Get(sha256.Sum256([]byte(a))); !ok {
		t.Error("the most recently used verdict was evicted")
	}
	checker.CheckRegex(b) // evicts c
	checker.CheckRegex(c) // evicts a
	if _, ok := checker.cache.Get(sha256.Sum256([]byte(a))); ok {
		t.Fatal("a should have been evicted")
	}
	if again := checker.CheckRegex(a); !reflect.DeepEqual(again, first) {
		t.Errorf("verdict after eviction and recomputation differs: %+v vs %+v", again, first)
	}
}

func TestCheckRegexesKeepsOrder(t *testing.T) {
	checker := NewChecker(WithProbeInputs(100))
	regexes := []string{`/a`, `(x`, `\A/b\z`, `.*`}
	for i, v := range checker.CheckRegexes(regexes) {
		if v.Regex != regexes[i] {
			t.Errorf("verdict %d is for %q, want %q", i, v.Regex, regexes[i])
		}
	}
}

func TestWithMaxProgramSize(t *testing.T) {
	strict := NewChecker(WithMaxProgramSize(5), WithProbeInputs(50))
	if v := strict.CheckRegex(`\A/api/[0-9]+\z`); !slices.Contains(kinds(v), hyperscan.DiffProgramSize) {
		t.Errorf("a limit of 5 should reject %q: %+v", v.Regex, v.Differences)
	}
}
