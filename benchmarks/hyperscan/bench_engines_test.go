package hyperscanbench

import (
	"testing"

	"github.com/meshaccel/meshaccel/hyperscan/matcher"
)

// TestEnginesRouteAlike guards the benchmark: the three engines it times must route every
// request the same way, or the comparison means nothing. The 5,000-rule table stays out of
// tests (compile time); the benchmarks cover it.
func TestEnginesRouteAlike(t *testing.T) {
	for _, rules := range []int{10, 100} {
		table := RouteTable(rules)
		requests := Requests(table, 2000, uint64(rules))
		db, err := matcher.Compile(table)
		if err != nil {
			t.Fatal(err)
		}
		s, err := compileSequential(table)
		if err != nil {
			t.Fatal(err)
		}
		a, err := compileAlternation(table)
		if err != nil {
			t.Fatal(err)
		}
		routed := 0
		for _, v := range requests {
			want := s.Match(v)
			got, err := db.Match(v)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%d rules, %q: Hyperscan routes to %d, sequential to %d", rules, v, got, want)
			}
			if alt := a.Match(v); alt != want {
				t.Errorf("%d rules, %q: alternation routes to %d, sequential to %d", rules, v, alt, want)
			}
			if want != matcher.NoMatch {
				routed++
			}
		}
		db.Close()
		// Nine in ten requests are built to match a route; most must.
		if routed < len(requests)*8/10 {
			t.Errorf("%d rules: only %d of %d requests routed", rules, routed, len(requests))
		}
	}
}

func TestRouteTableIsDistinctAndDeterministic(t *testing.T) {
	a, b := RouteTable(1000), RouteTable(1000)
	seen := map[string]bool{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("route %d differs between calls", i)
		}
		if seen[a[i]] {
			t.Fatalf("route %q repeats", a[i])
		}
		seen[a[i]] = true
	}
}
