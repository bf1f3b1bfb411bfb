package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	devicepluginv1 "github.com/intel/intel-device-plugins-for-kubernetes/pkg/apis/deviceplugin/v1"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"
)

func newReader(t testing.TB, add ...func(*runtime.Scheme) error) *Reader {
	t.Helper()
	r, err := NewReader(add...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReadsEveryKindInInputOrderWithSources(t *testing.T) {
	objects, err := newReader(t).ReadPaths([]string{"testdata/cluster.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		source string
		check  func(runtime.Object) bool
	}
	wants := []want{
		{"testdata/cluster.yaml: document 1 (line 2)", func(o runtime.Object) bool {
			n, ok := o.(*corev1.Node)
			return ok && n.Name == "worker-1" && n.Labels["feature.node.kubernetes.io/cpu-cpuid.AVX512IFMA"] == "true" &&
				n.Status.Allocatable.Name("qat.intel.com/cy", "").Value() == 4
		}},
		{"testdata/cluster.yaml: document 2 (line 15)", func(o runtime.Object) bool {
			n, ok := o.(*nfdv1alpha1.NodeFeature)
			return ok && n.Spec.Labels["meshaccel.feature.node.kubernetes.io/cryptomb"] == "true"
		}},
		{"testdata/cluster.yaml: document 3 (line 24)", func(o runtime.Object) bool {
			d, ok := o.(*appsv1.Deployment)
			return ok && d.Spec.Template.Spec.Containers[0].Image == "docker.io/istio/proxyv2:1.28.2"
		}},
		{"testdata/cluster.yaml: document 4 (line 40)", func(o runtime.Object) bool {
			q, ok := o.(*devicepluginv1.QatDevicePlugin)
			return ok && q.Spec.ProvisioningConfig == "qat-config"
		}},
		{"testdata/cluster.yaml: document 5 (line 48)", func(o runtime.Object) bool {
			ef, ok := o.(*networkingv1alpha3.EnvoyFilter)
			return ok && ef.Spec.GetConfigPatches()[0].GetPatch().GetValue().GetFields()["connection_balance_config"] != nil
		}},
		{"testdata/cluster.yaml: document 6 (line 69)", func(o runtime.Object) bool {
			vs, ok := o.(*networkingv1.VirtualService)
			return ok && vs.Spec.GetHttp()[0].GetMatch()[0].GetUri().GetRegex() == "/product/[0-9]+"
		}},
	}
	if len(objects) != len(wants) {
		t.Fatalf("read %d objects, want %d", len(objects), len(wants))
	}
	for i, w := range wants {
		if got := objects[i].Source.String(); got != w.source {
			t.Errorf("object %d source = %s, want %s", i, got, w.source)
		}
		if !w.check(objects[i].Obj) {
			t.Errorf("object %d (%T) was not decoded as expected: %+v", i, objects[i].Obj, objects[i].Obj)
		}
	}
}

func TestExpandsKubectlListOutput(t *testing.T) {
	objects, err := newReader(t).ReadPaths([]string{"testdata/kubectl-list.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(objects) != 2 {
		t.Fatalf("read %d objects, want 2", len(objects))
	}
	if got, want := objects[0].Source.String(), "testdata/kubectl-list.yaml: document 1, item 1 (line 3)"; got != want {
		t.Errorf("source = %s, want %s", got, want)
	}
	if got, want := objects[1].Source.String(), "testdata/kubectl-list.yaml: document 1, item 2 (line 41)"; got != want {
		t.Errorf("source = %s, want %s", got, want)
	}
	if ef, ok := objects[0].Obj.(*networkingv1alpha3.EnvoyFilter); !ok || ef.Namespace != "istio-system" || len(ef.Spec.GetConfigPatches()) != 1 {
		t.Errorf("item 1 = %#v", objects[0].Obj)
	}
	if n, ok := objects[1].Obj.(*corev1.Node); !ok || n.Name != "worker-2" {
		t.Errorf("item 2 = %#v", objects[1].Obj)
	}
}

func TestReadsStdinAndDirectories(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"b.yaml":    "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
		"a.yml":     "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
		"c.json":    `{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "c"}}`,
		"notes.txt": "not a manifest",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdin := strings.NewReader("apiVersion: v1\nkind: Namespace\nmetadata: {name: from-stdin}\n")
	objects, err := newReader(t).ReadPaths([]string{dir, "-"}, stdin)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objects {
		got = append(got, filepath.Base(o.Source.File)+"="+o.Obj.(*corev1.Namespace).Name)
	}
	if want := "a.yml=a b.yaml=b c.json=c <stdin>=from-stdin"; strings.Join(got, " ") != want {
		t.Errorf("got %s, want %s", strings.Join(got, " "), want)
	}
}

func TestAddToSchemeHookRegistersMoreKinds(t *testing.T) {
	const policy = "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w}\n"
	if _, err := newReader(t).Read("w.yaml", []byte(policy)); err == nil || err.Error() != `w.yaml: document 1 (line 1): unknown kind "Widget" (apiVersion example.io/v1)` {
		t.Fatalf("without the hook: %v", err)
	}
	gv := schema.GroupVersion{Group: "example.io", Version: "v1"}
	addWidget := func(s *runtime.Scheme) error {
		s.AddKnownTypeWithName(gv.WithKind("Widget"), &corev1.ConfigMap{})
		return nil
	}
	objects, err := newReader(t, addWidget).Read("w.yaml", []byte(policy))
	if err != nil || len(objects) != 1 {
		t.Fatalf("with the hook: %v, %d objects", err, len(objects))
	}
}

func TestErrorsNameFileDocumentLineObjectAndField(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		want        []string
		decoded     int
	}{
		{
			name: "unknown kind",
			input: `apiVersion: v1
kind: Namespace
metadata: {name: ok}
---
apiVersion: v1
kind: Nod
metadata: {name: worker-1}
`,
			want:    []string{`in.yaml: document 2 (line 5): unknown kind "Nod" (apiVersion v1)`},
			decoded: 1,
		},
		{
			name: "kind in the wrong version",
			input: `apiVersion: apps/v1beta1
kind: Deployment
metadata: {name: web}
`,
			want: []string{`in.yaml: document 1 (line 1): unknown kind "Deployment" (apiVersion apps/v1beta1); known as apps/v1`},
		},
		{
			name: "unknown fields in a Kubernetes object, all of them",
			input: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicaz: 3
  template:
    spec:
      containers:
      - name: app
        imagee: shop:1
`,
			want: []string{
				`in.yaml: document 1 (line 1): Deployment shop/web: spec.replicaz (line 7): unknown field "replicaz"`,
				`in.yaml: document 1 (line 1): Deployment shop/web: spec.template.spec.containers[0].imagee (line 12): unknown field "imagee"`,
			},
		},
		{
			name: "unknown fields in an Istio spec, which Istio's own decoding would drop",
			input: `# leading comment
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: dlb, namespace: istio-system}
spec:
  configPatches:
  - applyTo: LISTENER
    pach:
      operation: MERGE
  - applyTo: LISTENR
`,
			want: []string{
				`in.yaml: document 1 (line 2): EnvoyFilter istio-system/dlb: spec.configPatches[0].pach (line 8): unknown field "pach"`,
				`in.yaml: document 1 (line 2): EnvoyFilter istio-system/dlb: spec.configPatches[1].applyTo (line 10): invalid value for enum field applyTo: "LISTENR"`,
			},
		},
		{
			name: "malformed YAML in a later document",
			input: `apiVersion: v1
kind: Namespace
metadata: {name: ok}
---
apiVersion: v1
kind: Namespace
metadata:
  name: bad
   labels: x
`,
			want:    []string{`in.yaml: document 2 (line 5): invalid YAML: line 9: mapping values are not allowed in this context`},
			decoded: 1,
		},
		{
			name: "duplicate key",
			input: `apiVersion: v1
kind: Namespace
metadata:
  name: a
  name: b
`,
			want: []string{`in.yaml: document 1 (line 1): invalid YAML: line 5: key "name" already set in map`},
		},
		{
			name: "a List item",
			input: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: fine}
- apiVersion: v1
  kind: Namespace
  metadata: {name: typo}
  spek: {}
`,
			want:    []string{`in.yaml: document 1, item 2 (line 7): Namespace typo: spek (line 10): unknown field "spek"`},
			decoded: 1,
		},
		{
			name:  "not an object",
			input: "- just\n- a list\n",
			want:  []string{`in.yaml: document 1 (line 1): not a Kubernetes object: a list`},
		},
		{
			name:  "no kind",
			input: "apiVersion: v1\nmetadata: {name: x}\n",
			want:  []string{`in.yaml: document 1 (line 1): no kind`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objects, err := newReader(t).Read("in.yaml", []byte(tc.input))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v (%T), want Errors", err, err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if len(objects) != tc.decoded {
				t.Errorf("decoded %d objects, want %d (an object with an error must not be returned)", len(objects), tc.decoded)
			}
		})
	}
}

func TestSplitDocumentsKeepsLineNumbers(t *testing.T) {
	input := "---\n# only a comment\n---\na: 1\n...\n--- b: 2\n---\r\nc: 3\r\n"
	docs := splitDocuments([]byte(input))
	var got []string
	for _, d := range docs {
		got = append(got, strings.TrimSpace(string(d.text))+"@"+strconv.Itoa(d.firstLine))
	}
	if want := "a: 1@4 b: 2@6 c: 3@8"; strings.Join(got, " ") != want {
		t.Errorf("got %q, want %q", strings.Join(got, " "), want)
	}
}

func TestObjectLineFindsFieldsWrittenInEitherCase(t *testing.T) {
	objects, err := newReader(t).ReadPaths([]string{"testdata/cluster.yaml", "testdata/kubectl-list.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	envoyFilter, listItem := objects[4], objects[6]
	for _, tc := range []struct {
		object Object
		path   string
		want   int
	}{
		{envoyFilter, "spec.configPatches[0].patch.value.connection_balance_config.extend_balance.typed_config", 65},
		{envoyFilter, "spec.configPatches[0].patch.value.connectionBalanceConfig.extendBalance.typedConfig.id", 67},
		{envoyFilter, `spec.workloadSelector.labels["istio"]`, 55},
		{envoyFilter, "spec.configPatches[1]", 0},
		{listItem, "spec.configPatches[0].patch.value.typed_config", 38},
	} {
		if got := tc.object.Line(tc.path); got != tc.want {
			t.Errorf("%s: Line(%s) = %d, want %d", tc.object.Source, tc.path, got, tc.want)
		}
	}
}
