// Package demo shows the operator working live: on a local control plane (or a real cluster) it
// creates the example cluster, runs the operator, prints what it applied and why, then takes a
// capability away from a node and prints what changed.
package demo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	istioextensionsv1alpha1 "istio.io/client-go/pkg/apis/extensions/v1alpha1"
	istionetworkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/meshaccel/meshaccel/api/v1alpha1"
	"github.com/meshaccel/meshaccel/extensions/capability"
	"github.com/meshaccel/meshaccel/hyperscan"
	"github.com/meshaccel/meshaccel/operator"
	"github.com/meshaccel/meshaccel/operator/localcluster"
)

// Options for Run.
type Options struct {
	// Kubeconfig, when set, runs against that cluster instead of a local control plane: the example
	// nodes are not created and no node is changed.
	Kubeconfig string
	// Examples is the example cluster (default examples/cluster.yaml in the repository).
	Examples string
	// DefaultProxy is the proxy workloads run unless their policy says otherwise.
	DefaultProxy capability.Proxy
	// RegexChecker is the Hyperscan compatibility checker handed to the operator.
	RegexChecker hyperscan.RegexChecker
	Out          io.Writer
}

// The change the demo makes: the QAT Gen4 node loses its device (the NodeFeatureRule label, Intel's
// label and the allocatable QAT resource), as when the device fails or its driver is unloaded.
const (
	changedNode     = "spr-qat"
	qatGen4Label    = "meshaccel.feature.node.kubernetes.io/qat-gen4"
	intelQATLabel   = "intel.feature.node.kubernetes.io/qat"
	qatCryptoVFs    = corev1.ResourceName("qat.intel.com/cy")
	convergeTimeout = 60 * time.Second
	// systemNamespace is the operator's own namespace, as the Helm chart and kustomize install it.
	systemNamespace = "meshaccel-system"
)

type run struct {
	opts  Options
	out   io.Writer
	start time.Time
	k8s   client.Client
}

func (r *run) step(format string, args ...any) {
	fmt.Fprintf(r.out, "[%6.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

// Run runs the demo until it has shown the change, then stops everything it started.
func Run(ctx context.Context, opts Options) error {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Examples == "" {
		opts.Examples = filepath.Join(localcluster.RepoRoot(), "examples", "cluster.yaml")
	}
	r := &run{opts: opts, out: opts.Out, start: time.Now()}
	fmt.Fprintln(r.out, "meshaccel live demo: the operator against a real kube-apiserver")

	var cfg *rest.Config
	live := opts.Kubeconfig == ""
	if live {
		fmt.Fprintln(r.out, "  The local control plane (kube-apiserver + etcd, no cluster needed) is built from the Go module")
		fmt.Fprintln(r.out, "  proxy on first use — about 10 minutes on 2 cores — and cached in .cache/bin afterwards.")
		r.step("starting kube-apiserver and etcd on loopback; installing the meshaccel, Istio, NFD and Intel device-plugin CRDs")
		cluster, err := localcluster.Start(localcluster.Options{})
		if err != nil {
			return err
		}
		defer func() {
			r.step("stopping the local control plane")
			_ = cluster.Stop()
		}()
		cfg = cluster.Config
		r.step("control plane ready at %s", cfg.Host)
	} else {
		var err error
		cfg, err = clientcmd.BuildConfigFromFlags("", opts.Kubeconfig)
		if err != nil {
			return fmt.Errorf("--kubeconfig %s: %w", opts.Kubeconfig, err)
		}
		r.step("using the cluster at %s", cfg.Host)
	}
	scheme := operator.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return err
	}
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	r.k8s = k8s

	if !live {
		if err := r.installCRD(ctx); err != nil {
			return err
		}
	}
	objs, err := readExamples(opts.Examples, scheme)
	if err != nil {
		return err
	}
	if err := r.createExamples(ctx, objs, live); err != nil {
		return err
	}

	r.step("starting the operator (default proxy %s)", opts.DefaultProxy)
	mgr, err := operator.NewManager(cfg, operator.ManagerOptions{MetricsAddr: "0", ProbeAddr: "0"})
	if err != nil {
		return err
	}
	if err := r.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	rec, err := operator.Setup(mgr, operator.Options{DefaultProxy: opts.DefaultProxy, RegexChecker: opts.RegexChecker, SystemNamespace: systemNamespace})
	if err != nil {
		return err
	}
	mgrCtx, stopOperator := context.WithCancel(ctx)
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	defer func() {
		stopOperator()
		<-mgrDone
	}()

	before, err := r.converge(ctx, rec, nil)
	if err != nil {
		return err
	}
	r.step("operator converged: %d policies reconciled", len(before.policies))
	r.printState(before)

	if !live {
		fmt.Fprintln(r.out, "\n(--kubeconfig: the demo does not change real nodes; the operator keeps running until interrupted)")
		<-ctx.Done()
		return nil
	}

	r.step("node %s loses its QAT device: removing %s and %s, and %s from its allocatable resources", changedNode, qatGen4Label, intelQATLabel, qatCryptoVFs)
	changed := time.Now()
	if err := r.removeQAT(ctx); err != nil {
		return err
	}
	after, err := r.converge(ctx, rec, before)
	if err != nil {
		return err
	}
	r.step("operator converged %s after the node changed", after.at.Sub(changed).Round(time.Millisecond))
	r.printChanges(before, after)
	return nil
}

// readExamples decodes the example cluster strictly.
func readExamples(path string, scheme *runtime.Scheme) ([]client.Object, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var out []client.Object
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil || len(probe) == 0 {
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s document %d: %w", path, i, err)
		}
		cobj, ok := obj.(client.Object)
		if !ok {
			return nil, fmt.Errorf("%s document %d is not an object", path, i)
		}
		out = append(out, cobj)
	}
}

