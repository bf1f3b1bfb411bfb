package envoyfilter

import (
	"strings"
	"testing"

	cryptombv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/private_key_providers/cryptomb/v3alpha"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3api "istio.io/api/networking/v1alpha3"
)

// Istio may add an applyTo; this fails until it has a message and operations here.
func TestEveryIstioApplyToHasATarget(t *testing.T) {
	want := map[string]proto.Message{
		"LISTENER":            &listenerv3.Listener{},
		"FILTER_CHAIN":        &listenerv3.FilterChain{},
		"NETWORK_FILTER":      &listenerv3.Filter{},
		"HTTP_FILTER":         &hcmv3.HttpFilter{},
		"ROUTE_CONFIGURATION": &routev3.RouteConfiguration{},
		"VIRTUAL_HOST":        &routev3.VirtualHost{},
		"HTTP_ROUTE":          &routev3.Route{},
		"CLUSTER":             &clusterv3.Cluster{},
		"EXTENSION_CONFIG":    &corev3.TypedExtensionConfig{},
		"BOOTSTRAP":           &bootstrapv3.Bootstrap{},
		"LISTENER_FILTER":     &listenerv3.ListenerFilter{},
	}
	for number, name := range networkingv1alpha3api.EnvoyFilter_ApplyTo_name {
		applyTo := networkingv1alpha3api.EnvoyFilter_ApplyTo(number)
		target, ok := patchTargets[applyTo]
		if applyTo == networkingv1alpha3api.EnvoyFilter_INVALID {
			if ok {
				t.Error("INVALID has a target")
			}
			continue
		}
		if !ok {
			t.Errorf("applyTo %s has no target", name)
			continue
		}
		got, expected := target.newMessage(), want[name]
		if expected == nil || got.ProtoReflect().Descriptor() != expected.ProtoReflect().Descriptor() {
			t.Errorf("applyTo %s decodes into %T, want %T", name, got, expected)
		}
		if len(target.operations) == 0 {
			t.Errorf("applyTo %s allows no operation", name)
		}
		if containsOperation(target.operations, opMerge) != (target.mergeBase != nil) {
			t.Errorf("applyTo %s: a merge base is needed exactly when MERGE is allowed", name)
		}
	}
}

// A MERGE is validated on top of the merge base; a base that failed validation itself would
// blame the user's patch for it.
func TestMergeBasesAreValidEnvoyConfig(t *testing.T) {
	for applyTo, target := range patchTargets {
		if target.mergeBase == nil {
			continue
		}
		if err := ValidateMessage(target.mergeBase()); err != nil {
			t.Errorf("%s merge base: %v", applyTo, err)
		}
	}
}

