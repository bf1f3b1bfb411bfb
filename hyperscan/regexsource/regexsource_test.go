package regexsource

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func parseFile(t *testing.T, name string) ([]Regex, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return Parse(name, data)
}

func TestParseFindsEveryVirtualServiceRegexWithItsFieldPath(t *testing.T) {
	got, err := parseFile(t, "virtualservices.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Regex{
		{Regex: "/api/v[0-9]+/reviews/[0-9]+", Source: "virtualservices.yaml", Object: "VirtualService shop/reviews", Field: "spec.http[0].match[0].uri.regex"},
		{Regex: ".*Mobile.*", Source: "virtualservices.yaml", Object: "VirtualService shop/reviews", Field: "spec.http[0].match[0].headers.user-agent.regex"},
		{Regex: "v[12]", Source: "virtualservices.yaml", Object: "VirtualService shop/reviews", Field: "spec.http[0].match[1].queryParams.version.regex"},
		{Regex: `^reviews\.(shop|shop-staging)\.svc$`, Source: "virtualservices.yaml", Object: "VirtualService shop/reviews", Field: "spec.http[1].match[0].authority.regex"},
		{Regex: ".+", Source: "virtualservices.yaml", Object: "VirtualService shop/reviews", Field: `spec.http[1].match[0].withoutHeaders["x-debug.trace"].regex`},
		{Regex: "GET|HEAD", Source: "virtualservices.yaml", Object: "VirtualService ratings", Field: "spec.http[0].match[0].method.regex"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%#v\nwant\n%#v", got, want)
	}
}

func TestParseReadsKubectlListsAndEnvoyFilterSafeRegexes(t *testing.T) {
	got, err := parseFile(t, "list.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, r := range got {
		fields = append(fields, r.Object+" "+r.Field+" = "+r.Regex)
	}
	want := []string{
		`VirtualService istio-system/gateway-routes spec.http[0].match[0].uri.regex = /static/.+\.(js|css)`,
		`EnvoyFilter istio-system/block-scanners spec.configPatches[0].patch.value.match.safe_regex.regex = /admin/.*`,
		`EnvoyFilter istio-system/block-scanners spec.configPatches[1].patch.value.typed_config.rules.policies.scanners.permissions[0].header.string_match.safe_regex.regex = .*(sqlmap|nikto).*`,
		`EnvoyFilter istio-system/block-scanners spec.configPatches[1].patch.value.typed_config.rules.policies.scanners.permissions[1].url_path.path.safeRegex.regex = /\.git/.*`,
	}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(fields, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseReadsTextOneRegexPerLine(t *testing.T) {
	got, err := parseFile(t, "regexes.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []Regex{
		{Regex: "/api/v1/users/[0-9]+", Source: "regexes.txt", Field: "line 2"},
		{Regex: "^/healthz$", Source: "regexes.txt", Field: "line 4"},
		{Regex: `\#anchor`, Source: "regexes.txt", Field: "line 5"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	if loc := got[1].Location(); loc != "regexes.txt:4" {
		t.Errorf("Location() = %q", loc)
	}
}

func TestParseRejectsBadInputNamingObjectFieldAndValue(t *testing.T) {
	for name, wantParts := range map[string][]string{
		"bad-type.yaml": {"bad-type.yaml", "VirtualService shop/broken", "spec.http[0].match[0].uri.regex", "want a regex string, got an object"},
		"bad-yaml.yaml": {"bad-yaml.yaml", "does not parse"},
	} {
		_, err := parseFile(t, name)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, part := range wantParts {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("%s: error %q lacks %q", name, err, part)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"virtualservices.yaml", "list.yaml", "regexes.txt", "bad-type.yaml", "bad-yaml.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		regexes, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		for _, r := range regexes {
			if r.Source != "fuzz" || r.Field == "" {
				t.Fatalf("regex without location: %#v", r)
			}
		}
	})
}
