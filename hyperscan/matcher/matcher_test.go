package matcher

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/meshaccel/meshaccel/hyperscan"
	"github.com/meshaccel/meshaccel/hyperscan/regexcompat"
)

var routeTable = []string{
	`/api/v1/users/[0-9]+`,
	`/api/v1/.*`,
	`/api/.*`,
	`(?i)/admin/.*`,
	`/static/.+\.(js|css)`,
	`(?P<lang>en|de)/docs/[^/]+`,
}

// firstFullMatch is Envoy's default engine over a route table: RE2 full match, route by route.
func firstFullMatch(t testing.TB, regexes []string, value string) int {
	t.Helper()
	for i, regex := range regexes {
		re, err := hyperscan.CompileFullMatch(regex)
		if err != nil {
			t.Fatal(err)
		}
		if re.MatchString(value) {
			return i
		}
	}
	return NoMatch
}

func compileTable(t testing.TB, regexes []string) *Database {
	t.Helper()
	db, err := Compile(regexes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func TestMatchReturnsTheFirstRouteThatMatchesTheWholeValue(t *testing.T) {
	db := compileTable(t, routeTable)
	for value, want := range map[string]int{
		"/api/v1/users/42":   0,
		"/api/v1/users/42/x": 1, // the first route must match all of it
		"/api/v1/users/":     1,
		"/api/v2/orders":     2,
		"/ADMIN/panel":       3,
		"/Admin/":            3,
		"/static/app.js":     4,
		"/static/app.json":   NoMatch,
		"de/docs/intro":      5,
		"/api/v1/users/42\n": NoMatch, // `.` and `$`-free anchoring: no newline sneaks in
		"x/api/v2":           NoMatch,
		"":                   NoMatch,
	} {
		got, err := db.Match(value)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Match(%q) = %d, want %d", value, got, want)
		}
		if ref := firstFullMatch(t, routeTable, value); ref != want {
			t.Errorf("the table is wrong: Go's regexp says %q goes to %d", value, ref)
		}
	}
}

func TestMatchAllowsRoutesThatMatchTheEmptyValue(t *testing.T) {
	db := compileTable(t, []string{`/x`, `.*`})
	for value, want := range map[string]int{"": 1, "/x": 0, "anything": 1, "two\nlines": NoMatch} {
		if got, _ := db.Match(value); got != want {
			t.Errorf("Match(%q) = %d, want %d", value, got, want)
		}
	}
}

func TestSerializedDatabaseReloadsWithTheSameAnswers(t *testing.T) {
	db := compileTable(t, routeTable)
	reloaded, err := Load(db.Marshal(), db.Routes())
	if err != nil {
		t.Fatal(err)
	}
	defer reloaded.Close()
	if reloaded.Size() <= 0 || reloaded.Size() != db.Size() {
		t.Errorf("sizes %d and %d", reloaded.Size(), db.Size())
	}
	for _, value := range []string{"/api/v1/users/1", "/api/x", "/admin/", "/nothing", "de/docs/a"} {
		a, _ := db.Match(value)
		b, _ := reloaded.Match(value)
		if a != b {
			t.Errorf("%q: %d before serialization, %d after", value, a, b)
		}
	}
}

func TestLoadRejectsBytesThatAreNotADatabase(t *testing.T) {
	db := compileTable(t, routeTable)
	serialized := db.Marshal()
	for name, data := range map[string][]byte{
		"empty":     nil,
		"garbage":   []byte("not a hyperscan database at all, just text"),
		"truncated": serialized[:len(serialized)/2],
	} {
		if _, err := Load(data, len(routeTable)); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
	var hsErr HyperscanError
	if _, err := Load([]byte("garbage garbage garbage garbage"), 1); !errors.As(err, &hsErr) {
		t.Errorf("error %v does not carry the Hyperscan code", err)
	}
}

func TestCompileNamesTheRouteThatFails(t *testing.T) {
	for _, tc := range []struct {
		table []string
		want  string
	}{
		{[]string{`/ok`, `(?=x)`}, "route 1"},
		{[]string{`/ok`, `/fine`, `[^\x00-\x{10FFFF}]`}, "route 2"},
		{nil, "empty route table"},
	} {
		_, err := Compile(tc.table)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%q) error %v, want one naming %q", tc.table, err, tc.want)
		}
	}
}

func TestScanDoesNotAllocate(t *testing.T) {
	db := compileTable(t, routeTable)
	scanner, err := db.NewScanner()
	if err != nil {
		t.Fatal(err)
	}
	defer scanner.Close()
	value := "/api/v1/users/12345"
	valueBytes := []byte("/static/app.css")
	if allocs := testing.AllocsPerRun(1000, func() {
		if route, _ := scanner.Match(value); route != 0 {
			t.Fatal("wrong route")
		}
		if route, _ := scanner.MatchBytes(valueBytes); route != 4 {
			t.Fatal("wrong route")
		}
	}); allocs != 0 {
		t.Errorf("Scanner.Match allocates %.1f times per call", allocs)
	}
	if allocs := testing.AllocsPerRun(1000, func() { _, _ = db.Match(value) }); allocs != 0 {
		t.Errorf("Database.Match allocates %.1f times per call", allocs)
	}
}