func TestPatchMessageRoundTripsATypedMessage(t *testing.T) {
	keyProvider, err := anypb.New(&cryptombv3alpha.CryptoMbPrivateKeyMethodConfig{
		PollDelay:  durationpb.New(2_000_000),
		PrivateKey: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/etc/certs/key.pem"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tlsContext, err := anypb.New(&tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificates: []*tlsv3.TlsCertificate{{
			CertificateChain:   &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/etc/certs/cert.pem"}},
			PrivateKeyProvider: &tlsv3.PrivateKeyProvider{ProviderName: "cryptomb", ConfigType: &tlsv3.PrivateKeyProvider_TypedConfig{TypedConfig: keyProvider}},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	original := &listenerv3.FilterChain{TransportSocket: &corev3.TransportSocket{
		Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tlsContext},
	}}
	// The renderer's path: protojson, then a Struct as it sits in the EnvoyFilter.
	rendered, err := protojson.Marshal(original)
	if err != nil {
		t.Fatal(err)
	}
	value := &structpb.Struct{}
	if err := protojson.Unmarshal(rendered, value); err != nil {
		t.Fatal(err)
	}
	decoded, err := PatchMessage(networkingv1alpha3api.EnvoyFilter_FILTER_CHAIN, value)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(decoded, original) {
		t.Errorf("round trip changed the message:\n got %v\nwant %v", decoded, original)
	}
}

func TestPatchMessageRejectsUnknownFieldsWithTheirPath(t *testing.T) {
	value, err := structpb.NewStruct(map[string]any{
		"name": "l",
		"listener_filters": []any{map[string]any{
			"name":         "envoy.filters.listener.tls_inspector",
			"typed_config": map[string]any{"@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", "enable_ja3": true},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = PatchMessage(networkingv1alpha3api.EnvoyFilter_LISTENER, value)
	if want := `value.listener_filters[0].typed_config.enable_ja3: unknown field "enable_ja3"`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

func TestValidateMessageReachesEveryNestedAny(t *testing.T) {
	badProvider, err := anypb.New(&cryptombv3alpha.CryptoMbPrivateKeyMethodConfig{PollDelay: durationpb.New(0)})
	if err != nil {
		t.Fatal(err)
	}
	tlsContext, err := anypb.New(&tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificates: []*tlsv3.TlsCertificate{{}, {
			PrivateKeyProvider: &tlsv3.PrivateKeyProvider{ProviderName: "cryptomb", ConfigType: &tlsv3.PrivateKeyProvider_TypedConfig{TypedConfig: badProvider}},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	listener := &listenerv3.Listener{Name: "l", FilterChains: []*listenerv3.FilterChain{{
		TransportSocket: &corev3.TransportSocket{Name: "tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tlsContext}},
	}}}
	if err := listener.ValidateAll(); err != nil {
		t.Fatalf("ValidateAll on the outer message was expected to miss the nested error, got %v", err)
	}
	err = ValidateMessage(listener)
	want := "filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates[1].private_key_provider.typed_config.poll_delay: " +
		"invalid CryptoMbPrivateKeyMethodConfig.PollDelay: value must be greater than or equal to 1ms"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

// A config can nest Anys without end (a TypedExtensionConfig holding another); the walk stops.
func TestValidateMessageBoundsAnyNesting(t *testing.T) {
	inner := &corev3.TypedExtensionConfig{Name: "leaf", TypedConfig: &anypb.Any{}}
	for i := 0; i < maxAnyDepth+5; i++ {
		packed, err := anypb.New(inner)
		if err != nil {
			t.Fatal(err)
		}
		inner = &corev3.TypedExtensionConfig{Name: "level", TypedConfig: packed}
	}
	err := ValidateMessage(inner)
	if err == nil || !strings.Contains(err.Error(), "Anys nested more than 32 deep; not checked further") {
		t.Errorf("err = %v", err)
	}
}

func TestMergeAndReplaceListCountsListItemsFromTheValue(t *testing.T) {
	report := ValidateEnvoyFilter(decodeEnvoyFilter(t, withPatches(`
- applyTo: VIRTUAL_HOST
  patch:
    operation: MERGE_AND_REPLACE_LIST
    value:
      domains: ["bad\u0000host"]`)))
	assertIssues(t, "errors", report.Errors, []string{
		`EnvoyFilter shop/broken: configPatches[0] (VIRTUAL_HOST MERGE_AND_REPLACE_LIST): patch.value.domains[0]: invalid VirtualHost.Domains[0]: value does not match regex pattern "^[^\x00\n\r]*$"`,
	})
}

func TestDeprecatedFieldsAreWarnings(t *testing.T) {
	report := ValidateEnvoyFilter(decodeEnvoyFilter(t, withPatches(`
- applyTo: CLUSTER
  match:
    cluster:
      service: reviews.shop.svc.cluster.local
  patch:
    operation: MERGE
    value:
      max_requests_per_connection: 100`)))
	assertIssues(t, "errors", report.Errors, nil)
	assertIssues(t, "warnings", report.Warnings, []string{
		`EnvoyFilter shop/broken: configPatches[0] (CLUSTER MERGE): patch.value.max_requests_per_connection: envoy.config.cluster.v3.Cluster.max_requests_per_connection is deprecated in Envoy and may be rejected by newer versions`,
	})
}
