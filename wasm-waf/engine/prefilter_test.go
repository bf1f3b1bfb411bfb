package engine_test

import (
	"testing"

	"github.com/meshaccel/meshaccel/wasm-waf/crs"
	"github.com/meshaccel/meshaccel/wasm-waf/engine"
)

// TestBenignRequestsSkipMostRegexes guards the prefilters: on ordinary browser requests almost
// every CRS regex must be rejected by its length, byte-set or literal prefilter.
func TestBenignRequestsSkipMostRegexes(t *testing.T) {
	rs, err := crs.Compile(crs.Options{ParanoiaLevel: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(rs)
	runs := 0
	engine.SetRegexRunHook(func(int32, int32, string) { runs++ })
	defer engine.SetRegexRunHook(nil)
	h := [][2]string{
		{"Host", "shop.example.com"},
		{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"},
		{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		{"Accept-Language", "en-US,en;q=0.9"},
		{"Accept-Encoding", "gzip, deflate, br"},
		{"Cookie", "session=3f2a9c1e7b6d4a5f8e0c; theme=dark"},
	}
	tx := e.NewTransaction()
	tx.ProcessRequestHeaders("GET", "/catalog/search?q=running+shoes&page=2&sort=price", "HTTP/1.1", h)
	tx.ProcessRequestBody(nil, "")
	tx.Close()
	// The CRS applies its ~300 regexes to every argument, cookie and header; prefilters leave ~30 runs.
	if runs > 45 {
		t.Errorf("%d regexes ran past their prefilters on a benign request", runs)
	}
	t.Logf("%d regexes ran", runs)
}
