// Package operator benchmarks the meshaccel operator at scale against a real kube-apiserver and etcd:
// 1,000 nodes, 10,000 pods, 2,000 Deployments. The operator runs as its own process (the binary from
// cmd/meshaccel-operator), so its memory is measured alone.
//
//	make bench-operator
//	go test ./benchmarks/operator -run '^$' -bench OperatorAtScale -benchtime 1x -timeout 60m
package operator

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/operator"
	"github.com/meshaccel/meshaccel/operator/localcluster"
)

var (
	pools             = flag.Int("pools", 20, "node pools, one namespace and one policy each")
	nodesPerPool      = flag.Int("nodes-per-pool", 50, "nodes per pool")
	capablePerPool    = flag.Int("capable-per-pool", 1, "AVX-512 (CryptoMB-capable) nodes per pool; the timed label changes toggle the first, so with one the decision flips")
	workloadsPerPool  = flag.Int("workloads-per-pool", 100, "Deployments per namespace")
	podsPerWorkload   = flag.Int("pods-per-workload", 5, "running pods per Deployment")
	labelChanges      = flag.Int("label-changes", 40, "node label changes timed")
	operatorQPS       = flag.Int("operator-qps", 200, "the operator's client-side request rate limit")
	populateWorkers   = flag.Int("populate-workers", 32, "parallel requests while creating the cluster")
	changeSettleQuiet = flag.Duration("settle", 500*time.Millisecond, "quiet time that ends a label change's measurement")
	operatorLogLevel  = flag.String("operator-log-level", "error", "the operator's --zap-log-level (its log is kept in the benchmark's temporary directory)")
)

const cryptombLabel = "meshaccel.feature.node.kubernetes.io/cryptomb"

func avx512Labels() map[string]string {
	return map[string]string{
		"feature.node.kubernetes.io/cpu-cpuid.AVX512F":     "true",
		"feature.node.kubernetes.io/cpu-cpuid.AVX512DQ":    "true",
		"feature.node.kubernetes.io/cpu-cpuid.AVX512BW":    "true",
		"feature.node.kubernetes.io/cpu-cpuid.AVX512IFMA":  "true",
		"feature.node.kubernetes.io/cpu-cpuid.AVX512VBMI2": "true",
		cryptombLabel: "true",
	}
}

type bench struct {
	b       *testing.B
	k8s     client.WithWatch
	cluster *localcluster.Cluster
	dir     string
	binary  string
	report  []string
}

func (s *bench) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	s.b.Log(line)
	fmt.Fprintln(os.Stderr, line)
}

