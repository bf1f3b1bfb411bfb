package cli

import (
	"path/filepath"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	istionetworkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshaccel/meshaccel/extensions/envoyfilter"
	"github.com/meshaccel/meshaccel/extensions/render/istio"
)

// TestRenderedEnvoyConfigRoundTrips turns every rendered Envoy patch value and bootstrap back into its
// typed message and validates it as Envoy would, nested typed_configs included.
func TestRenderedEnvoyConfigRoundTrips(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/in/*.yaml")
	checked := 0
	for _, in := range inputs {
		flags := translateFlags{files: []string{in}, output: "yaml", proxyFlavor: "IstioProxyV2", proxyVersion: "1.28.2", systemNS: "meshaccel-system"}
		result, err := flags.translate(nil)
		if err != nil {
			continue // bad-input cases render nothing
		}
		for _, obj := range result.Objects {
			switch o := obj.(type) {
			case *istionetworkingv1alpha3.EnvoyFilter:
				report := envoyfilter.ValidateEnvoyFilter(o)
				for _, issue := range report.Errors {
					t.Errorf("%s: %s", in, issue)
				}
				for i, p := range o.Spec.ConfigPatches {
					msg, err := envoyfilter.PatchMessage(p.ApplyTo, p.Patch.Value)
					if err != nil {
						t.Fatalf("%s: EnvoyFilter %s patch %d does not round-trip: %v", in, o.Name, i, err)
					}
					again, err := istio.PatchValue(msg)
					if err != nil {
						t.Fatal(err)
					}
					if got, want := protojson.Format(again), protojson.Format(p.Patch.Value); got != want {
						t.Errorf("%s: EnvoyFilter %s patch %d changes on a round trip:\n%s\n%s", in, o.Name, i, want, got)
					}
					checked++
				}
			case *corev1.ConfigMap:
				body, ok := o.Data[istio.BootstrapConfigMapKey]
				if !ok {
					continue
				}
				var b bootstrapv3.Bootstrap
				if err := protojson.Unmarshal([]byte(body), &b); err != nil {
					t.Fatalf("%s: ConfigMap %s: %v", in, o.Name, err)
				}
				if err := envoyfilter.ValidateMessage(&b); err != nil {
					t.Errorf("%s: ConfigMap %s: %v", in, o.Name, err)
				}
				checked++
			}
		}
	}
	if checked < 3 {
		t.Fatalf("only %d rendered Envoy configs checked; the golden inputs should exercise DLB, Hyperscan and the WAF", checked)
	}
}
