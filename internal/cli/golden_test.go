package cli

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/out from the current translator")

// runCLI runs the meshaccel command in-process and returns its stdout and error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// TestGolden translates each testdata/in/<case>.yaml and compares render and explain output, or the
// exact error, with testdata/out. With -update it rewrites them and removes outputs of deleted cases.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/in/*.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	want := map[string]bool{}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			outputs := map[string]string{}
			rendered, err := runCLI(t, "render", "-f", in)
			if err != nil {
				var exit *ExitError
				if !errors.As(err, &exit) && !strings.HasPrefix(name, "bad-") {
					t.Fatalf("render: %v", err)
				}
				outputs[name+".error.txt"] = err.Error() + "\n"
			} else {
				outputs[name+".render.yaml"] = rendered
				explained, err := runCLI(t, "explain", "-f", in)
				if err != nil {
					t.Fatalf("explain: %v", err)
				}
				outputs[name+".explain.txt"] = explained
			}
			if strings.HasPrefix(name, "bad-") && outputs[name+".error.txt"] == "" {
				t.Fatalf("bad input %s was accepted", in)
			}
			for file, got := range outputs {
				want[file] = true
				path := filepath.Join("testdata/out", file)
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				expected, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run `make testdata` to create it)", err)
				}
				if string(expected) != got {
					t.Errorf("%s differs from the translator's output (run `make testdata` after checking the change):\n--- want\n%s\n--- got\n%s", path, expected, got)
				}
			}
		})
	}
	existing, _ := filepath.Glob("testdata/out/*")
	for _, path := range existing {
		if want[filepath.Base(path)] {
			continue
		}
		if *update {
			_ = os.Remove(path)
			continue
		}
		t.Errorf("stale golden file %s has no input case (run `make testdata`)", path)
	}
}
