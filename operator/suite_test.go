package operator_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	istionetworkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/operator"
	"github.com/meshaccel/meshaccel/operator/localcluster"
)

// The suite runs against one real kube-apiserver and etcd with every CRD installed once (the API server
// pauses on the first create after a CRD install). Tests run one after another, each with its own
// namespace, nodes and operator instance, and delete what they created.
var (
	cluster *localcluster.Cluster
	k8s     client.Client
)

// systemNamespace plays the operator's own namespace.
const systemNamespace = "meshaccel-system"

func TestMain(m *testing.M) {
	// The operator logs only with MESHACCEL_TEST_LOG=debug.
	if os.Getenv("MESHACCEL_TEST_LOG") == "debug" {
		log.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr)))
	} else {
		log.SetLogger(zap.New(zap.WriteTo(io.Discard)))
		klog.SetLogger(logr.Discard()) // client-go's leader election logs through klog
	}
	var err error
	cluster, err = localcluster.Start(localcluster.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k8s, err = client.New(cluster.Config, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := cluster.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
	}
	os.Exit(code)
}

// runningOperator is an operator started by a test.
type runningOperator struct {
	reconciler *operator.Reconciler
	cancel     context.CancelFunc
	done       chan error
	once       sync.Once
}

// stop shuts the operator down the way SIGTERM does and waits for it.
func (o *runningOperator) stop(t *testing.T) {
	o.once.Do(func() {
		o.cancel()
		select {
		case err := <-o.done:
			if err != nil {
				t.Errorf("operator stopped with error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("operator did not stop within 30s")
		}
	})
}

type operatorConfig struct {
	manager operator.ManagerOptions
	options operator.Options
}

func startOperator(t *testing.T, mutate ...func(*operatorConfig)) *runningOperator {
	t.Helper()
	cfg := operatorConfig{
		manager: operator.ManagerOptions{MetricsAddr: "0", ProbeAddr: "0", GracefulShutdownTimeout: 10 * time.Second},
		options: operator.Options{
			DefaultProxy:          capability.Proxy{Flavor: v1alpha1.ProxyIstioProxyV2, Version: "1.26.3"},
			SystemNamespace:       systemNamespace,
			Debounce:              50 * time.Millisecond,
			AllowSeveralInProcess: true,
		},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	mgr, err := operator.NewManager(cluster.Config, cfg.manager)
	if err != nil {
		t.Fatal(err)
	}
	r, err := operator.Setup(mgr, cfg.options)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &runningOperator{reconciler: r, cancel: cancel, done: make(chan error, 1)}
	go func() { o.done <- mgr.Start(ctx) }()
	t.Cleanup(func() { o.stop(t) })
	return o
}

// waitForReconciles waits until the operator has completed more than n reconciles.
func (o *runningOperator) waitForReconciles(t *testing.T, n uint64) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		if got := o.reconciler.Reconciles(); got <= n {
			return fmt.Errorf("%d reconciles completed, waiting for more than %d", got, n)
		}
		return nil
	})
}

// eventually retries check until it succeeds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var nonDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// newNamespace creates a namespace named after the test.
func newNamespace(t *testing.T) string {
	t.Helper()
	name := nonDNS.ReplaceAllString(strings.ToLower(t.Name()), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	name = strings.Trim(name, "-") + "-" + rand.String(5)
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// create creates obj and deletes it when the test ends.
func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	t.Cleanup(func() {
		if err := k8s.Delete(context.Background(), obj); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting %T %s: %v", obj, obj.GetName(), err)
		}
	})
}

// Node labels as NFD and meshaccel's NodeFeatureRules publish them.
var (
	avx512Labels = map[string]string{
		"feature.node.kubernetes.io/cpu-cpuid.AVX512F":     "true",
		"feature.node.kubernetes.io/cpu-cpuid.AVX512DQ":    "true",
		"feature.node.kubernetes.io/cpu-cpuid.AVX512BW":    "true",
		"feature.node.kubernetes.io/cpu-cpuid.AVX512IFMA":  "true",
		"feature.node.kubernetes.io/cpu-cpuid.AVX512VBMI2": "true",
		"meshaccel.feature.node.kubernetes.io/cryptomb":    "true",
	}
	qatGen4Labels = map[string]string{
		"meshaccel.feature.node.kubernetes.io/qat-gen4": "true",
		"intel.feature.node.kubernetes.io/qat":          "true",
	}
	dlbLabels = map[string]string{"meshaccel.feature.node.kubernetes.io/dlb": "true"}
)

