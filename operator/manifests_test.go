package operator_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	nfdv1alpha1 "sigs.k8s.io/node-feature-discovery/api/nfd/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/meshaccel/meshaccel/operator"
	"github.com/meshaccel/meshaccel/operator/localcluster"
)

// tool finds a binary that hack/install-operator-tools.sh installs.
func tool(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(localcluster.RepoRoot(), ".cache", "bin", name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s not found: run hack/install-operator-tools.sh (make test-operator does)", path)
	}
	return path
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = localcluster.RepoRoot()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func manifestScheme() *runtime.Scheme {
	s := operator.NewScheme()
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// manifest is one rendered object: typed (strictly decoded) and as written.
type manifest struct {
	typed client.Object
	raw   *unstructured.Unstructured
}

// decodeManifests splits a multi-document YAML stream and decodes every object strictly with the
// typed scheme: an unknown or misspelt field fails the test.
func decodeManifests(t *testing.T, stream []byte) []client.Object {
	t.Helper()
	var out []client.Object
	for _, m := range decodeRawManifests(t, stream) {
		out = append(out, m.typed)
	}
	return out
}

func decodeRawManifests(t *testing.T, stream []byte) []manifest {
	t.Helper()
	scheme := manifestScheme()
	strict := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{Yaml: true, Strict: true})
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var out []manifest
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := strict.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("decoding manifest: %v\n%s", err, doc)
		}
		cobj, ok := obj.(client.Object)
		if !ok {
			t.Fatalf("%s is not an object", gvk)
		}
		cobj.GetObjectKind().SetGroupVersionKind(*gvk)
		raw := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &raw.Object); err != nil {
			t.Fatal(err)
		}
		out = append(out, manifest{typed: cobj, raw: raw})
	}
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		trimmed := bytes.TrimSpace(line)
		if !bytes.HasPrefix(trimmed, []byte("#")) && !bytes.Equal(trimmed, []byte("---")) {
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// dryRunApply sends every object to the real API server as a server-side dry-run apply, which runs
// OpenAPI and CEL validation and admission without persisting anything.
func dryRunApply(t *testing.T, objs []manifest, namespace string) {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := k8s.Create(ctx, ns); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	for _, m := range objs {
		u := m.raw.DeepCopy()
		err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("manifest-test"), client.ForceOwnership, client.DryRunAll)
		if err != nil {
			t.Errorf("the API server refuses %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

func find[T client.Object](objs []client.Object, name string) (T, bool) {
	var zero T
	for _, o := range objs {
		if typed, ok := o.(T); ok && (name == "" || o.GetName() == name) {
			return typed, true
		}
	}
	return zero, false
}

func kinds(objs []client.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetObjectKind().GroupVersionKind().Kind)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// generatedRBAC reads deploy/rbac/role.yaml, generated from the operator's +kubebuilder:rbac markers.
func generatedRBAC(t *testing.T) (*rbacv1.ClusterRole, *rbacv1.Role) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(localcluster.RepoRoot(), "deploy", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeManifests(t, raw)
	cr, ok1 := find[*rbacv1.ClusterRole](objs, "")
	r, ok2 := find[*rbacv1.Role](objs, "")
	if !ok1 || !ok2 {
		t.Fatalf("deploy/rbac/role.yaml lacks the ClusterRole or the Role: %v", kinds(objs))
	}
	return cr, r
}

// checkOperatorManifests checks what both packagings must agree on.
func checkOperatorManifests(t *testing.T, objs []client.Object, namespace string) {
	t.Helper()
	wantCR, wantRole := generatedRBAC(t)
	cr, ok := find[*rbacv1.ClusterRole](objs, "")
	if !ok {
		t.Fatalf("no ClusterRole in %v", kinds(objs))
	}
	if !equality.Semantic.DeepEqual(cr.Rules, wantCR.Rules) {
		t.Errorf("ClusterRole rules differ from the generated ones:\n%v\nwant\n%v", cr.Rules, wantCR.Rules)
	}
	role, ok := find[*rbacv1.Role](objs, "")
	if !ok || !equality.Semantic.DeepEqual(role.Rules, wantRole.Rules) || role.Namespace != namespace {
		t.Errorf("leader-election Role %+v, want the generated rules in %s", role, namespace)
	}
	for _, verb := range []string{"delete", "patch", "create"} {
		for _, rule := range cr.Rules {
			if slices.Contains(rule.Verbs, verb) && slices.Contains(rule.Resources, "nodes") {
				t.Errorf("the operator may %s nodes: %+v", verb, rule)
			}
		}
	}

	d, ok := find[*appsv1.Deployment](objs, "")
	if !ok {
		t.Fatalf("no Deployment in %v", kinds(objs))
	}
	if d.Namespace != namespace {
		t.Errorf("operator Deployment in namespace %q, want %q", d.Namespace, namespace)
	}
	sa, ok := find[*corev1.ServiceAccount](objs, d.Spec.Template.Spec.ServiceAccountName)
	if !ok || sa.Namespace != namespace {
		t.Errorf("the Deployment's service account %q is not in the manifests", d.Spec.Template.Spec.ServiceAccountName)
	}
	crb, ok := find[*rbacv1.ClusterRoleBinding](objs, "")
	if !ok || crb.RoleRef.Name != cr.Name || len(crb.Subjects) != 1 || crb.Subjects[0].Name != sa.Name || crb.Subjects[0].Namespace != namespace {
		t.Errorf("ClusterRoleBinding %+v does not bind ClusterRole %s to %s/%s", crb, cr.Name, namespace, d.Spec.Template.Spec.ServiceAccountName)
	}
	rb, ok := find[*rbacv1.RoleBinding](objs, "")
	if !ok || rb.RoleRef.Name != role.Name || rb.Subjects[0].Name != sa.Name {
		t.Errorf("RoleBinding %+v does not bind Role %s", rb, role.Name)
	}
	c := d.Spec.Template.Spec.Containers[0]
	for _, arg := range []string{"--leader-elect=true", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8080"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("operator args %v lack %s", c.Args, arg)
		}
	}
	if len(c.Env) == 0 || c.Env[0].Name != "POD_NAMESPACE" || c.Env[0].ValueFrom == nil {
		t.Errorf("operator env %+v lacks POD_NAMESPACE from the downward API (the leader lease's namespace)", c.Env)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: liveness %+v readiness %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container security context %+v", c.SecurityContext)
	}
	if _, ok := find[*apiextensionsv1.CustomResourceDefinition](objs, "accelerationpolicies.meshaccel.io"); !ok {
		t.Errorf("the AccelerationPolicy CRD is missing: %v", kinds(objs))
	}
}

func TestHelmChartRendersValidObjects(t *testing.T) {
	helm := tool(t, "helm")
	const namespace = "meshaccel-helm"
	chart := filepath.Join("deploy", "helm", "meshaccel")
	run(t, helm, "lint", "--strict", chart)
	out := run(t, helm, "template", "meshaccel", chart, "--namespace", namespace, "--include-crds")
	rendered := decodeRawManifests(t, out)
	objs := decodeManifests(t, out)
	checkOperatorManifests(t, objs, namespace)
	if _, ok := find[*appsv1.DaemonSet](objs, ""); ok {
		t.Errorf("the bypass DaemonSet renders although bypass.enabled defaults to false")
	}
	rule, ok := find[*nfdv1alpha1.NodeFeatureRule](objs, "meshaccel")
	if !ok {
		t.Fatalf("no NodeFeatureRule: %v", kinds(objs))
	}
	dryRunApply(t, rendered, namespace)

	// The chart's NodeFeatureRule is the one kustomize ships.
	raw, err := os.ReadFile(filepath.Join(localcluster.RepoRoot(), "deploy", "nfd", "nodefeaturerules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	source, ok := find[*nfdv1alpha1.NodeFeatureRule](decodeManifests(t, raw), "meshaccel")
	if !ok || !equality.Semantic.DeepEqual(rule.Spec, source.Spec) {
		t.Errorf("the chart's NodeFeatureRule differs from deploy/nfd/nodefeaturerules.yaml: run make manifests")
	}

	// Values reach the objects.
	out = run(t, helm, "template", "edge", chart, "--namespace", namespace, "--set", "nodeFeatureRules.enabled=false",
		"--set", "leaderElection.enabled=false", "--set", "replicas=1", "--set", "proxy.flavor=IstioContrib", "--set", "proxy.image=registry.example/proxyv2-contrib:1.28.2")
	rendered = decodeRawManifests(t, out)
	objs = decodeManifests(t, out)
	if _, ok := find[*nfdv1alpha1.NodeFeatureRule](objs, ""); ok {
		t.Errorf("NodeFeatureRule rendered with nodeFeatureRules.enabled=false")
	}
	if _, ok := find[*rbacv1.Role](objs, ""); ok {
		t.Errorf("leader-election Role rendered without leader election")
	}
	d, _ := find[*appsv1.Deployment](objs, "edge-operator")
	if d == nil {
		t.Fatalf("no Deployment edge-operator: %v", kinds(objs))
	}
	args := d.Spec.Template.Spec.Containers[0].Args
	for _, want := range []string{"--leader-elect=false", "--proxy-flavor=IstioContrib", "--proxy-image=registry.example/proxyv2-contrib:1.28.2"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %v lack %s", args, want)
		}
	}
	dryRunApply(t, rendered, namespace)
}

func TestKustomizeManifestsRenderValidObjects(t *testing.T) {
	kustomize := tool(t, "kustomize")
	out := run(t, kustomize, "build", filepath.Join("deploy", "kustomize"))
	objs := decodeManifests(t, out)
	rendered := decodeRawManifests(t, out)
	checkOperatorManifests(t, objs, "meshaccel-system")
	if _, ok := find[*nfdv1alpha1.NodeFeatureRule](objs, "meshaccel"); !ok {
		t.Errorf("no NodeFeatureRule: %v", kinds(objs))
	}
	dryRunApply(t, rendered, "meshaccel-system")

	// The operator alone, for clusters without NFD.
	objs = decodeManifests(t, run(t, kustomize, "build", filepath.Join("deploy", "kustomize", "operator")))
	if _, ok := find[*nfdv1alpha1.NodeFeatureRule](objs, ""); ok {
		t.Errorf("deploy/kustomize/operator includes the NodeFeatureRule")
	}
}

// TestNodeFeatureRulesPublishMeshaccelLabels checks the rules against the label contract the
// translator reads.
func TestNodeFeatureRulesPublishMeshaccelLabels(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(localcluster.RepoRoot(), "deploy", "nfd", "nodefeaturerules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rule, ok := find[*nfdv1alpha1.NodeFeatureRule](decodeManifests(t, raw), "meshaccel")
	if !ok {
		t.Fatal("no NodeFeatureRule meshaccel")
	}
	type want struct {
		feature string
		match   map[string][]string // element -> values (nil for Exists)
	}
	wants := map[string]want{
		"meshaccel.feature.node.kubernetes.io/cryptomb":   {"cpu.cpuid", map[string][]string{"BMI2": nil, "AVX512F": nil, "AVX512DQ": nil, "AVX512BW": nil, "AVX512IFMA": nil, "AVX512VBMI2": nil}},
		"meshaccel.feature.node.kubernetes.io/qat-gen4":   {"pci.device", map[string][]string{"vendor": {"8086"}, "device": {"4940", "4942", "4944", "4946", "4948"}}},
		"meshaccel.feature.node.kubernetes.io/qat-legacy": {"pci.device", map[string][]string{"vendor": {"8086"}, "device": {"37c8", "19e2", "18a0", "0434", "0435", "6f54"}}},
		"meshaccel.feature.node.kubernetes.io/dlb":        {"pci.device", map[string][]string{"vendor": {"8086"}, "device": {"2710"}}},
		"meshaccel.feature.node.kubernetes.io/hyperscan":  {"cpu.cpuid", map[string][]string{"SSSE3": nil}},
	}
	seen := map[string]bool{}
	for _, r := range rule.Spec.Rules {
		for label, value := range r.Labels {
			w, ok := wants[label]
			if !ok {
				t.Errorf("rule %s publishes unexpected label %s", r.Name, label)
				continue
			}
			seen[label] = true
			if value != "true" || len(r.MatchFeatures) != 1 || r.MatchFeatures[0].Feature != w.feature {
				t.Errorf("rule %s: value %q, features %+v", r.Name, value, r.MatchFeatures)
				continue
			}
			got := map[string][]string{}
			for element, expr := range *r.MatchFeatures[0].MatchExpressions {
				switch expr.Op {
				case nfdv1alpha1.MatchExists:
					got[element] = nil
				case nfdv1alpha1.MatchIn:
					got[element] = []string(expr.Value)
				default:
					t.Errorf("rule %s: %s uses %s", r.Name, element, expr.Op)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(w.match) {
				t.Errorf("rule %s matches %v, want %v", r.Name, got, w.match)
			}
		}
	}
	for label := range wants {
		if !seen[label] {
			t.Errorf("no rule publishes %s", label)
		}
	}
}
