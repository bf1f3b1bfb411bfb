package regexcompat

import (
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/meshaccel/meshaccel/hyperscan"
	"github.com/meshaccel/meshaccel/hyperscan/inputgen"
	"github.com/meshaccel/meshaccel/hyperscan/matcher"
	"github.com/meshaccel/meshaccel/hyperscan/regexsource"
)

const (
	// inputsPerRegex times the corpus size (> 1,000) gives well over 10,000 inputs per run.
	inputsPerRegex     = 24
	minimumInputs      = 10_000
	tableSampleInputs  = 4_000
	defaultDiffSeed    = 20260601
	diffSeedEnv        = "HYPERSCAN_DIFF_SEED"
	corpusMinimumSize  = 500
	corpusGlobFromHere = "../testdata/corpus/*.txt"
)

var (
	corpusOnce     sync.Once
	corpusRegexes  []regexsource.Regex
	corpusVerdicts []hyperscan.RegexVerdict
)

// corpus checks the corpus once per test binary: every test that needs verdicts shares them.
func corpus(t *testing.T) ([]regexsource.Regex, []hyperscan.RegexVerdict) {
	t.Helper()
	corpusOnce.Do(func() {
		files, _ := filepath.Glob(corpusGlobFromHere)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			found, err := regexsource.Parse(filepath.Base(file), data)
			if err != nil {
				t.Fatal(err)
			}
			corpusRegexes = append(corpusRegexes, found...)
		}
		regexes := make([]string, len(corpusRegexes))
		for i, r := range corpusRegexes {
			regexes[i] = r.Regex
		}
		corpusVerdicts = NewChecker().CheckRegexes(regexes)
	})
	if len(corpusRegexes) < corpusMinimumSize {
		t.Fatalf("corpus has %d regexes, want at least %d", len(corpusRegexes), corpusMinimumSize)
	}
	return corpusRegexes, corpusVerdicts
}

// diffSeed is fixed so a failure reproduces; set HYPERSCAN_DIFF_SEED to explore other inputs.
func diffSeed(t *testing.T) uint64 {
	seed := uint64(defaultDiffSeed)
	if s := os.Getenv(diffSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", diffSeedEnv, s, err)
		}
		seed = v
	}
	t.Logf("input seed %d (%s)", seed, diffSeedEnv)
	return seed
}

func regexSeed(seed uint64, regex string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(regex))
	return seed ^ h.Sum64()
}

// TestDifferentialCheckerAgainstEngines holds the checker to its verdicts on inputs it never
// probed with (another seed): where it says "equivalent", Envoy's Hyperscan engine agrees with
// RE2 full match; where it offers a rewrite, the rewrite does; where the matcher (which applies
// the translation) disagrees with Go's regexp, the checker reported a difference the
// translation cannot fix, and a UTF8 one when the input is invalid UTF-8.
func TestDifferentialCheckerAgainstEngines(t *testing.T) {
	sources, verdicts := corpus(t)
	seed := diffSeed(t)
	compared := 0
	equivalent := 0
	for i, source := range sources {
		verdict := verdicts[i]
		full, err := hyperscan.CompileFullMatch(source.Regex)
		if err != nil {
			if verdict.Equivalent {
				t.Errorf("%s %q: Go cannot compile it, yet the checker calls it equivalent", source.Location(), source.Regex)
			}
			continue
		}
		parsed, _ := hyperscan.ParseRE2(source.Regex)
		inputs := inputgen.New(parsed, regexSeed(seed, source.Regex)).Inputs(inputsPerRegex)
		compared += len(inputs)
		if verdict.Equivalent {
			equivalent++
			assertEngineAgrees(t, source, source.Regex, full, inputs)
		}
		if verdict.Rewrite != "" {
			assertEngineAgrees(t, source, verdict.Rewrite, full, inputs)
		}
		assertMatcherDisagreementsReported(t, source, verdict, full, inputs)
	}
	if compared < minimumInputs {
		t.Errorf("compared %d inputs, want at least %d", compared, minimumInputs)
	}
	if equivalent == 0 {
		t.Error("no corpus regex is equivalent: the equivalence side went untested")
	}
	t.Logf("%d regexes, %d equivalent, %d inputs", len(sources), equivalent, compared)
}

type fullMatcher interface{ MatchString(string) bool }

func assertEngineAgrees(t *testing.T, source regexsource.Regex, expr string, full fullMatcher, inputs []inputgen.Input) {
	t.Helper()
	engine, err := compileEnvoyHyperscan(expr)
	if err != nil {
		t.Errorf("%s %q: Envoy's engine cannot compile %q: %v", source.Location(), source.Regex, expr, err)
		return
	}
	defer engine.Close()
	for _, in := range inputs {
		got, err := engine.Match(in.Text)
		if err != nil {
			t.Fatal(err)
		}
		if want := full.MatchString(in.Text); got != want {
			t.Errorf("%s %q: checker vouched for %q, but on %q (%s) Hyperscan says %v and RE2 full match %v",
				source.Location(), source.Regex, expr, in.Text, in.Mutation, got, want)
			return
		}
	}
}

