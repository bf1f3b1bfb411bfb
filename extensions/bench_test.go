package extensions_test

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions"
	"github.com/meshaccel/meshaccel/extensions/capability"
)

// generatedCluster builds a cluster of the size the operator must handle: a mix of AVX-512, QAT Gen4,
// QAT 1.x, plain and arm64 nodes; workloads spread over namespaces with one policy each per namespace.
func generatedCluster(nodes, pods, workloads, policies int) extensions.Input {
	in := extensions.Input{DefaultProxy: capability.Proxy{Flavor: v1alpha1.ProxyIstioProxyV2, Version: "1.28.2"}}
	for i := 0; i < nodes; i++ {
		name := fmt.Sprintf("node-%05d", i)
		n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/arch": "amd64"}}}
		switch i % 5 {
		case 0:
			n.Labels["meshaccel.feature.node.kubernetes.io/cryptomb"] = "true"
		case 1:
			n.Labels["meshaccel.feature.node.kubernetes.io/cryptomb"] = "true"
			n.Status.Allocatable = corev1.ResourceList{"qat.intel.com/cy": resource.MustParse("16")}
		case 2:
			n.Status.Allocatable = corev1.ResourceList{"qat.intel.com/generic": resource.MustParse("8")}
		case 3:
			for _, f := range []string{"AVX512F", "AVX512DQ", "AVX512BW", "AVX512IFMA", "AVX512VBMI2"} {
				n.Labels["feature.node.kubernetes.io/cpu-cpuid."+f] = "true"
			}
		case 4:
			n.Labels["kubernetes.io/arch"] = "arm64"
		}
		in.Nodes = append(in.Nodes, n)
	}
	for i := 0; i < workloads; i++ {
		ns := fmt.Sprintf("ns-%03d", i%policies)
		app := fmt.Sprintf("app-%05d", i)
		in.Deployments = append(in.Deployments, appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app, "accelerate": "yes"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
				},
			},
		})
	}
	for i := 0; i < pods; i++ {
		w := i % workloads
		in.Pods = append(in.Pods, corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%05d-%d", w, i), Namespace: fmt.Sprintf("ns-%03d", w%policies), Labels: map[string]string{"app": fmt.Sprintf("app-%05d", w)}},
			Spec:       corev1.PodSpec{NodeName: fmt.Sprintf("node-%05d", i%nodes)},
		})
	}
	for i := 0; i < policies; i++ {
		in.Policies = append(in.Policies, v1alpha1.AccelerationPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "accelerate", Namespace: fmt.Sprintf("ns-%03d", i)},
			Spec: v1alpha1.AccelerationPolicySpec{
				Workloads: v1alpha1.WorkloadSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"accelerate": "yes"}}},
				Features:  v1alpha1.Features{QAT: &v1alpha1.QATFeature{}, CryptoMB: &v1alpha1.KeyProviderFeature{}},
			},
		})
	}
	return in
}

// BenchmarkTranslate: 5,000 nodes, 50,000 pods, 5,000 workloads, 100 policies. Target <= 200 ms and
// <= 200 MB allocated per call.
func BenchmarkTranslate(b *testing.B) {
	in := generatedCluster(5000, 50000, 5000, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		result, err := extensions.Translate(in)
		if err != nil {
			b.Fatal(err)
		}
		if len(result.WorkloadPatches) != 5000 {
			b.Fatalf("%d workload patches, want 5000", len(result.WorkloadPatches))
		}
	}
}

// TestGeneratedClusterDecisions checks the benchmark measures real work: every workload gets QAT or
// CryptoMB, by the node mix.
func TestGeneratedClusterDecisions(t *testing.T) {
	result, err := extensions.Translate(generatedCluster(50, 200, 20, 4))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range result.Workloads {
		if len(d.Features) != 2 || !d.Features[0].Enabled || d.Features[0].Feature != capability.QAT || d.Features[1].Reason != extensions.ReasonQATPreferred {
			t.Fatalf("%s: %+v", d.Workload, d.Features)
		}
	}
}