func TestScannersPerGoroutineAgreeWithGoRegexp(t *testing.T) {
	db := compileTable(t, routeTable)
	values := []string{"/api/v1/users/7", "/api/v1/", "/api/zz", "/admin/x", "/static/a.css", "en/docs/x", "/miss", "\xff/api/v1/"}
	want := make([]int, len(values))
	for i, v := range values {
		want[i] = firstFullMatch(t, routeTable, v)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			scanner, err := db.NewScanner()
			if err != nil {
				t.Error(err)
				return
			}
			defer scanner.Close()
			for n := range 2000 {
				i := (n + g) % len(values)
				got, err := scanner.Match(values[i])
				if err != nil || got != want[i] {
					t.Errorf("Match(%q) = %d, %v; want %d", values[i], got, err, want[i])
					return
				}
				// The pooled path runs at the same time on the same database.
				if got, _ := db.Match(values[i]); got != want[i] {
					t.Errorf("pooled Match(%q) = %d; want %d", values[i], got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestClosedScannerFails(t *testing.T) {
	db := compileTable(t, routeTable)
	scanner, err := db.NewScanner()
	if err != nil {
		t.Fatal(err)
	}
	scanner.Close()
	scanner.Close()
	if _, err := scanner.Match("/api/v1/x"); err == nil {
		t.Error("a closed scanner scanned")
	}
}

// fuzzChecker is shared by fuzz iterations; its cache keeps repeated regexes cheap.
var fuzzChecker = regexcompat.NewChecker(regexcompat.WithProbeInputs(300))

// FuzzMatcher compiles a two-route table around the fuzzed regex and compares the matcher with
// Go's regexp. Any disagreement must be one the checker reports as something the translation
// cannot fix (anchoring it always fixes).
func FuzzMatcher(f *testing.F) {
	for _, seed := range []struct{ regex, value string }{
		{`/api/v[0-9]+/users/[^/]+`, "/api/v2/users/me"},
		{`^/api/v1/.*$`, "/api/v1/x\n"},
		{`a\sb`, "a\vb"},
		{`(?i)ꭰ`, "Ꭰ"},
		{`/x/[^/]/y`, "/x/\xff/y"},
		{`.`, "\xc3"},
		{`(?i)straße`, "STRASSE"},
		{`\pL+`, "ᭌ"},
		{`.*`, ""},
		{`[^a-z]{2}`, "\xe0\x80\xaf"},
		{`\bfoo\b`, "foo"},
		{`(?s)a.b`, "a\nb"},
	} {
		f.Add(seed.regex, seed.value)
	}
	f.Fuzz(func(t *testing.T, regex, value string) {
		full, err := hyperscan.CompileFullMatch(regex)
		if err != nil || len(regex) > 200 {
			return
		}
		table := []string{regex, `/fallback/.*`}
		db, err := Compile(table)
		if err != nil {
			if fuzzChecker.CheckRegex(regex).Equivalent {
				t.Fatalf("%q: the checker calls it equivalent but the matcher cannot compile it: %v", regex, err)
			}
			return
		}
		defer db.Close()
		got, err := db.Match(value)
		if err != nil {
			t.Fatal(err)
		}
		want := NoMatch
		switch {
		case full.MatchString(value):
			want = 0
		case strings.HasPrefix(value, "/fallback/") && !strings.Contains(value, "\n"):
			want = 1
		}
		if got == want {
			return
		}
		verdict := fuzzChecker.CheckRegex(regex)
		var unfixable []hyperscan.DifferenceKind
		for _, d := range verdict.Differences {
			if d.Kind != hyperscan.DiffAnchoring && d.Kind != hyperscan.DiffProgramSize {
				unfixable = append(unfixable, d.Kind)
			}
		}
		if len(unfixable) == 0 {
			t.Fatalf("%q on %q: matcher says %d, Go's regexp %d, and the checker saw no such difference (%+v)", regex, value, got, want, verdict.Differences)
		}
		if !utf8.ValidString(value) && !slices.Contains(unfixable, hyperscan.DiffUTF8) {
			t.Fatalf("%q on invalid UTF-8 %q: matcher %d, Go %d, but the checker reports no UTF8 difference (%v)", regex, value, got, want, unfixable)
		}
	})
}

func TestCompileCachedStoresAndReloadsByFingerprint(t *testing.T) {
	dir := t.TempDir()
	first, info, err := CompileCached(dir, routeTable)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if info.FromCache || info.CompileSeconds <= 0 || info.Routes != len(routeTable) {
		t.Errorf("first call: %+v", info)
	}
	second, again, err := CompileCached(dir, routeTable)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if !again.FromCache || again.Fingerprint != info.Fingerprint || again.CompileSeconds != info.CompileSeconds {
		t.Errorf("second call did not reuse the cache: %+v", again)
	}
	if a, _ := first.Match("/admin/x"); a != 3 {
		t.Errorf("first: %d", a)
	}
	if b, _ := second.Match("/admin/x"); b != 3 {
		t.Errorf("cached: %d", b)
	}
	other, err := Fingerprint(append(slices.Clone(routeTable), `/more`))
	if err != nil || other == info.Fingerprint {
		t.Errorf("a different table has the same fingerprint (%v)", err)
	}
	// A corrupt cache entry is rebuilt, not trusted.
	if err := os.WriteFile(filepath.Join(dir, info.Fingerprint+".hsdb"), []byte("corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	rebuilt, third, err := CompileCached(dir, routeTable)
	if err != nil {
		t.Fatal(err)
	}
	defer rebuilt.Close()
	if third.FromCache {
		t.Error("a corrupt database was loaded from the cache")
	}
}