func (r *run) installCRD(ctx context.Context) error {
	raw, err := os.ReadFile(filepath.Join(localcluster.RepoRoot(), "deploy", "crds", "meshaccel.io_accelerationpolicies.yaml"))
	if err != nil {
		return err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(raw, &crd); err != nil {
		return err
	}
	r.step("installing the AccelerationPolicy CRD")
	err = r.k8s.Create(ctx, &crd)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// createExamples creates the example objects, playing the kubelet and the node lifecycle controller
// for nodes (status, no not-ready taint) and the kubelet for pods (Running).
func (r *run) createExamples(ctx context.Context, objs []client.Object, live bool) error {
	counts := map[string]int{}
	namespaces := map[string]bool{}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && !namespaces[ns] {
			namespaces[ns] = true
			err := r.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
		}
	}
	for _, o := range objs {
		kind := fmt.Sprintf("%T", o)
		kind = kind[strings.LastIndex(kind, ".")+1:]
		if kind == "Node" && !live {
			continue
		}
		var status any
		switch t := o.(type) {
		case *corev1.Node:
			status = t.Status.DeepCopy()
		case *corev1.Pod:
			st := t.Status.DeepCopy()
			st.Phase = corev1.PodRunning
			status = st
		}
		if err := r.k8s.Create(ctx, o); err != nil {
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			return fmt.Errorf("creating %s %s: %w", kind, o.GetName(), err)
		}
		counts[kind]++
		switch t := o.(type) {
		case *corev1.Node:
			t.Spec.Taints = nil
			if err := r.k8s.Update(ctx, t); err != nil {
				return err
			}
			t.Status = *status.(*corev1.NodeStatus)
			if t.Status.Allocatable == nil {
				t.Status.Allocatable = corev1.ResourceList{}
			}
			t.Status.Capacity = t.Status.Allocatable
			t.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
			if err := r.k8s.Status().Update(ctx, t); err != nil {
				return err
			}
		case *corev1.Pod:
			t.Status = *status.(*corev1.PodStatus)
			if err := r.k8s.Status().Update(ctx, t); err != nil {
				return err
			}
		}
	}
	var parts []string
	for _, k := range sortedKeys(counts) {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	r.step("created the example cluster from %s: %s", r.opts.Examples, strings.Join(parts, ", "))
	return nil
}

func (r *run) removeQAT(ctx context.Context) error {
	var node corev1.Node
	if err := r.k8s.Get(ctx, client.ObjectKey{Name: changedNode}, &node); err != nil {
		return err
	}
	delete(node.Labels, qatGen4Label)
	delete(node.Labels, intelQATLabel)
	if err := r.k8s.Update(ctx, &node); err != nil {
		return err
	}
	delete(node.Status.Allocatable, qatCryptoVFs)
	delete(node.Status.Capacity, qatCryptoVFs)
	return r.k8s.Status().Update(ctx, &node)
}

// state is what the demo prints: owned objects, the workload fields meshaccel holds, policy status.
type state struct {
	at        time.Time
	objects   []string
	workloads map[string]string // "Kind ns/name" -> YAML of meshaccel's fields
	policies  []v1alpha1.AccelerationPolicy
	digest    string
}

// converge waits until every policy reports on its current generation and the cluster has stopped
// changing, and (when before is set) until it differs from before.
func (r *run) converge(ctx context.Context, rec *operator.Reconciler, before *state) (*state, error) {
	deadline := time.Now().Add(convergeTimeout)
	var last *state
	stableSince := time.Time{}
	for time.Now().Before(deadline) {
		s, err := r.read(ctx)
		if err != nil {
			return nil, err
		}
		ready := rec.Reconciles() > 0 && (before == nil || s.digest != before.digest)
		for _, p := range s.policies {
			if p.Status.ObservedGeneration != p.Generation || len(p.Status.Conditions) == 0 {
				ready = false
			}
		}
		switch {
		case !ready:
			stableSince = time.Time{}
		case last == nil || last.digest != s.digest:
			stableSince = time.Now()
			s.at = stableSince
		default:
			s.at = last.at
			if time.Since(stableSince) > 750*time.Millisecond {
				return s, nil
			}
		}
		last = s
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("the operator did not converge within %s", convergeTimeout)
}

func (r *run) read(ctx context.Context) (*state, error) {
	s := &state{workloads: map[string]string{}}
	var digest strings.Builder
	owned := client.MatchingLabels{operator.LabelManagedBy: operator.ManagedByValue}
	var cms corev1.ConfigMapList
	var efs istionetworkingv1alpha3.EnvoyFilterList
	var wps istioextensionsv1alpha1.WasmPluginList
	if err := r.k8s.List(ctx, &cms, owned); err != nil {
		return nil, err
	}
	for _, o := range cms.Items {
		s.objects = append(s.objects, fmt.Sprintf("ConfigMap\t%s\t%s\t%s", o.Namespace, o.Name, o.Labels[operator.LabelPolicy]))
		digest.WriteString(o.ResourceVersion)
	}
	if err := r.k8s.List(ctx, &efs, owned); err != nil {
		return nil, err
	}
	for _, o := range efs.Items {
		s.objects = append(s.objects, fmt.Sprintf("EnvoyFilter\t%s\t%s\t%s", o.Namespace, o.Name, o.Labels[operator.LabelPolicy]))
		digest.WriteString(o.ResourceVersion)
	}
	if err := r.k8s.List(ctx, &wps, owned); err == nil {
		for _, o := range wps.Items {
			s.objects = append(s.objects, fmt.Sprintf("WasmPlugin\t%s\t%s\t%s", o.Namespace, o.Name, o.Labels[operator.LabelPolicy]))
			digest.WriteString(o.ResourceVersion)
		}
	}
	sort.Strings(s.objects)
	digest.WriteString(strings.Join(s.objects, ","))

	var deployments appsv1.DeploymentList
	if err := r.k8s.List(ctx, &deployments); err != nil {
		return nil, err
	}
	for i := range deployments.Items {
		d := &deployments.Items[i]
		ac, err := appsv1ac.ExtractDeployment(d, operator.FieldManager)
		if err != nil {
			return nil, err
		}
		if err := s.addWorkload("Deployment", d.Namespace, d.Name, ac.Spec, d.Labels[operator.LabelPolicy]); err != nil {
			return nil, err
		}
	}
	var statefulSets appsv1.StatefulSetList
	if err := r.k8s.List(ctx, &statefulSets); err != nil {
		return nil, err
	}
	for i := range statefulSets.Items {
		st := &statefulSets.Items[i]
		ac, err := appsv1ac.ExtractStatefulSet(st, operator.FieldManager)
		if err != nil {
			return nil, err
		}
		if err := s.addWorkload("StatefulSet", st.Namespace, st.Name, ac.Spec, st.Labels[operator.LabelPolicy]); err != nil {
			return nil, err
		}
	}
	for _, k := range sortedKeys(s.workloads) {
		digest.WriteString(k + s.workloads[k])
	}

	var policies v1alpha1.AccelerationPolicyList
	if err := r.k8s.List(ctx, &policies); err != nil {
		return nil, err
	}
	s.policies = policies.Items
	sort.Slice(s.policies, func(i, j int) bool {
		return s.policies[i].Namespace+"/"+s.policies[i].Name < s.policies[j].Namespace+"/"+s.policies[j].Name
	})
	for _, p := range s.policies {
		raw, _ := yaml.Marshal(p.Status.Workloads)
		digest.Write(raw)
	}
	s.digest = digest.String()
	return s, nil
}

func (s *state) addWorkload(kind, ns, name string, spec any, policy string) error {
	if spec == nil || fmt.Sprint(spec) == "<nil>" {
		return nil
	}
	raw, err := yaml.Marshal(map[string]any{"spec": spec})
	if err != nil {
		return err
	}
	s.workloads[fmt.Sprintf("%s %s/%s (policy %s)", kind, ns, name, policy)] = string(raw)
	return nil
}

func (r *run) printState(s *state) {
	fmt.Fprintln(r.out, "\n== Objects meshaccel applied (labelled app.kubernetes.io/managed-by=meshaccel, owned by their policy) ==")
	tw := tabwriter.NewWriter(r.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAMESPACE\tNAME\tPOLICY")
	for _, o := range s.objects {
		fmt.Fprintln(tw, o)
	}
	_ = tw.Flush()

	fmt.Fprintln(r.out, "\n== Workload fields meshaccel owns (server-side apply, field manager \"meshaccel\") ==")
	for _, k := range sortedKeys(s.workloads) {
		fmt.Fprintf(r.out, "%s\n%s", k, indent(s.workloads[k], "    "))
	}

	fmt.Fprintln(r.out, "\n== Policy status ==")
	for _, p := range s.policies {
		r.printPolicy(p)
	}
}

func (r *run) printPolicy(p v1alpha1.AccelerationPolicy) {
	fmt.Fprintf(r.out, "AccelerationPolicy %s/%s: %d of %d workloads accelerated\n", p.Namespace, p.Name, p.Status.AcceleratedWorkloads, p.Status.SelectedWorkloads)
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(r.out, "  %s=%s %s: %s\n", c.Type, c.Status, c.Reason, c.Message)
	}
	tw := tabwriter.NewWriter(r.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  WORKLOAD\tFEATURE\tENABLED\tREASON\tMESSAGE")
	for _, w := range p.Status.Workloads {
		for _, f := range w.Features {
			fmt.Fprintf(tw, "  %s/%s\t%s\t%v\t%s\t%s\n", w.Kind, w.Name, f.Feature, f.Enabled, f.Reason, f.Message)
		}
		for _, pod := range w.MisplacedPods {
			fmt.Fprintf(tw, "  %s/%s\t\t\tMisplacedPod\t%s\n", w.Kind, w.Name, pod)
		}
	}
	_ = tw.Flush()
}

func (r *run) printChanges(before, after *state) {
	fmt.Fprintln(r.out, "\n== What changed ==")
	for _, o := range after.objects {
		if !slices.Contains(before.objects, o) {
			fmt.Fprintf(r.out, "+ applied  %s\n", strings.ReplaceAll(o, "\t", " "))
		}
	}
	for _, o := range before.objects {
		if !slices.Contains(after.objects, o) {
			fmt.Fprintf(r.out, "- deleted  %s\n", strings.ReplaceAll(o, "\t", " "))
		}
	}
	keys := sortedKeys(before.workloads)
	for _, k := range sortedKeys(after.workloads) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if before.workloads[k] == after.workloads[k] {
			continue
		}
		fmt.Fprintf(r.out, "~ %s, fields meshaccel owns:\n", k)
		printLineDiff(r.out, before.workloads[k], after.workloads[k])
	}
	for _, p := range after.policies {
		var old *v1alpha1.AccelerationPolicy
		for i := range before.policies {
			if before.policies[i].UID == p.UID {
				old = &before.policies[i]
			}
		}
		for _, w := range p.Status.Workloads {
			for _, f := range w.Features {
				was := findFeature(old, w.Kind, w.Name, f.Feature)
				if was != nil && was.Enabled == f.Enabled && was.Reason == f.Reason {
					continue
				}
				from := "(new)"
				if was != nil {
					from = fmt.Sprintf("enabled=%v (%s)", was.Enabled, was.Reason)
				}
				fmt.Fprintf(r.out, "~ %s/%s %s/%s %s: %s -> enabled=%v (%s): %s\n", p.Namespace, p.Name, w.Kind, w.Name, f.Feature, from, f.Enabled, f.Reason, f.Message)
			}
		}
	}
	var events eventsv1.EventList
	if err := r.k8s.List(context.Background(), &events); err == nil {
		fmt.Fprintln(r.out, "\n== Events the operator recorded ==")
		sort.Slice(events.Items, func(i, j int) bool {
			return events.Items[i].EventTime.Before(&events.Items[j].EventTime)
		})
		for _, e := range events.Items {
			if e.ReportingController != "meshaccel-operator" {
				continue
			}
			fmt.Fprintf(r.out, "%s %s %s/%s: %s\n", e.Type, e.Reason, e.Regarding.Kind, e.Regarding.Name, e.Note)
		}
	}
}

func findFeature(p *v1alpha1.AccelerationPolicy, kind, name, feature string) *v1alpha1.FeatureStatus {
	if p == nil {
		return nil
	}
	for _, w := range p.Status.Workloads {
		if w.Kind != kind || w.Name != name {
			continue
		}
		for i := range w.Features {
			if w.Features[i].Feature == feature {
				return &w.Features[i]
			}
		}
	}
	return nil
}

// printLineDiff prints the lines only in a as "-" and only in b as "+".
func printLineDiff(out io.Writer, a, b string) {
	al, bl := strings.Split(strings.TrimSpace(a), "\n"), strings.Split(strings.TrimSpace(b), "\n")
	for _, l := range al {
		if l != "" && !slices.Contains(bl, l) {
			fmt.Fprintf(out, "    - %s\n", l)
		}
	}
	for _, l := range bl {
		if l != "" && !slices.Contains(al, l) {
			fmt.Fprintf(out, "    + %s\n", l)
		}
	}
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