func BenchmarkOperatorAtScale(b *testing.B) {
	start := time.Now()
	s := &bench{b: b, dir: b.TempDir()}
	s.logf("building the operator binary")
	s.binary = filepath.Join(s.dir, "meshaccel-operator")
	build := exec.Command("go", "build", "-o", s.binary, "./cmd/meshaccel-operator")
	build.Dir = localcluster.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	cluster, err := localcluster.Start(localcluster.Options{ExtraAPIServerArgs: map[string]string{
		// The defaults (400/200) throttle the populate phase, not the operator.
		"max-requests-inflight": "2000", "max-mutating-requests-inflight": "1000",
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Stop()
	s.cluster = cluster
	kubeconfig := filepath.Join(s.dir, "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig); err != nil {
		b.Fatal(err)
	}
	cfg := *cluster.Config
	cfg.QPS, cfg.Burst = 5000, 10000
	s.k8s, err = client.NewWithWatch(&cfg, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		b.Fatal(err)
	}

	nodes, pods, workloads := s.populate()
	s.logf("cluster ready after %s: %d nodes, %d pods, %d Deployments, %d policies", time.Since(start).Round(time.Second), nodes, pods, workloads, *pools)
	b.ResetTimer()

	// Cold start: nothing applied yet; the operator applies every workload and writes every status.
	op := s.startOperator(kubeconfig, "cold")
	coldStart := time.Now()
	s.waitForAllStatuses(10 * time.Minute)
	cold := time.Since(coldStart)
	s.waitQuiet(op)
	coldReconcile := op.lastReconcile()
	coldWrites := op.writes()
	s.logf("cold start: every workload applied and every policy reported %s after the operator started", cold.Round(time.Millisecond))

	// Node label changes: each toggles the CryptoMB label on the capable node of one pool, so CryptoMB
	// is switched off (or back on) for that pool's workloads: their pod templates lose (or regain) the
	// key provider and the placement constraint.
	var first, all []time.Duration
	for i := 0; i < *labelChanges; i++ {
		f, a, n := s.toggleAndMeasure(op, i)
		first = append(first, f)
		all = append(all, a)
		if i == 0 || (i+1)%10 == 0 {
			s.logf("label change %d: first workload updated after %s, all %d after %s", i+1, f.Round(time.Millisecond), n, a.Round(time.Millisecond))
		}
	}

	// Full resync: an operator restart lists the whole cluster, runs Translate and finds everything up
	// to date.
	rss, hwm := op.memory()
	changeWrites := op.writes() - coldWrites
	op.stop()
	op = s.startOperator(kubeconfig, "restart")
	restartStart := time.Now()
	for op.metric("meshaccel_reconcile_total", "result", "success") < 1 {
		time.Sleep(20 * time.Millisecond)
	}
	restart := time.Since(restartStart)
	resync := op.lastReconcile()
	var phases []string
	for _, phase := range []string{"snapshot", "translate", "apply", "prune", "status", "cachesync"} {
		d := time.Duration(op.metric("meshaccel_reconcile_duration_seconds", "phase", phase) / max(1, op.reconciles()) * float64(time.Second))
		phases = append(phases, fmt.Sprintf("%s %s", phase, d.Round(time.Millisecond)))
	}
	heap := op.metric("go_memstats_heap_inuse_bytes", "", "")
	rss2, hwm2 := op.memory()
	restartWrites := op.writes()
	op.stop()

	pct := func(d []time.Duration, p float64) time.Duration {
		sorted := slices.Clone(d)
		slices.Sort(sorted)
		return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
	}
	b.ReportMetric(float64(pct(all, 0.5).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(pct(all, 0.99).Milliseconds()), "p99-ms")
	b.ReportMetric(resync.Seconds(), "resync-s")
	b.ReportMetric(float64(max(hwm, hwm2))/(1<<20), "peak-rss-MB")

	fmt.Printf("\n| measure | result | target |\n|---|---|---|\n")
	fmt.Printf("| node label change → every affected workload applied (%d changes, %d workloads each), p50 | %s | ≤ 1 s |\n", len(all), *workloadsPerPool, pct(all, 0.5).Round(time.Millisecond))
	fmt.Printf("| same, p99 | %s | ≤ 2 s |\n", pct(all, 0.99).Round(time.Millisecond))
	fmt.Printf("| node label change → first workload applied, p50 / p99 | %s / %s | |\n", pct(first, 0.5).Round(time.Millisecond), pct(first, 0.99).Round(time.Millisecond))
	fmt.Printf("| full resync: one reconcile of the whole cluster, nothing to change | %s | ≤ 10 s |\n", resync.Round(time.Millisecond))
	fmt.Printf("| that reconcile by phase | %s | |\n", strings.Join(phases, ", "))
	fmt.Printf("| operator restart → first reconcile done (cache sync included), writes | %s, %v writes | |\n", restart.Round(time.Millisecond), restartWrites)
	fmt.Printf("| cold start → all %d workloads applied and %d policies reported (%v writes, mean reconcile %s) | %s | |\n", workloads, *pools, coldWrites, coldReconcile.Round(time.Millisecond), cold.Round(time.Millisecond))
	fmt.Printf("| operator RSS after the label changes (peak) | %d MB (%d MB) | ≤ 300 MB |\n", rss>>20, hwm>>20)
	fmt.Printf("| operator RSS after the restart resync (peak); Go heap in use | %d MB (%d MB); %.0f MB | |\n", rss2>>20, hwm2>>20, heap/(1<<20))
	fmt.Printf("| write requests during the label changes | %v | |\n", changeWrites)
	fmt.Printf("\nCluster: %d nodes (%d pools, %d AVX-512 nodes each), %d pods, %d Deployments, %d policies (CryptoMB, Required placement). %s, %d CPUs, GOMAXPROCS %d.\n",
		nodes, *pools, *capablePerPool, pods, workloads, *pools, runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
}

func (s *bench) namespace(pool int) string { return fmt.Sprintf("bench-%02d", pool) }
func (s *bench) nodeName(pool, i int) string {
	return fmt.Sprintf("pool-%02d-node-%03d", pool, i)
}

// populate creates the cluster with many parallel requests, playing kubelets and the node lifecycle
// controller (node and pod status, no not-ready taint).
func (s *bench) populate() (nodes, pods, workloads int) {
	ctx := context.Background()
	jobs := make(chan func() error)
	var failed atomic.Value
	var wg sync.WaitGroup
	for range *populateWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range jobs {
				for attempt := 0; ; attempt++ {
					err := job()
					if err == nil {
						break
					}
					if attempt == 5 {
						failed.Store(err)
						break
					}
					time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
				}
			}
		}()
	}
	var created atomic.Int64
	submit := func(job func() error) {
		jobs <- func() error {
			err := job()
			if err == nil && created.Add(1)%2000 == 0 {
				s.logf("  created %d objects", created.Load())
			}
			return err
		}
	}
	for p := range *pools {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.namespace(p)}}
		if err := s.k8s.Create(ctx, ns); err != nil {
			s.b.Fatal(err)
		}
	}
	for p := range *pools {
		for i := range *nodesPerPool {
			labels := map[string]string{"kubernetes.io/arch": "amd64", "kubernetes.io/hostname": s.nodeName(p, i), "pool": fmt.Sprint(p)}
			if i < *capablePerPool {
				for k, v := range avx512Labels() {
					labels[k] = v
				}
			}
			name := s.nodeName(p, i)
			nodes++
			submit(func() error {
				node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
				if err := s.k8s.Create(ctx, node); err != nil && !strings.Contains(err.Error(), "already exists") {
					return err
				}
				node.Spec.Taints = nil
				if err := s.k8s.Update(ctx, node); err != nil {
					return err
				}
				node.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")}
				node.Status.Capacity = node.Status.Allocatable
				node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
				return s.k8s.Status().Update(ctx, node)
			})
		}
	}
	for p := range *pools {
		ns := s.namespace(p)
		for w := range *workloadsPerPool {
			name := fmt.Sprintf("svc-%03d", w)
			labels := map[string]string{"app": name, "part-of": "bench"}
			workloads++
			submit(func() error {
				d := &appsv1.Deployment{
					ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
					Spec: appsv1.DeploymentSpec{
						Replicas: ptrTo(int32(*podsPerWorkload)),
						Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
						Template: corev1.PodTemplateSpec{
							ObjectMeta: metav1.ObjectMeta{Labels: labels},
							Spec: corev1.PodSpec{
								// Pinned to the pool by node affinity: meshaccel adds its own nodeSelector.
								Affinity:   poolAffinity(p),
								Containers: []corev1.Container{{Name: "app", Image: "registry.example/" + name + ":1"}},
							},
						},
					},
				}
				err := s.k8s.Create(ctx, d)
				if err != nil && strings.Contains(err.Error(), "already exists") {
					return nil
				}
				return err
			})
			for r := range *podsPerWorkload {
				podName := fmt.Sprintf("%s-%d", name, r)
				node := s.nodeName(p, (w*(*podsPerWorkload)+r)%*nodesPerPool)
				pods++
				submit(func() error {
					pod := &corev1.Pod{
						ObjectMeta: metav1.ObjectMeta{Name: podName, Namespace: ns, Labels: labels},
						Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.example/" + name + ":1"}}},
					}
					if err := s.k8s.Create(ctx, pod); err != nil && !strings.Contains(err.Error(), "already exists") {
						return err
					}
					pod.Status.Phase = corev1.PodRunning
					return s.k8s.Status().Update(ctx, pod)
				})
			}
		}
	}
	for p := range *pools {
		policy := &v1alpha1.AccelerationPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: s.namespace(p)},
			Spec: v1alpha1.AccelerationPolicySpec{
				Workloads: v1alpha1.WorkloadSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"part-of": "bench"}}},
				Features:  v1alpha1.Features{CryptoMB: &v1alpha1.KeyProviderFeature{PollDelay: &metav1.Duration{Duration: 5 * time.Millisecond}}},
				Placement: v1alpha1.PlacementRequired,
			},
		}
		submit(func() error { return s.k8s.Create(ctx, policy) })
	}
	close(jobs)
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		s.b.Fatalf("populating the cluster: %v", err)
	}
	return nodes, pods, workloads
}

