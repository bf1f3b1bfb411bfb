package hyperscanbench

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshaccel/meshaccel/hyperscan"
	"github.com/meshaccel/meshaccel/hyperscan/matcher"
)

// RuleCounts are the route-table sizes every engine is timed at. The 5,000-rule table takes
// ~16 s to compile for Hyperscan the first time; later runs load it from the cache.
var RuleCounts = []int{10, 100, 1000, 5000}

const requestsPerTable = 4096

// cacheDir holds compiled Hyperscan databases across runs (MESHACCEL_CACHE, else the repo's .cache).
func cacheDir() string {
	if dir := os.Getenv("MESHACCEL_CACHE"); dir != "" {
		return filepath.Join(dir, "hyperscan")
	}
	return filepath.Join("..", "..", ".cache", "hyperscan")
}

// sequential is Envoy's RE2 engine over a route table: one full match per route, in order.
type sequential []*regexp.Regexp

func compileSequential(table []string) (sequential, error) {
	s := make(sequential, len(table))
	for i, regex := range table {
		re, err := hyperscan.CompileFullMatch(regex)
		if err != nil {
			return nil, err
		}
		s[i] = re
	}
	return s, nil
}

func (s sequential) Match(value string) int {
	for i, re := range s {
		if re.MatchString(value) {
			return i
		}
	}
	return matcher.NoMatch
}

// alternation is every route in one regexp, `\A(?:(r0)|(r1)|…)\z`; leftmost-first semantics
// make the first route that matches win, and its group says which one it was.
type alternation struct {
	re          *regexp.Regexp
	groupRoutes []int // submatch group index → route, -1 for groups inside routes
}

func compileAlternation(table []string) (*alternation, error) {
	var b strings.Builder
	b.WriteString(`\A(?:`)
	groupRoutes := []int{-1} // group 0 is the whole match
	for i, regex := range table {
		re, err := regexp.Compile(regex)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteString("|")
		}
		b.WriteString("(" + regex + ")")
		groupRoutes = append(groupRoutes, i)
		for range re.NumSubexp() {
			groupRoutes = append(groupRoutes, -1)
		}
	}
	b.WriteString(`)\z`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, err
	}
	return &alternation{re: re, groupRoutes: groupRoutes}, nil
}

func (a *alternation) Match(value string) int {
	loc := a.re.FindStringSubmatchIndex(value)
	if loc == nil {
		return matcher.NoMatch
	}
	for group := 1; 2*group < len(loc); group++ {
		if loc[2*group] >= 0 && a.groupRoutes[group] >= 0 {
			return a.groupRoutes[group]
		}
	}
	return matcher.NoMatch
}

func cpuTime() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// runRequests times match over requests and reports CPU time per request next to ns/op, then
// the extra metrics (reported after the loop: starting the timer deletes earlier ones).
func runRequests(b *testing.B, requests []string, match func(string) int, extra map[string]float64) {
	b.ReportAllocs()
	startCPU := cpuTime()
	for i := 0; b.Loop(); i++ {
		match(requests[i%len(requests)])
	}
	b.ReportMetric(float64((cpuTime()-startCPU).Nanoseconds())/float64(b.N), "cpu-ns/op")
	for unit, value := range extra {
		b.ReportMetric(value, unit)
	}
}

// BenchmarkRouteTable times one request (first matching route of the table) per op for each
// engine and table size, in one run. Compile time (compile-s) and database size (db-bytes) are
// reported as extra metrics; Hyperscan's compile time is the one measured when its cached
// database was built.
func BenchmarkRouteTable(b *testing.B) {
	for _, rules := range RuleCounts {
		table := RouteTable(rules)
		requests := Requests(table, requestsPerTable, uint64(rules))
		b.Run(fmt.Sprintf("rules=%d/engine=hyperscan", rules), func(b *testing.B) {
			db, info, err := matcher.CompileCached(cacheDir(), table)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			scanner, err := db.NewScanner()
			if err != nil {
				b.Fatal(err)
			}
			defer scanner.Close()
			runRequests(b, requests, func(v string) int { route, _ := scanner.Match(v); return route },
				map[string]float64{"compile-s": info.CompileSeconds, "db-bytes": float64(db.Size())})
		})
		b.Run(fmt.Sprintf("rules=%d/engine=sequential", rules), func(b *testing.B) {
			start := time.Now()
			s, err := compileSequential(table)
			if err != nil {
				b.Fatal(err)
			}
			runRequests(b, requests, s.Match, map[string]float64{"compile-s": time.Since(start).Seconds()})
		})
		b.Run(fmt.Sprintf("rules=%d/engine=alternation", rules), func(b *testing.B) {
			start := time.Now()
			a, err := compileAlternation(table)
			if err != nil {
				b.Fatal(err)
			}
			runRequests(b, requests, a.Match, map[string]float64{"compile-s": time.Since(start).Seconds()})
		})
	}
}
