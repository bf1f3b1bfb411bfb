package crsftw

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	crstests "github.com/corazawaf/coraza-coreruleset/v4/tests"
	"github.com/coreruleset/go-ftw/v2/config"
	"github.com/coreruleset/go-ftw/v2/output"
	"github.com/coreruleset/go-ftw/v2/runner"
	"github.com/coreruleset/go-ftw/v2/test"
	"github.com/rs/zerolog"
)

// Options select and tune a regression run.
type Options struct {
	// Tests holds the CRS test YAML (default: the CRS v4 tests embedded by
	// coraza-coreruleset).
	Tests fs.FS
	// Dirs are the test directories to run (default: every REQUEST-*
	// directory, the request-phase tests).
	Dirs []string
	// Include, when set, runs only the test ids ("942100-3") it matches.
	Include *regexp.Regexp
	// Skip maps test id patterns to the reason they cannot pass here.
	Skip map[string]string
	// LogPath is where the plugin's log lines go (default: a temporary file).
	LogPath string
	// Progress receives go-ftw's per-test output (nil: discarded).
	Progress io.Writer
}

// Result summarizes a run.
type Result struct {
	Passed, Failed, Skipped int
	FailedIDs               []string
	Duration                time.Duration
}

// Run is Passed + Failed: the tests that ran.
func (r *Result) Run() int { return r.Passed + r.Failed }

// PassRate is Passed / Run.
func (r *Result) PassRate() float64 {
	if r.Run() == 0 {
		return 0
	}
	return float64(r.Passed) / float64(r.Run())
}

// Run serves handler on loopback and runs the selected CRS tests against it.
// handler writes its log to logPath (see PluginServer); newHandler receives
// the log file to write to.
func Run(opts Options, newHandler func(log io.Writer) http.Handler) (*Result, error) {
	tests, err := loadTests(opts)
	if err != nil {
		return nil, err
	}
	logPath := opts.LogPath
	if logPath == "" {
		dir, err := os.MkdirTemp("", "crsftw")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		logPath = filepath.Join(dir, "waf.log")
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: newHandler(logFile), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	cfg := config.NewDefaultConfig()
	cfg.LogFile = logPath
	addr := "127.0.0.1"
	port := ln.Addr().(*net.TCPAddr).Port
	cfg.TestOverride.Overrides.DestAddr = &addr
	cfg.TestOverride.Overrides.Port = &port
	cfg.TestOverride.Ignore = map[*config.FTWRegexp]string{}
	for pattern, reason := range opts.Skip {
		re, err := config.NewFTWRegexp(pattern)
		if err != nil {
			return nil, fmt.Errorf("skip pattern %q: %w", pattern, err)
		}
		cfg.TestOverride.Ignore[re] = reason
	}
	rc := config.NewRunnerConfiguration(cfg)
	rc.Include = opts.Include
	rc.ReadTimeout = 20 * time.Second // a slow interpreted request must not abort the run

	zerolog.SetGlobalLevel(zerolog.ErrorLevel)
	start := time.Now()
	format, progress := "quiet", io.Discard
	if opts.Progress != nil {
		format, progress = "plain", opts.Progress
	}
	run, err := runner.Run(rc, tests, output.NewOutput(format, progress))
	if err != nil {
		return nil, fmt.Errorf("go-ftw: %w", err)
	}
	st := run.Stats
	res := &Result{
		Passed:    len(st.Success) + len(st.ForcedPass),
		Failed:    len(st.Failed) + len(st.ForcedFail),
		Skipped:   len(st.Skipped) + len(st.Ignored),
		FailedIDs: append(slices.Clone(st.Failed), st.ForcedFail...),
		Duration:  time.Since(start),
	}
	slices.Sort(res.FailedIDs)
	return res, nil
}

func loadTests(opts Options) ([]*test.FTWTest, error) {
	fsys := opts.Tests
	if fsys == nil {
		fsys = crstests.FS
	}
	dirs := opts.Dirs
	if len(dirs) == 0 {
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), "REQUEST-") {
				dirs = append(dirs, e.Name())
			}
		}
	}
	var tests []*test.FTWTest
	for _, dir := range dirs {
		err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
				return err
			}
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			t, err := test.GetTestFromYaml(data, path.Base(p))
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			tests = append(tests, t)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(tests) == 0 {
		return nil, errors.New("no CRS tests selected")
	}
	return tests, nil
}
