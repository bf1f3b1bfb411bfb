package lazydfa

import (
	"regexp"
	"strings"
	"testing"

	"rsc.io/binaryregexp"
)

func TestMatchesLikeRegexp(t *testing.T) {
	patterns := []string{
		`(?sm)^$`, `(?sm)^.*$`, `(?i)union\s+select`, `\bword\b`, `\Bor\B`, `(?m)^abc$`, `a$`, `^a`, `(?s)a.b`, `a.b`,
		`[^\x00-\x7f]`, `é+`, `(?i)straße`, `(?i)k`, `x*`, `(?:a|b)*c`, `\$\{[^}]*\}`, `(?m)(?:^|;)\s*ls\b`,
		`<script[^>]*>`, `\x{bc}`, `(?i)[\s\x0b]*?\b(?:and|or)\b`,
	}
	inputs := []string{"", "a", "ab", "a\nb", "\n", "b\na", "abc", "x abc\n", "1 UNION  SELECT x", "a word here", "sword",
		"for", "é", "éé", "STRASSE", "straße", "\u212a", "ccc", "${x}", "a;ls -l", "ls", "<script src=x>", "\xbc",
		"¼", "\xff\xfe", "a and b", "aXb", "a\nb\n", "words\nword"}
	for _, p := range patterns {
		re := regexp.MustCompile(p)
		m, err := Compile(p, false)
		if err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 2; round++ { // the second round runs on cached states
			for _, in := range inputs {
				if got, want := m.MatchString(in), re.MatchString(in); got != want {
					t.Errorf("%q on %q: lazy DFA %v, regexp %v", p, in, got, want)
				}
			}
		}
	}
}

func TestCacheIsBounded(t *testing.T) {
	p := `(?:a|b)*a(?:a|b){8}`
	re := regexp.MustCompile(p)
	m, _ := Compile(p, false)
	var b strings.Builder
	for i := 0; i < 4000; i++ {
		b.WriteByte("ab"[(i*7+i/3)%2])
	}
	s := b.String()
	for i := 0; i+40 <= len(s); i += 13 {
		if got, want := m.MatchString(s[i:i+40]), re.MatchString(s[i:i+40]); got != want {
			t.Fatalf("mismatch at %d", i)
		}
		if m.States() > m.maxStates || m.maxStates > MaxStates {
			t.Fatalf("%d states cached, limit %d", m.States(), m.maxStates)
		}
	}
}

func FuzzMatchesLikeRegexp(f *testing.F) {
	f.Add(`(?i)union\s+select`, "1 UnIoN\tSELECT")
	f.Add(`(?m)^\s*$`, "a\n\nb")
	f.Add(`\b(?:ls|cat)\b`, "x;cat /etc")
	f.Add(`[^a-z]{2,}`, "ab12")
	f.Add(`(?s).+\z`, "a\n")
	f.Fuzz(func(t *testing.T, pattern, input string) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		m, err := Compile(pattern, false)
		if err != nil {
			t.Fatalf("regexp compiles %q but lazydfa does not: %v", pattern, err)
		}
		for i := 0; i < 2; i++ {
			if got, want := m.MatchString(input), re.MatchString(input); got != want {
				t.Fatalf("%q on %q: lazy DFA %v, regexp %v", pattern, input, got, want)
			}
		}
	})
}

// Byte patterns (\xHH above 0x7f that are not UTF-8 together) match raw bytes, as
// rsc.io/binaryregexp does.
func TestBinaryProgramsMatchLikeBinaryregexp(t *testing.T) {
	patterns := []string{`\xff+`, `[\x80-\xff]{2}`, `(?i)[a-c]\xe9`, `\xc0\x80`, `^\x00?[\x7f-\xff]$`, `\b\xe9`, `(?s).\xfe`}
	inputs := []string{"", "\xff", "a\xff\xff", "\x80\x81", "B\xe9", "b\xc9", "\xc0\x80", "é", "\x00\x90", "\x7f", "x\xe9", " \xe9", "\n\xfe", "\xc3\xa9"}
	for _, p := range patterns {
		re := binaryregexp.MustCompile(p)
		m, err := Compile(p, true)
		if err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 2; round++ {
			for _, in := range inputs {
				if got, want := m.MatchString(in), re.MatchString(in); got != want {
					t.Errorf("%q on %q: lazy DFA %v, binaryregexp %v", p, in, got, want)
				}
			}
		}
	}
}
