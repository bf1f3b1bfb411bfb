package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const regexSourceTestdata = "../../hyperscan/regexsource/testdata"

func runRegexCommand(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := NewRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"regex"}, args...))
	err := root.Execute()
	return out.String(), err
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRegexCheckExitsZeroWhenEveryRegexIsEquivalent(t *testing.T) {
	file := writeTemp(t, "routes.txt", "# anchored the Hyperscan way\n\\A/api/v1/users/[0-9]+\\z\n\\A/healthz\\z\n")
	out, err := runRegexCommand(t, "", "check", "-f", file)
	if err != nil {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	if !strings.Contains(out, "2 regexes: 2 equivalent under Hyperscan, 0 differ") {
		t.Errorf("output:\n%s", out)
	}
}

func TestRegexCheckExitsOneAndNamesObjectFieldAndDifference(t *testing.T) {
	out, err := runRegexCommand(t, "", "check", "-f", filepath.Join(regexSourceTestdata, "virtualservices.yaml"))
	var exitErr *ExitError
	if !errors.As(err, &exitErr) || exitErr.Code != 1 {
		t.Fatalf("err %v, want exit code 1", err)
	}
	for _, want := range []string{
		"DIFFERS",
		"VirtualService shop/reviews spec.http[1].match[0].authority.regex",
		`"^reviews\\.(shop|shop-staging)\\.svc$"`,
		"Anchoring",
		"final newline",
		`rewrite "\\A(?:^reviews\\.(shop|shop-staging)\\.svc$)\\z"`,
		"6 regexes: 0 equivalent under Hyperscan, 6 differ (6 with a safe rewrite)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRegexCheckJSONFromStandardInput(t *testing.T) {
	list, err := os.ReadFile(filepath.Join(regexSourceTestdata, "list.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := runRegexCommand(t, string(list), "check", "-f", "-", "-o", "json")
	var exitErr *ExitError
	if !errors.As(err, &exitErr) || exitErr.Code != 1 {
		t.Fatalf("err %v, want exit code 1", err)
	}
	var report checkReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if report.Summary.Total != 4 || len(report.Regexes) != 4 {
		t.Fatalf("summary %+v", report.Summary)
	}
	first := report.Regexes[0]
	if first.Source != "-" || first.Object != "VirtualService istio-system/gateway-routes" || first.Field != "spec.http[0].match[0].uri.regex" {
		t.Errorf("first regex location %+v", first.Regex)
	}
	for _, r := range report.Regexes {
		if r.Equivalent || len(r.Differences) == 0 {
			t.Errorf("%s: %+v", r.Field, r)
		}
		for _, d := range r.Differences {
			if d.Example != "" && d.ExampleQuoted == "" {
				t.Errorf("%s: example without its quoted form", r.Field)
			}
		}
	}
}

func TestRegexCheckRejectsBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"missing file":  {[]string{"check", "-f", "/nonexistent/routes.yaml"}, "no such file"},
		"bad field":     {[]string{"check", "-f", filepath.Join(regexSourceTestdata, "bad-type.yaml")}, "VirtualService shop/broken spec.http[0].match[0].uri.regex"},
		"bad output":    {[]string{"check", "-f", filepath.Join(regexSourceTestdata, "regexes.txt"), "-o", "yaml"}, `--output "yaml"`},
		"no regexes":    {[]string{"check", "-f", writeTemp(t, "empty.txt", "# nothing\n")}, "no regexes found"},
		"no file given": {[]string{"check"}, "filename"},
	} {
		_, err := runRegexCommand(t, "", tc.args...)
		var exitErr *ExitError
		if err == nil || errors.As(err, &exitErr) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want a command error containing %q", name, err, tc.want)
		}
	}
}

func TestRegexBenchTimesBothEnginesOnTheSameTable(t *testing.T) {
	file := writeTemp(t, "routes.txt", "/api/v1/users/[0-9]+\n/api/v1/orders/[0-9]+/items\n(?i)/admin/.*\n/static/.+\\.(js|css)\n(x\n")
	out, err := runRegexCommand(t, "", "bench", "-f", file, "-o", "json", "--inputs", "200", "--duration", "20ms")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var result benchResult
	if err := json.Unmarshal([]byte(out), &result); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if result.Routes != 4 || len(result.Skipped) != 1 || !strings.Contains(result.Skipped[0], ":5") {
		t.Errorf("routes %d, skipped %q", result.Routes, result.Skipped)
	}
	if result.Inputs != 200 || result.SequentialNs <= 0 || result.HyperscanNs <= 0 || result.DatabaseBytes <= 0 {
		t.Errorf("result %+v", result)
	}
	if result.Disagreements != 0 {
		t.Errorf("%d values routed differently", result.Disagreements)
	}
}

func TestRegexCheckTakesSeveralFilesAndKubectlJSON(t *testing.T) {
	json := writeTemp(t, "vs.json", `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"networking.istio.io/v1","kind":"VirtualService",
"metadata":{"name":"web","namespace":"prod"},"spec":{"http":[{"match":[{"uri":{"regex":"\\A/web/[0-9]+\\z"}}]}]}}]}`)
	text := writeTemp(t, "more.txt", "\\A/a\\z\n")
	out, err := runRegexCommand(t, "", "check", "-f", json, text, "-o", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var report checkReport
	if err := jsonUnmarshal(out, &report); err != nil {
		t.Fatal(err)
	}
	if report.Summary.Total != 2 || report.Regexes[0].Object != "VirtualService prod/web" || report.Regexes[1].Field != "line 1" {
		t.Errorf("report %+v", report)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
