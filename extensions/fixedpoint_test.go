package extensions_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions"
	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/extensions/manifest"
)

func readInput(t *testing.T, path string) extensions.Input {
	t.Helper()
	reader, err := manifest.NewReader(v1alpha1.AddToScheme)
	if err != nil {
		t.Fatal(err)
	}
	objects, err := reader.ReadPaths([]string{path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := extensions.Input{DefaultProxy: capability.Proxy{Flavor: v1alpha1.ProxyIstioProxyV2, Version: "1.28.2"}}
	for _, o := range objects {
		if err := in.AddObjects(o.Obj); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

// applyPatches merges each workload apply configuration into the workload, as the API server does
// with meshaccel's fields (annotation and nodeSelector maps, containers by name).
func applyPatches(t *testing.T, in *extensions.Input, result extensions.Result) {
	t.Helper()
	for _, p := range result.WorkloadPatches {
		patch, err := json.Marshal(p.Apply)
		if err != nil {
			t.Fatal(err)
		}
		merge := func(obj any, into any) {
			original, _ := json.Marshal(obj)
			merged, err := strategicpatch.StrategicMergePatch(original, patch, into)
			if err != nil {
				t.Fatalf("%s: %v", p.Workload, err)
			}
			if err := json.Unmarshal(merged, into); err != nil {
				t.Fatal(err)
			}
		}
		for i := range in.Deployments {
			d := &in.Deployments[i]
			if p.Workload.Kind == extensions.KindDeployment && d.Namespace == p.Workload.Namespace && d.Name == p.Workload.Name {
				var out appsv1.Deployment
				merge(d, &out)
				*d = out
			}
		}
		for i := range in.StatefulSets {
			s := &in.StatefulSets[i]
			if p.Workload.Kind == extensions.KindStatefulSet && s.Namespace == p.Workload.Namespace && s.Name == p.Workload.Name {
				var out appsv1.StatefulSet
				merge(s, &out)
				*s = out
			}
		}
	}
}

func renderedJSON(t *testing.T, r extensions.Result) string {
	t.Helper()
	b, err := json.Marshal(struct {
		Objects   []extensions.Object
		Patches   []extensions.WorkloadPatch
		Decisions []extensions.WorkloadDecision
	}{r.Objects, r.WorkloadPatches, r.Workloads})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTranslationOfItsOwnOutputIsAFixedPoint: the operator translates live objects, which carry what
// meshaccel applied last time. Translating them again must want exactly the same, or every reconcile
// would roll the pods.
func TestTranslationOfItsOwnOutputIsAFixedPoint(t *testing.T) {
	for _, path := range []string{"../examples/cluster.yaml", "../internal/cli/testdata/in/placement-user-fields.yaml", "../internal/cli/testdata/in/nfd-builtin-off.yaml"} {
		t.Run(path, func(t *testing.T) {
			in := readInput(t, path)
			first, err := extensions.Translate(in)
			if err != nil {
				t.Fatal(err)
			}
			applyPatches(t, &in, first)
			second, err := extensions.Translate(in)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := renderedJSON(t, first), renderedJSON(t, second); a != b {
				t.Fatalf("translating the applied result wants something else:\nfirst:  %s\nsecond: %s", a, b)
			}
			if reflect.DeepEqual(first.WorkloadPatches, []extensions.WorkloadPatch(nil)) {
				t.Fatal("nothing was rendered; the case does not exercise placement")
			}
		})
	}
}

// TestNodeLosingCapabilityMovesPlacement: after meshaccel constrained a workload, a node losing the
// capability must shrink the constraint (meshaccel's own earlier constraint is not the user's).
func TestNodeLosingCapabilityMovesPlacement(t *testing.T) {
	in := readInput(t, "../internal/cli/testdata/in/nfd-builtin-off.yaml")
	first, err := extensions.Translate(in)
	if err != nil {
		t.Fatal(err)
	}
	applyPatches(t, &in, first)
	// node-b gains the missing flag: it becomes capable and must be added to the host-name affinity.
	for i := range in.NodeFeatures {
		if in.NodeFeatures[i].Name == "node-b" {
			in.NodeFeatures[i].Spec.Features.Flags["cpu.cpuid"].Elements["AVX512IFMA"] = struct{}{}
		}
	}
	second, err := extensions.Translate(in)
	if err != nil {
		t.Fatal(err)
	}
	var capable []string
	for _, f := range second.Workloads[0].Features {
		if f.Feature == capability.CryptoMB {
			capable = f.CapableNodes
		}
	}
	if !reflect.DeepEqual(capable, []string{"node-a", "node-b"}) {
		t.Fatalf("capable nodes after node-b gained AVX512IFMA = %v, want [node-a node-b]", capable)
	}
	b, _ := json.Marshal(second.WorkloadPatches[0].Apply)
	if want := `"values":["node-a","node-b"]`; !strings.Contains(string(b), want) {
		t.Fatalf("apply configuration %s lacks %s", b, want)
	}
}
