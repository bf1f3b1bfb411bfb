package bench

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/meshaccel/meshaccel/wasm-waf/crs"
	"github.com/meshaccel/meshaccel/wasm-waf/engine"
	"github.com/meshaccel/meshaccel/wasm-waf/ruleset"
)

// The same SecLang text (CRS v4 at paranoia level 1, blocking) configures both engines.
func crsText(b testing.TB) string {
	text, err := crs.Main(crs.Options{ParanoiaLevel: 1})
	if err != nil {
		b.Fatal(err)
	}
	return text
}

func newCoraza(b testing.TB) coraza.WAF {
	waf, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(crsText(b)))
	if err != nil {
		b.Fatal(err)
	}
	return waf
}

func newEngine(b testing.TB) *engine.Engine {
	rs, err := crs.Compile(crs.Options{ParanoiaLevel: 1})
	if err != nil {
		b.Fatal(err)
	}
	return engine.New(rs)
}

type request struct {
	name    string
	method  string
	uri     string
	headers [][2]string
	body    string
	// blocked is the decision both engines must reach.
	blocked bool
	// fresh: each request carries a request id and a query value not seen before, as traffic
	// through Envoy does (x-request-id); what an engine remembers of earlier values does not help.
	fresh bool
}

var browserHeaders = [][2]string{
	{"Host", "shop.example.com"},
	{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"},
	{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
	{"Accept-Language", "en-US,en;q=0.9"},
	{"Accept-Encoding", "gzip, deflate, br"},
	{"Cookie", "session=3f2a9c1e7b6d4a5f8e0c; theme=dark"},
}

func withHeaders(extra ...[2]string) [][2]string {
	return append(append([][2]string{}, browserHeaders...), extra...)
}

var requests = []request{
	{name: "benign-get", method: "GET", uri: "/catalog/search?q=running+shoes&page=2&sort=price", headers: browserHeaders},
	{name: "form-post", method: "POST", uri: "/account/profile", headers: withHeaders(
		[2]string{"Content-Type", "application/x-www-form-urlencoded"}, [2]string{"Content-Length", "96"}),
		body: "name=Jane+Doe&email=jane.doe%40example.com&city=Berlin&zip=10115&newsletter=on&about=Hiking+and+tea"},
	{name: "benign-get-fresh", method: "GET", uri: "/catalog/search?q=running+shoes&page=2&sort=price", headers: browserHeaders, fresh: true},
	{name: "attack", method: "GET", uri: "/catalog/item?id=1%27%20UNION%20SELECT%20username,password%20FROM%20users--%20-", headers: browserHeaders, blocked: true},
}

// variants returns the requests to send for r: itself, or freshVariants requests that differ from
// it and from each other in a request id and a query value (built before timing).
func variants(r *request) []request {
	if !r.fresh {
		return []request{*r}
	}
	out := make([]request, freshVariants)
	for i := range out {
		v := *r
		v.uri = fmt.Sprintf("%s&visit=%d", r.uri, 7919*i+1)
		v.headers = withHeaders([2]string{"X-Request-Id", fmt.Sprintf("%08x-4f1c-4b6e-9d2a-%012x", uint32(i*2654435761), i)})
		out[i] = v
	}
	return out
}

// freshVariants is more than either engine keeps of earlier values.
const freshVariants = 4096

func runEngine(e *engine.Engine, r *request) bool {
	tx := e.NewTransaction()
	it := tx.ProcessRequestHeaders(r.method, r.uri, "HTTP/1.1", r.headers)
	if it == nil {
		it = tx.ProcessRequestBody([]byte(r.body), "")
	}
	tx.Close()
	return it != nil
}

func runCoraza(waf coraza.WAF, r *request) bool {
	tx := waf.NewTransaction()
	defer tx.Close()
	tx.ProcessConnection("10.0.0.1", 51234, "10.0.0.2", 8080)
	tx.ProcessURI(r.uri, r.method, "HTTP/1.1")
	for _, h := range r.headers {
		tx.AddRequestHeader(h[0], h[1])
	}
	var it *types.Interruption
	if it = tx.ProcessRequestHeaders(); it == nil {
		if r.body != "" {
			if it, _, _ = tx.WriteRequestBody([]byte(r.body)); it != nil {
				return true
			}
		}
		it, _ = tx.ProcessRequestBody()
	}
	return it != nil
}

// BenchmarkLoad measures ruleset load time: Coraza parses and compiles the CRS on every load (its
// regexes are memoized for the process after the first load, see TestColdLoad); the engine either
// compiles the same text (on the host) or loads the compiled artifact (what the plugin does).
func BenchmarkLoad(b *testing.B) {
	b.Run("coraza", func(b *testing.B) {
		start := cpuTime()
		for i := 0; i < b.N; i++ {
			newCoraza(b)
		}
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	})
	b.Run("meshaccel-compile", func(b *testing.B) {
		start := cpuTime()
		for i := 0; i < b.N; i++ {
			newEngine(b)
		}
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	})
	rs, err := crs.Compile(crs.Options{ParanoiaLevel: 1})
	if err != nil {
		b.Fatal(err)
	}
	artifact, err := rs.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("meshaccel-artifact", func(b *testing.B) {
		b.ReportMetric(float64(len(artifact)), "artifact-bytes")
		start := cpuTime()
		for i := 0; i < b.N; i++ {
			rs, err := ruleset.Load(artifact)
			if err != nil {
				b.Fatal(err)
			}
			engine.New(rs)
		}
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	})
}

// BenchmarkRequest measures the request phases (headers and body) per request. Both engines see
// each request once before timing (lazy regex compilation, pools).
func BenchmarkRequest(b *testing.B) {
	waf := newCoraza(b)
	e := newEngine(b)
	for i := range requests {
		r := &requests[i]
		if got := runCoraza(waf, r); got != r.blocked {
			b.Fatalf("%s: coraza blocked=%v, want %v", r.name, got, r.blocked)
		}
		if got := runEngine(e, r); got != r.blocked {
			b.Fatalf("%s: engine blocked=%v, want %v", r.name, got, r.blocked)
		}
		sent := variants(r)
		b.Run(r.name+"/coraza", func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime()
			for i := 0; i < b.N; i++ {
				runCoraza(waf, &sent[i%len(sent)])
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		})
		b.Run(r.name+"/meshaccel", func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime()
			for i := 0; i < b.N; i++ {
				runEngine(e, &sent[i%len(sent)])
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process CPU time: on a shared machine it is steadier than wall time, and it
// charges each engine for its own garbage collection.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
