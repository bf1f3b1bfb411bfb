package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

const validateTestdata = "testdata/validate"

// runValidate runs `meshaccel validate` in-process and returns stdout and the exit code.
func runValidate(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	root := NewRootCommand()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"validate"}, args...))
	err := root.Execute()
	var exitErr *ExitError
	switch {
	case err == nil:
		return stdout.String(), 0
	case errors.As(err, &exitErr):
		return stdout.String(), exitErr.Code
	default:
		t.Fatalf("validate failed: %v\nstderr: %s", err, stderr.String())
		return "", 2
	}
}

func testdataFile(name string) string { return filepath.Join(validateTestdata, name) }

func TestValidateAcceptsAGoodEnvoyFilterAmongOtherKinds(t *testing.T) {
	out, code := runValidate(t, "", "-f", testdataFile("good.yaml"))
	if code != 0 || out != "1 EnvoyFilter checked: 0 errors, 0 warnings\n" {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

func TestValidateRejectsHandBrokenEnvoyFiltersWithPreciseMessages(t *testing.T) {
	for _, tc := range []struct {
		file string
		want string
	}{
		{
			file: "bad-poll-delay.yaml",
			want: "testdata/validate/bad-poll-delay.yaml:30: error: EnvoyFilter istio-system/bad-poll-delay: configPatches[0] (FILTER_CHAIN MERGE): " +
				"patch.value.transport_socket.typed_config.common_tls_context.tls_certificates[0].private_key_provider.typed_config.poll_delay: " +
				"invalid CryptoMbPrivateKeyMethodConfig.PollDelay: value must be greater than or equal to 1ms\n" +
				"1 EnvoyFilter checked: 1 error, 0 warnings\n",
		},
		{
			file: "unknown-field.yaml",
			want: "testdata/validate/unknown-field.yaml:31: error: EnvoyFilter istio-system/unknown-field: configPatches[0] (FILTER_CHAIN MERGE): " +
				"patch.value.transport_socket.typed_config.common_tls_context.tls_certificates[0].private_key_provider.typed_config.polDelay: unknown field \"polDelay\"\n" +
				"1 EnvoyFilter checked: 1 error, 0 warnings\n",
		},
		{
			file: "operation-combination.yaml",
			want: "testdata/validate/operation-combination.yaml:12: error: EnvoyFilter shop/insert-cluster: configPatches[0] (CLUSTER INSERT_BEFORE): " +
				"patch.operation: Istio does not apply INSERT_BEFORE to CLUSTER (it applies MERGE, MERGE_AND_REPLACE_LIST, ADD, REMOVE)\n" +
				"1 EnvoyFilter checked: 1 error, 0 warnings\n",
		},
		{
			file: "add-missing-name.yaml",
			want: "testdata/validate/add-missing-name.yaml:17: error: EnvoyFilter shop/unnamed-filter: configPatches[0] (HTTP_FILTER ADD): " +
				"patch.value.name: invalid HttpFilter.Name: value length must be at least 1 runes\n" +
				"1 EnvoyFilter checked: 1 error, 0 warnings\n",
		},
		{
			file: "unknown-type.yaml",
			want: "testdata/validate/unknown-type.yaml:17: error: EnvoyFilter shop/typo-in-type: configPatches[0] (LISTENER MERGE): " +
				"patch.value.connection_balance_config.extend_balance.typed_config: " +
				"unknown type \"type.googleapis.com/envoy.extensions.network.connection_balance.dlb.v3.Dlb\": not an Envoy, Envoy contrib or xds type\n" +
				"1 EnvoyFilter checked: 1 error, 0 warnings\n",
		},
		{
			file: "other-kind-broken.yaml",
			want: "testdata/validate/other-kind-broken.yaml:8: error: Deployment shop/web: spec.tempalte: unknown field \"tempalte\"\n" +
				"0 EnvoyFilters checked: 1 error, 0 warnings\n",
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, code := runValidate(t, "", "-f", testdataFile(tc.file))
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if out != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", out, tc.want)
			}
		})
	}
}

func TestValidateReadsDirectoriesAndCountsEveryProblem(t *testing.T) {
	out, code := runValidate(t, "", "-f", validateTestdata)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got, want := lines[len(lines)-1], "6 EnvoyFilters checked: 6 errors, 0 warnings"; got != want {
		t.Errorf("summary %q, want %q\n%s", got, want, out)
	}
	// The decode error comes first, then the EnvoyFilters in file-name order.
	if !strings.HasPrefix(lines[0], "testdata/validate/other-kind-broken.yaml:8: error:") || !strings.Contains(lines[1], "add-missing-name.yaml") {
		t.Errorf("order:\n%s", out)
	}
}

func TestValidateJSONFromStandardInput(t *testing.T) {
	list := `apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1alpha3
  kind: EnvoyFilter
  metadata: {name: a, namespace: shop}
  spec:
    configPatches:
    - applyTo: HTTP_ROUTE
      patch:
        operation: MERGE
        value: {route: {timeout: 5s, cluster_not_found_response_code: 42}}
`
	out, code := runValidate(t, list, "-f", "-", "-o", "json")
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	var result validateResult
	if err := json.Unmarshal([]byte(out), &result); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if result.Summary != (validateSummary{EnvoyFilters: 1, Errors: 1}) || len(result.EnvoyFilters) != 1 {
		t.Fatalf("result %+v", result)
	}
	ef := result.EnvoyFilters[0]
	if ef.Source.File != "<stdin>" || ef.Source.Item != 1 || ef.Source.Line != 4 || ef.Object != "EnvoyFilter shop/a" || ef.Errors[0].Line != 12 {
		t.Errorf("envoyFilter %+v", ef)
	}
	issue := ef.Errors[0]
	if issue.PatchIndex != 0 || issue.ApplyTo != "HTTP_ROUTE" || issue.Operation != "MERGE" || issue.Field != "patch.value.route.cluster_not_found_response_code" ||
		issue.Message != "invalid RouteAction.ClusterNotFoundResponseCode: value must be one of the defined enum values" {
		t.Errorf("issue %+v", issue)
	}
}

func TestValidateFailsOnAFileItCannotRead(t *testing.T) {
	root := NewRootCommand()
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"validate", "-f", filepath.Join(t.TempDir(), "missing.yaml")})
	err := root.Execute()
	var exitErr *ExitError
	if err == nil || errors.As(err, &exitErr) || !strings.Contains(err.Error(), "missing.yaml") || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("err = %v, want a command failure naming the missing file", err)
	}
}