// createNode creates a ready node with the given feature labels and allocatable resources. It plays
// the kubelet and the node lifecycle controller: status is written after create, and the not-ready
// taint the API server puts on every new node is removed.
func createNode(t *testing.T, name string, featureLabels map[string]string, allocatable corev1.ResourceList) *corev1.Node {
	t.Helper()
	labels := map[string]string{"kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name}
	for k, v := range featureLabels {
		labels[k] = v
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	create(t, node)
	node.Spec.Taints = nil
	if err := k8s.Update(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	if allocatable == nil {
		allocatable = resources()
	}
	node.Status.Allocatable = allocatable
	node.Status.Capacity = allocatable
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
	if err := k8s.Status().Update(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	return node
}

func resources(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16")}
	for i := 0; i+1 < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

// sidecarDeployment is a plain workload whose pods get an Istio sidecar by injection.
func sidecarDeployment(namespace, name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "registry.example/" + name + ":1"}}},
			},
		},
	}
}

// gatewayDeployment is an Istio ingress gateway Deployment (gateway injection template, istio-proxy).
func gatewayDeployment(namespace, name string) *appsv1.Deployment {
	labels := map[string]string{"istio": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"inject.istio.io/templates": "gateway"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Image: "auto"}}},
			},
		},
	}
}

// runningPod creates a running pod of a workload on a node.
func runningPod(t *testing.T, namespace, name string, labels map[string]string, node string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}
	create(t, pod)
	pod.Status.Phase = corev1.PodRunning
	if err := k8s.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

func cryptoMBPolicy(namespace, name string, selector map[string]string) *v1alpha1.AccelerationPolicy {
	return &v1alpha1.AccelerationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: v1alpha1.AccelerationPolicySpec{
			Workloads: v1alpha1.WorkloadSelector{Selector: &metav1.LabelSelector{MatchLabels: selector}},
			Features:  v1alpha1.Features{CryptoMB: &v1alpha1.KeyProviderFeature{PollDelay: &metav1.Duration{Duration: 5 * time.Millisecond}}},
			Placement: v1alpha1.PlacementRequired,
		},
	}
}

func getDeployment(t *testing.T, namespace, name string) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func getPolicy(namespace, name string) (*v1alpha1.AccelerationPolicy, error) {
	var p v1alpha1.AccelerationPolicy
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &p)
	return &p, err
}

// featureStatus returns a workload's decision for a feature from the policy's status.
func featureStatus(p *v1alpha1.AccelerationPolicy, kind, workload, feature string) (v1alpha1.FeatureStatus, *v1alpha1.WorkloadStatus, error) {
	for i := range p.Status.Workloads {
		w := &p.Status.Workloads[i]
		if w.Kind != kind || w.Name != workload {
			continue
		}
		for _, f := range w.Features {
			if f.Feature == feature {
				return f, w, nil
			}
		}
	}
	return v1alpha1.FeatureStatus{}, nil, fmt.Errorf("policy %s has no %s decision for %s %s (status %+v)", p.Name, feature, kind, workload, p.Status)
}

func waitForFeature(t *testing.T, namespace, policy, kind, workload, feature string, enabled bool, reason string) *v1alpha1.AccelerationPolicy {
	t.Helper()
	var last *v1alpha1.AccelerationPolicy
	eventually(t, 20*time.Second, func() error {
		p, err := getPolicy(namespace, policy)
		if err != nil {
			return err
		}
		last = p
		f, _, err := featureStatus(p, kind, workload, feature)
		if err != nil {
			return err
		}
		if f.Enabled != enabled || (reason != "" && f.Reason != reason) {
			return fmt.Errorf("%s for %s: enabled=%v reason=%s (%s), want enabled=%v reason=%s", feature, workload, f.Enabled, f.Reason, f.Message, enabled, reason)
		}
		return nil
	})
	return last
}

func condition(p *v1alpha1.AccelerationPolicy, conditionType string) *metav1.Condition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == conditionType {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// managedBy lists the field managers holding fields of an object through server-side apply.
func appliedBy(obj metav1.Object, manager string) bool {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager == manager && mf.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

func envoyFilter(t *testing.T, namespace, name string) (*istionetworkingv1alpha3.EnvoyFilter, error) {
	t.Helper()
	var ef istionetworkingv1alpha3.EnvoyFilter
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &ef)
	return &ef, err
}

func isNotFound(err error) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status) && apierrors.IsNotFound(err)
}

type eventsList struct{ eventsv1.EventList }

// metricSum adds up a metric's samples whose labels include every given label pair, from
// controller-runtime's registry (the one the operator's /metrics endpoint serves).
func metricSum(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	samples:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue samples
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// writes counts the write requests the operator has made so far.
func writes(t *testing.T) float64 {
	t.Helper()
	total := 0.0
	for _, outcome := range []string{"applied", "deleted", "released"} {
		total += metricSum(t, "meshaccel_object_operations_total", map[string]string{"outcome": outcome})
	}
	return total
}
