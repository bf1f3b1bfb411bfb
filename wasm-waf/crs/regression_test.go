package crs_test

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	crstests "github.com/corazawaf/coraza-coreruleset/v4/tests"
	"github.com/coreruleset/go-ftw/v2/config"
	"github.com/coreruleset/go-ftw/v2/output"
	"github.com/coreruleset/go-ftw/v2/runner"
	"github.com/coreruleset/go-ftw/v2/test"
	"github.com/rs/zerolog"

	"github.com/meshaccel/meshaccel/wasm-waf/crs"
	"github.com/meshaccel/meshaccel/wasm-waf/engine"
	"github.com/meshaccel/meshaccel/wasm-waf/internal/wafhttp"
)

var crsReport = flag.String("crs-report", "", "write the per-test results of the CRS regression run to this file")

// TestCRSRegression runs the OWASP CRS v4 request-phase regression tests with go-ftw against a
// loopback HTTP server that evaluates every request with the engine, as the CRS project runs
// them against a web server. Tests that fail must be listed in skips.yaml with a reason; listed
// tests that pass are reported so the list stays honest.
func TestCRSRegression(t *testing.T) {
	if testing.Short() {
		t.Skip("CRS regression run skipped in -short mode")
	}
	rs, err := crs.Compile(crs.Options{Setup: crs.TestingSetup})
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(rs)

	logPath := filepath.Join(t.TempDir(), "waf.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	var logMu sync.Mutex
	logw := bufio.NewWriter(logFile)
	logger := func(r *http.Request, ms []engine.Match) {
		logMu.Lock()
		defer logMu.Unlock()
		for _, m := range ms {
			fmt.Fprintf(logw, "[id %q] [msg %q] [data %q] [uri %q]\n", strconv.Itoa(m.RuleID), m.Msg, m.Data, r.RequestURI)
		}
		logw.Flush()
	}
	// The engine is single-threaded like a proxy-wasm VM: serialize requests.
	var engineMu sync.Mutex
	waf := wafhttp.Wrap(e, http.HandlerFunc(backend), logger)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		engineMu.Lock()
		defer engineMu.Unlock()
		waf.ServeHTTP(w, r)
	}))
	defer srv.Close()

	files, err := crs.RequestTestFiles(crstests.FS)
	if err != nil {
		t.Fatal(err)
	}
	var tests []*test.FTWTest
	for _, f := range files {
		data, err := crstests.FS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ft, err := test.GetTestFromYaml(data, f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		tests = append(tests, ft)
	}

	zerolog.SetGlobalLevel(zerolog.Disabled)
	u, _ := url.Parse(srv.URL)
	host := u.Hostname()
	port, _ := strconv.Atoi(u.Port())
	cfg := config.NewDefaultConfig()
	cfg.LogFile = logPath
	rc := config.NewRunnerConfiguration(cfg)
	rc.TestOverride.Overrides.DestAddr = &host
	rc.TestOverride.Overrides.Port = &port
	rc.ShowOnlyFailed = os.Getenv("CRS_VERBOSE") == ""
	// A few tests send 64 KiB arguments through hundreds of regexes; go-ftw's 1 s default is
	// too tight on a loaded 2-core machine.
	rc.ReadTimeout = 20 * time.Second
	if inc := os.Getenv("CRS_INCLUDE"); inc != "" {
		rc.Include = regexp.MustCompile(inc)
	}
	res, err := runner.Run(rc, tests, output.NewOutput("normal", ftwOut()))
	if err != nil {
		t.Fatal(err)
	}

	skipData, err := os.ReadFile("skips.yaml")
	if err != nil {
		t.Fatal(err)
	}
	skips, err := crs.LoadSkips(skipData)
	if err != nil {
		t.Fatal(err)
	}
	st := res.Stats
	total := len(st.Success) + len(st.Failed)
	var unexplained, stale []string
	for _, id := range st.Failed {
		if skips.Reason(id) == "" {
			unexplained = append(unexplained, id)
		}
	}
	for _, id := range st.Success {
		if skips.Reason(id) != "" {
			stale = append(stale, id)
		}
	}
	sort.Strings(unexplained)
	sort.Strings(stale)
	rate := 100 * float64(len(st.Success)) / float64(total)
	t.Logf("CRS v4 request-phase regression tests: %d run, %d passed, %d failed (all listed in skips.yaml: %v), pass rate %.2f%%",
		total, len(st.Success), len(st.Failed), len(unexplained) == 0, rate)
	if *crsReport != "" {
		var b strings.Builder
		fmt.Fprintf(&b, "run %d passed %d failed %d rate %.2f%%\n", total, len(st.Success), len(st.Failed), rate)
		failed := append([]string(nil), st.Failed...)
		sort.Strings(failed)
		for _, id := range failed {
			fmt.Fprintf(&b, "FAIL %s\t%s\n", id, skips.Reason(id))
		}
		if err := os.WriteFile(*crsReport, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	if len(unexplained) > 0 {
		t.Errorf("%d failing tests are not in skips.yaml: %s", len(unexplained), strings.Join(unexplained, " "))
	}
	if len(stale) > 0 {
		t.Errorf("%d tests in skips.yaml pass now; remove them: %s", len(stale), strings.Join(stale, " "))
	}
	if rate < 95 {
		t.Errorf("pass rate %.2f%% is below 95%%", rate)
	}
}

// backend stands in for the application behind the WAF (httpbin in the CRS setup).
func backend(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "Hello!")
}

func ftwOut() io.Writer {
	if os.Getenv("CRS_VERBOSE") != "" {
		return os.Stderr
	}
	return io.Discard
}
