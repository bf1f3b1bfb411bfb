package envoyfilter

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	"sigs.k8s.io/yaml"
)

func decodeEnvoyFilter(t testing.TB, text string) *networkingv1alpha3.EnvoyFilter {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	ef := &networkingv1alpha3.EnvoyFilter{}
	if err := json.Unmarshal(data, ef); err != nil {
		t.Fatal(err)
	}
	return ef
}

// withPatches wraps configPatches YAML (indented as list items at column 0) in an EnvoyFilter.
func withPatches(patches string) string {
	var b strings.Builder
	b.WriteString("apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata:\n  name: broken\n  namespace: shop\nspec:\n  configPatches:\n")
	for _, line := range strings.Split(strings.TrimSpace(patches), "\n") {
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}

func issueStrings(issues []Issue) []string {
	out := make([]string, len(issues))
	for i, issue := range issues {
		out[i] = issue.String()
	}
	return out
}

func assertIssues(t *testing.T, kind string, got []Issue, want []string) {
	t.Helper()
	gotStrings := issueStrings(got)
	if strings.Join(gotStrings, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", kind, strings.Join(gotStrings, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestGoodEnvoyFilterHasNoErrors(t *testing.T) {
	text, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	report := ValidateEnvoyFilter(decodeEnvoyFilter(t, string(text)))
	assertIssues(t, "errors", report.Errors, nil)
	assertIssues(t, "warnings", report.Warnings, []string{
		`EnvoyFilter istio-system/gateway-acceleration: configPatches[6] (HTTP_FILTER ADD): patch.value.typed_config: type "type.googleapis.com/acme.authz.v1.Config" is not an Envoy type; its configuration is not checked`,
	})
}

func TestBrokenEnvoyFiltersNameObjectPatchAndField(t *testing.T) {
	const prefix = "EnvoyFilter shop/broken: "
	for _, tc := range []struct {
		name         string
		patches      string
		wantErrors   []string
		wantWarnings []string
	}{
		{
			name: "poll delay below 1ms in a key provider three Anys deep",
			patches: `
- applyTo: LISTENER
  patch:
    operation: ADD
    value:
      name: tls-8443
      address: {socket_address: {address: 0.0.0.0, port_value: 8443}}
      filter_chains:
      - transport_socket:
          name: envoy.transport_sockets.tls
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
            common_tls_context:
              tls_certificates:
              - private_key_provider:
                  provider_name: cryptomb
                  typed_config:
                    "@type": type.googleapis.com/envoy.extensions.private_key_providers.cryptomb.v3alpha.CryptoMbPrivateKeyMethodConfig
                    poll_delay: 0.0005s
        filters:
        - name: envoy.filters.network.tcp_proxy
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
            stat_prefix: tls
            cluster: backend`,
			wantErrors: []string{
				prefix + `configPatches[0] (LISTENER ADD): patch.value.filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates[0].private_key_provider.typed_config.poll_delay: invalid CryptoMbPrivateKeyMethodConfig.PollDelay: value must be greater than or equal to 1ms`,
			},
		},
		{
			name: "unknown field inside a nested typed_config",
			patches: `
- applyTo: FILTER_CHAIN
  patch:
    operation: MERGE
    value:
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificates:
            - private_key_provider:
                provider_name: cryptomb
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.private_key_providers.cryptomb.v3alpha.CryptoMbPrivateKeyMethodConfig
                  pol_delay: 0.01s`,
			wantErrors: []string{
				prefix + `configPatches[0] (FILTER_CHAIN MERGE): patch.value.transport_socket.typed_config.common_tls_context.tls_certificates[0].private_key_provider.typed_config.pol_delay: unknown field "pol_delay"`,
			},
		},
		{
			name: "operation Istio does not apply to the applyTo",
			patches: `
- applyTo: CLUSTER
  patch:
    operation: INSERT_BEFORE
    value:
      name: extra`,
			wantErrors: []string{
				prefix + `configPatches[0] (CLUSTER INSERT_BEFORE): patch.operation: Istio does not apply INSERT_BEFORE to CLUSTER (it applies MERGE, MERGE_AND_REPLACE_LIST, ADD, REMOVE)`,
			},
		},
		{
			name: "ADD of an HTTP filter without its name",
			patches: `
- applyTo: HTTP_FILTER
  patch:
    operation: ADD
    value:
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor
        compressor_library:
          name: envoy.compression.qatzip.compressor
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.compression.qatzip.compressor.v3alpha.Qatzip
            compression_level: 12`,
			wantErrors: []string{
				prefix + `configPatches[0] (HTTP_FILTER ADD): patch.value.name: invalid HttpFilter.Name: value length must be at least 1 runes`,
				prefix + `configPatches[0] (HTTP_FILTER ADD): patch.value.typed_config.compressor_library.typed_config.compression_level: invalid Qatzip.CompressionLevel: value must be inside range [1, 9]`,
			},
		},
		{
			name: "unknown Envoy type URL and a v2 one",
			patches: `
- applyTo: NETWORK_FILTER
  patch:
    operation: INSERT_FIRST
    value:
      name: envoy.filters.network.nope
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope
- applyTo: HTTP_FILTER
  patch:
    operation: INSERT_FIRST
    value:
      name: envoy.lua
      typed_config:
        "@type": type.googleapis.com/envoy.config.filter.http.lua.v2.Lua
        inline_code: "function envoy_on_request(h) end"`,
			wantErrors: []string{
				prefix + `configPatches[0] (NETWORK_FILTER INSERT_FIRST): patch.value.typed_config: unknown type "type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope": not an Envoy, Envoy contrib or xds type`,
				prefix + `configPatches[1] (HTTP_FILTER INSERT_FIRST): patch.value.typed_config: type "type.googleapis.com/envoy.config.filter.http.lua.v2.Lua" is from the v2 xDS API, which Envoy no longer accepts; use its v3 equivalent`,
			},
		},
		{
			name: "every decode error of one value is reported, not only the first",
			patches: `
- applyTo: CLUSTER
  patch:
    operation: ADD
    value:
      name: two-mistakes
      conect_timeout: 1s
      type: STRICT_DNZ
      lb_policy: ROUND_ROBIN`,
			wantErrors: []string{
				prefix + `configPatches[0] (CLUSTER ADD): patch.value.conect_timeout: unknown field "conect_timeout"`,
				prefix + `configPatches[0] (CLUSTER ADD): patch.value.type: invalid value for enum field type: "STRICT_DNZ"`,
			},
		},
		{
			name: "MERGE reports what the value sets, not what the generated object provides",
			patches: `
- applyTo: NETWORK_FILTER
  match:
    listener:
      filterChain:
        filter:
          name: envoy.filters.network.http_connection_manager
  patch:
    operation: MERGE
    value:
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        max_request_headers_kb: 9000
- applyTo: VIRTUAL_HOST
  patch:
    operation: MERGE
    value:
      domains: ["shop.example.com", "bad\u0000host"]`,
			wantErrors: []string{
				prefix + `configPatches[0] (NETWORK_FILTER MERGE): patch.value.typed_config.max_request_headers_kb: invalid HttpConnectionManager.MaxRequestHeadersKb: value must be inside range (0, 8192]`,
				prefix + `configPatches[1] (VIRTUAL_HOST MERGE): patch.value.domains[1]: invalid VirtualHost.Domains[1]: value does not match regex pattern "^[^\x00\n\r]*$"`,
			},
		},
		{
			name: "Wasm config inside a TypedStruct is decoded and checked",
			patches: `
- applyTo: HTTP_FILTER
  patch:
    operation: ADD
    value:
      name: waf
      typed_config:
        "@type": type.googleapis.com/udpa.type.v1.TypedStruct
        type_url: type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
        value:
          config:
            vm_config:
              runtime: envoy.wasm.runtime.wamr
              cod: {}`,
			wantErrors: []string{
				prefix + `configPatches[0] (HTTP_FILTER ADD): patch.value.typed_config.value.config.vm_config.cod: unknown field "cod"`,
			},
		},
		{
			name: "Istio-level mistakes",
			patches: `
- patch:
    operation: ADD
    value: {name: x}
- applyTo: CLUSTER
  patch:
    value: {name: x}
- applyTo: HTTP_FILTER
  patch:
    operation: ADD
- applyTo: NETWORK_FILTER
  match:
    proxy:
      proxyVersion: "^1\\.2[("
    listener:
      filterChain:
        filter:
          name: envoy.filters.network.tcp_proxy
          subFilter:
            name: envoy.filters.http.router
  patch:
    operation: REMOVE
- applyTo: HTTP_FILTER
  match:
    cluster:
      name: outbound|80||shop.svc
  patch:
    operation: REMOVE
    value: {name: x}`,
			wantErrors: []string{
				prefix + `configPatches[0] (ADD): applyTo: applyTo is missing`,
				prefix + `configPatches[1] (CLUSTER): patch.operation: operation is missing`,
				prefix + `configPatches[2] (HTTP_FILTER ADD): patch.value: ADD needs a value`,
				prefix + `configPatches[3] (NETWORK_FILTER REMOVE): match.proxy.proxyVersion: not a regular expression: error parsing regexp: missing closing ]: ` + "`[(`",
				prefix + `configPatches[3] (NETWORK_FILTER REMOVE): match.listener.filterChain.filter.subFilter: only HTTP_FILTER patches can match a subFilter`,
				prefix + `configPatches[4] (HTTP_FILTER REMOVE): match.cluster: HTTP_FILTER patches select with match.listener, not match.cluster`,
			},
			wantWarnings: []string{
				prefix + `configPatches[4] (HTTP_FILTER REMOVE): match.listener.filterChain.filter.subFilter: REMOVE without a subFilter match does nothing`,
				prefix + `configPatches[4] (HTTP_FILTER REMOVE): patch.value: REMOVE ignores the value`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			report := ValidateEnvoyFilter(decodeEnvoyFilter(t, withPatches(tc.patches)))
			assertIssues(t, "errors", report.Errors, tc.wantErrors)
			assertIssues(t, "warnings", report.Warnings, tc.wantWarnings)
		})
	}
}

// BenchmarkValidateEnvoyFilter times the whole check of testdata/good.yaml (nine patches, the
// deepest three Anys down), as `meshaccel validate` runs it per object.
func BenchmarkValidateEnvoyFilter(b *testing.B) {
	text, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		b.Fatal(err)
	}
	ef := decodeEnvoyFilter(b, string(text))
	b.ReportAllocs()
	for b.Loop() {
		if report := ValidateEnvoyFilter(ef); !report.OK() {
			b.Fatal(report.Err())
		}
	}
}