func ptrTo[T any](v T) *T { return &v }

func poolAffinity(pool int) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "pool", Operator: corev1.NodeSelectorOpIn, Values: []string{fmt.Sprint(pool)}}},
		}}},
	}}
}

// waitForAllStatuses waits until every policy reports every workload and every workload has been
// applied.
func (s *bench) waitForAllStatuses(timeout time.Duration) {
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var policies v1alpha1.AccelerationPolicyList
		if err := s.k8s.List(ctx, &policies); err != nil {
			s.b.Fatal(err)
		}
		done := len(policies.Items) == *pools
		for _, p := range policies.Items {
			if p.Status.ObservedGeneration != p.Generation || int(p.Status.SelectedWorkloads) != *workloadsPerPool {
				done = false
			}
		}
		if done {
			var deployments appsv1.DeploymentList
			if err := s.k8s.List(ctx, &deployments); err != nil {
				s.b.Fatal(err)
			}
			for _, d := range deployments.Items {
				if d.Spec.Template.Annotations["proxy.istio.io/config"] == "" {
					done = false
					break
				}
			}
		}
		if done {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.b.Fatalf("the operator did not apply everything within %s", timeout)
}

// waitQuiet waits until the operator has made no write for a while.
func (s *bench) waitQuiet(op *operatorProcess) {
	last, since := op.writes(), time.Now()
	for time.Since(since) < 2*time.Second {
		time.Sleep(200 * time.Millisecond)
		if w := op.writes(); w != last {
			last, since = w, time.Now()
		}
	}
}

// toggleAndMeasure flips the CryptoMB label of the first node of one pool and measures, from the label
// patch, when the first and the last of that pool's workloads were updated.
func (s *bench) toggleAndMeasure(op *operatorProcess, i int) (first, all time.Duration, updated int) {
	ctx := context.Background()
	pool := i % *pools
	ns := s.namespace(pool)
	var deployments appsv1.DeploymentList
	if err := s.k8s.List(ctx, &deployments, client.InNamespace(ns)); err != nil {
		s.b.Fatal(err)
	}
	w, err := s.k8s.Watch(ctx, &appsv1.DeploymentList{}, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: deployments.ResourceVersion}})
	if err != nil {
		s.b.Fatal(err)
	}
	defer w.Stop()
	generations := map[string]int64{}
	for _, d := range deployments.Items {
		generations[d.Name] = d.Generation
	}

	node := s.nodeName(pool, 0)
	var n corev1.Node
	if err := s.k8s.Get(ctx, client.ObjectKey{Name: node}, &n); err != nil {
		s.b.Fatal(err)
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"true"}}}`, cryptombLabel)
	if _, ok := n.Labels[cryptombLabel]; ok {
		patch = fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, cryptombLabel)
	}
	changed := time.Now()
	if err := s.k8s.Patch(ctx, &n, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		s.b.Fatal(err)
	}
	seen := map[string]bool{}
	timeout := time.After(60 * time.Second)
	for len(seen) < len(generations) {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				s.b.Fatalf("watch closed")
			}
			if ev.Type != watch.Modified {
				continue
			}
			d := ev.Object.(*appsv1.Deployment)
			if d.Generation > generations[d.Name] && !seen[d.Name] {
				seen[d.Name] = true
				if len(seen) == 1 {
					first = time.Since(changed)
				}
				all = time.Since(changed)
			}
		case <-timeout:
			s.b.Fatalf("label change %d: %d of %d workloads updated after 60s", i, len(seen), len(generations))
		}
	}
	s.waitQuietFor(op, *changeSettleQuiet)
	return first, all, len(seen)
}

func (s *bench) waitQuietFor(op *operatorProcess, quiet time.Duration) {
	last, since := op.reconciles(), time.Now()
	for time.Since(since) < quiet {
		time.Sleep(50 * time.Millisecond)
		if r := op.reconciles(); r != last {
			last, since = r, time.Now()
		}
	}
}

// operatorProcess is the operator binary running against the local control plane.
type operatorProcess struct {
	b       *testing.B
	cmd     *exec.Cmd
	metrics string
	done    chan error
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *bench) startOperator(kubeconfig, name string) *operatorProcess {
	metricsPort, probePort := freePort(), freePort()
	logFile, err := os.Create(filepath.Join(s.dir, "operator-"+name+".log"))
	if err != nil {
		s.b.Fatal(err)
	}
	cmd := exec.Command(s.binary,
		"--kubeconfig", kubeconfig,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", metricsPort),
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", probePort),
		"--proxy-flavor", "IstioProxyV2", "--proxy-version", "1.28.2",
		"--kube-api-qps", fmt.Sprint(*operatorQPS), "--kube-api-burst", fmt.Sprint(2**operatorQPS),
		"--zap-log-level", *operatorLogLevel)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		s.b.Fatal(err)
	}
	op := &operatorProcess{b: s.b, cmd: cmd, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort), done: make(chan error, 1)}
	go func() { op.done <- cmd.Wait() }()
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-op.done:
			s.b.Fatalf("operator exited: %v (log %s)", err, logFile.Name())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return op
}

func (op *operatorProcess) stop() {
	_ = op.cmd.Process.Signal(os.Interrupt)
	select {
	case <-op.done:
	case <-time.After(40 * time.Second):
		_ = op.cmd.Process.Kill()
		op.b.Errorf("operator did not stop within 40s of SIGINT")
	}
}

// memory returns the process's current and peak resident set size in bytes.
func (op *operatorProcess) memory() (rss, peak int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", op.cmd.Process.Pid))
	if err != nil {
		op.b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak
}

// metric sums the samples of a metric with the given label, from the operator's /metrics endpoint
// (histograms: the sum of observations).
func (op *operatorProcess) metric(name, label, value string) float64 {
	resp, err := http.Get(op.metrics)
	if err != nil {
		op.b.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		op.b.Fatal(err)
	}
	f, ok := families[name]
	if !ok {
		return 0
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		match := label == ""
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				match = true
			}
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			total += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			total += m.GetHistogram().GetSampleSum()
		}
	}
	return total
}

func (op *operatorProcess) writes() float64 {
	return op.metric("meshaccel_object_operations_total", "outcome", "applied") +
		op.metric("meshaccel_object_operations_total", "outcome", "deleted") +
		op.metric("meshaccel_object_operations_total", "outcome", "released")
}

func (op *operatorProcess) reconciles() float64 {
	return op.metric("meshaccel_reconcile_total", "", "")
}

// lastReconcile is the mean duration of the reconciles so far (after a restart: the first, full one).
func (op *operatorProcess) lastReconcile() time.Duration {
	sum := op.metric("meshaccel_reconcile_duration_seconds", "phase", "total")
	n := op.reconciles()
	if n == 0 {
		return 0
	}
	return time.Duration(sum / n * float64(time.Second))
}