func assertMatcherDisagreementsReported(t *testing.T, source regexsource.Regex, verdict hyperscan.RegexVerdict, full fullMatcher, inputs []inputgen.Input) {
	t.Helper()
	db, err := matcher.Compile([]string{source.Regex})
	if err != nil {
		if verdict.Equivalent {
			t.Errorf("%s %q: equivalent, yet the matcher cannot compile it: %v", source.Location(), source.Regex, err)
		}
		return
	}
	defer db.Close()
	var unfixable []hyperscan.DifferenceKind
	for _, d := range verdict.Differences {
		if d.Kind != hyperscan.DiffAnchoring && d.Kind != hyperscan.DiffProgramSize {
			unfixable = append(unfixable, d.Kind)
		}
	}
	for _, in := range inputs {
		route, err := db.Match(in.Text)
		if err != nil {
			t.Fatal(err)
		}
		if (route == 0) == full.MatchString(in.Text) {
			continue
		}
		switch {
		case len(unfixable) == 0:
			t.Errorf("%s %q: matcher and Go's regexp disagree on %q (%s), the checker reported only %+v",
				source.Location(), source.Regex, in.Text, in.Mutation, verdict.Differences)
		case !utf8.ValidString(in.Text) && !slices.Contains(unfixable, hyperscan.DiffUTF8):
			t.Errorf("%s %q: matcher and Go's regexp disagree on invalid UTF-8 %q, the checker reported %v but no UTF8 difference",
				source.Location(), source.Regex, in.Text, unfixable)
		default:
			continue
		}
		return
	}
}

// TestDifferentialRouteTable compiles every corpus regex the translation serves exactly into
// one table and checks Envoy's first-match routing against Go's regexp route by route.
func TestDifferentialRouteTable(t *testing.T) {
	sources, verdicts := corpus(t)
	seed := diffSeed(t)
	var table []string
	var compiled []fullMatcher
	var inputs []string
	for i, source := range sources {
		exact := true
		for _, d := range verdicts[i].Differences {
			exact = exact && (d.Kind == hyperscan.DiffAnchoring || d.Kind == hyperscan.DiffProgramSize)
		}
		if !exact {
			continue
		}
		full, err := hyperscan.CompileFullMatch(source.Regex)
		if err != nil {
			continue
		}
		table = append(table, source.Regex)
		compiled = append(compiled, full)
		parsed, _ := hyperscan.ParseRE2(source.Regex)
		for _, in := range inputgen.New(parsed, regexSeed(seed+1, source.Regex)).Inputs(8) {
			inputs = append(inputs, in.Text)
		}
	}
	db, err := matcher.Compile(table)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(seed, 1))
	rng.Shuffle(len(inputs), func(i, j int) { inputs[i], inputs[j] = inputs[j], inputs[i] })
	inputs = inputs[:min(len(inputs), tableSampleInputs)]
	scanner, err := db.NewScanner()
	if err != nil {
		t.Fatal(err)
	}
	defer scanner.Close()
	for _, value := range inputs {
		want := matcher.NoMatch
		for i, re := range compiled {
			if re.MatchString(value) {
				want = i
				break
			}
		}
		got, err := scanner.Match(value)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%q: Hyperscan routes to %d (%q), Go's regexp to %d", value, got, at(table, got), want)
		}
	}
	t.Logf("%d routes, %d inputs", len(table), len(inputs))
}

func at(table []string, i int) string {
	if i < 0 {
		return ""
	}
	return table[i]
}

// FuzzCheckRegex holds any regex to the checker's promises: a verdict that says equivalent, or
// a rewrite it offers, agrees with RE2 full match on the fuzzed input, and the rewrite keeps
// the RE2 meaning.
func FuzzCheckRegex(f *testing.F) {
	files, _ := filepath.Glob(corpusGlobFromHere)
	for _, file := range files {
		if filepath.Base(file) != "adversarial.txt" {
			continue
		}
		data, _ := os.ReadFile(file)
		found, _ := regexsource.Parse(file, data)
		for _, r := range found {
			f.Add(r.Regex, "/api/v1/x\n")
		}
	}
	f.Add(`/api/[^/]+`, "/api/\xff")
	checker := NewChecker(WithProbeInputs(300))
	f.Fuzz(func(t *testing.T, regex, value string) {
		if len(regex) > 200 {
			return
		}
		verdict := checker.CheckRegex(regex)
		if verdict.Equivalent != (len(verdict.Differences) == 0) {
			t.Fatalf("%q: equivalent=%v with differences %+v", regex, verdict.Equivalent, verdict.Differences)
		}
		full, err := hyperscan.CompileFullMatch(regex)
		if err != nil {
			return
		}
		for _, expr := range []string{regex, verdict.Rewrite} {
			if expr == "" || (expr == regex && !verdict.Equivalent) {
				continue
			}
			if expr == verdict.Rewrite {
				rewritten, err := hyperscan.CompileFullMatch(expr)
				if err != nil || rewritten.MatchString(value) != full.MatchString(value) {
					t.Fatalf("%q: rewrite %q changes the RE2 meaning on %q (%v)", regex, expr, value, err)
				}
			}
			engine, err := compileEnvoyHyperscan(expr)
			if err != nil {
				t.Fatalf("%q: vouched-for %q does not compile: %v", regex, expr, err)
			}
			got, err := engine.Match(value)
			engine.Close()
			if err != nil {
				t.Fatal(err)
			}
			if want := full.MatchString(value); got != want {
				t.Fatalf("%q: vouched-for %q says %v on %q, RE2 full match %v", regex, expr, got, value, want)
			}
		}
	})
}
