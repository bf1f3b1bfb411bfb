package envoyfilter

import (
	"encoding/json"
	"os"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3api "istio.io/api/networking/v1alpha3"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
)

// FuzzValidatePatchValue feeds arbitrary JSON values through decoding, the retry loop that
// collects every decode error, merging and the nested-Any walk. Seeds: the patches of
// testdata/good.yaml.
func FuzzValidatePatchValue(f *testing.F) {
	text, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		f.Fatal(err)
	}
	good := decodeEnvoyFilter(f, string(text))
	for _, cp := range good.Spec.GetConfigPatches() {
		value, err := protojson.Marshal(cp.GetPatch().GetValue())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(value, uint8(cp.GetApplyTo()), uint8(cp.GetPatch().GetOperation()))
	}
	f.Add([]byte(`{"domains":["a",{"b":1}],"@type":"x"}`), uint8(networkingv1alpha3api.EnvoyFilter_VIRTUAL_HOST), uint8(opMerge))

	f.Fuzz(func(t *testing.T, valueJSON []byte, applyTo, op uint8) {
		if !json.Valid(valueJSON) {
			return
		}
		value := &structpb.Struct{}
		if err := protojson.Unmarshal(valueJSON, value); err != nil {
			return
		}
		ef := &networkingv1alpha3.EnvoyFilter{}
		ef.Name, ef.Namespace = "fuzz", "default"
		ef.Spec.ConfigPatches = []*networkingv1alpha3api.EnvoyFilter_EnvoyConfigObjectPatch{{
			ApplyTo: networkingv1alpha3api.EnvoyFilter_ApplyTo(applyTo % 13),
			Patch:   &networkingv1alpha3api.EnvoyFilter_Patch{Operation: networkingv1alpha3api.EnvoyFilter_Patch_Operation(op % 10), Value: value},
		}}
		report := ValidateEnvoyFilter(ef)
		for _, issue := range append(report.Errors, report.Warnings...) {
			if issue.Object != "EnvoyFilter default/fuzz" || issue.PatchIndex != 0 || issue.Message == "" {
				t.Fatalf("malformed issue %+v", issue)
			}
		}
	})
}
