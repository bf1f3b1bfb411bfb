package ruleset

import (
	"strings"
	"testing"
)

var densePatterns = []string{"union", "select", "sel", "<script", "onerror", "../", "etc/passwd", "a", "ab", "bab", "\x00nul", "\xffhigh"}

// A DenseMatcher finds what the Matcher finds, on every input, also when its table starts over.
func TestDenseMatcherFindsWhatMatcherFinds(t *testing.T) {
	m := NewMatcher(densePatterns)
	d := NewDenseMatcher(m)
	inputs := []string{"", "x", "UNION SELECT", "UnIoN", "sel", "se", "..//etc/PASSWD", "bab", "xxab",
		"<SCRIPT>", "\x00NUL", "\xffHIGH", "no phrase here", strings.Repeat("ba", 100) + "b", "zzz\x00nul"}
	for round := range 2 {
		for _, in := range inputs {
			wantP, wantOK := m.Find(in)
			gotP, gotOK := d.Find(in)
			if gotP != wantP || gotOK != wantOK {
				t.Fatalf("round %d, %q: dense %q %v, sparse %q %v", round, in, gotP, gotOK, wantP, wantOK)
			}
		}
	}
	if len(d.next) == 0 {
		t.Fatal("no row was built")
	}
}

func TestDenseMatcherTableIsBounded(t *testing.T) {
	var pats []string
	for a := 'a'; a <= 'z'; a++ {
		for b := 'a'; b <= 'z'; b++ {
			pats = append(pats, string([]rune{a, b, a, b, a}))
		}
	}
	m := NewMatcher(pats)
	d := NewDenseMatcher(m)
	d.budget = 50 * int(d.classes) // fewer rows than the input visits
	var in strings.Builder
	for _, p := range pats {
		in.WriteString(p[:4] + "-")
	}
	for range 3 {
		if _, ok := d.Find(in.String()); ok {
			t.Fatal("no pattern occurs in the input")
		}
		if p, ok := d.Find(in.String() + pats[len(pats)-1]); !ok || p != pats[len(pats)-1] {
			t.Fatalf("after the table started over: %q %v", p, ok)
		}
		if len(d.next) > d.budget {
			t.Fatalf("table has %d entries, budget %d", len(d.next), d.budget)
		}
	}
}

func FuzzDenseMatcher(f *testing.F) {
	m := NewMatcher(densePatterns)
	d := NewDenseMatcher(m)
	f.Add("1 UNION SELECT")
	f.Add("<img onerror=x>")
	f.Fuzz(func(t *testing.T, in string) {
		wantP, wantOK := m.Find(in)
		if gotP, gotOK := d.Find(in); gotP != wantP || gotOK != wantOK {
			t.Fatalf("%q: dense %q %v, sparse %q %v", in, gotP, gotOK, wantP, wantOK)
		}
	})
}
